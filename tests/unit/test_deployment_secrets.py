"""Outside the local stacks (``EXCHANGE_ENV=production``) no process starts on a known secret."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from cli.profiles import PROFILES, ROOT
from common.deployment import secret_problems
from common.settings import CommandApiSettings, QueryApiSettings, RelaySettings, WorkerSettings

STRONG = secrets.token_urlsafe(32)
# Nothing listens on port 1: a process that skipped the check would hang retrying, not exit.
DEFAULT_DB = "mysql+asyncmy://exchange:exchange@127.0.0.1:1/exchange"
NO_PASSWORD_DB = "mysql+asyncmy://exchange@127.0.0.1:1/exchange"
STRONG_DB = f"mysql+asyncmy://exchange:{STRONG}@127.0.0.1:1/exchange"


def test_the_local_stacks_run_with_their_dev_secrets() -> None:
    for env in ("dev", "test"):
        assert secret_problems(CommandApiSettings(env=env, database_url=DEFAULT_DB)) == []


def test_a_deployment_names_every_default_secret() -> None:
    problems = secret_problems(CommandApiSettings(env="production", database_url=DEFAULT_DB))
    assert len(problems) == 2
    assert "EXCHANGE_DATABASE_URL" in problems[0] and "'exchange'" in problems[0]
    assert "EXCHANGE_ADMIN_KEY" in problems[1] and "'dev-admin-key'" in problems[1]


@pytest.mark.parametrize(
    ("admin_key", "reason"),
    [("", "missing"), ("changeme", "well-known"), ("short-but-new", "shorter than 16")],
)
def test_a_deployment_refuses_a_missing_known_or_short_admin_key(
    admin_key: str, reason: str
) -> None:
    settings = QueryApiSettings(env="production", database_url=STRONG_DB, admin_key=admin_key)
    [problem] = secret_problems(settings)
    assert problem.startswith("EXCHANGE_ADMIN_KEY") and reason in problem


def test_a_deployment_refuses_a_database_url_without_a_password() -> None:
    [problem] = secret_problems(RelaySettings(env="production", database_url=NO_PASSWORD_DB))
    assert "EXCHANGE_DATABASE_URL" in problem and "missing" in problem


def test_a_deployment_with_strong_secrets_passes() -> None:
    api = CommandApiSettings(env="production", database_url=STRONG_DB, admin_key=STRONG)
    assert secret_problems(api) == []
    assert secret_problems(WorkerSettings(env="production", database_url=STRONG_DB)) == []


def test_the_native_stacks_declare_themselves_local() -> None:
    assert {p.service_env()["EXCHANGE_ENV"] for p in PROFILES.values()} == {"dev", "test"}


def _start(module: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env={**clean, "EXCHANGE_PORT": "0", "EXCHANGE_OPS_PORT": "0", **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize(
    ("module", "env", "named"),
    [
        (
            "command_api",
            {"EXCHANGE_DATABASE_URL": STRONG_DB},  # the admin key left at its default
            "EXCHANGE_ADMIN_KEY",
        ),
        (
            "query_api",
            {"EXCHANGE_DATABASE_URL": STRONG_DB, "EXCHANGE_ADMIN_KEY": ""},
            "EXCHANGE_ADMIN_KEY is missing",
        ),
        ("workers.relay", {"EXCHANGE_DATABASE_URL": DEFAULT_DB}, "EXCHANGE_DATABASE_URL"),
        ("workers.settlement", {"EXCHANGE_DATABASE_URL": NO_PASSWORD_DB}, "EXCHANGE_DATABASE_URL"),
    ],
)
def test_a_deployment_process_with_a_default_or_missing_secret_exits_naming_it(
    module: str, env: dict[str, str], named: str
) -> None:
    done = _start(module, EXCHANGE_ENV="production", **env)
    assert done.returncode != 0
    assert "refusing to start with EXCHANGE_ENV=production" in done.stderr, done.stderr
    assert named in done.stderr, done.stderr
