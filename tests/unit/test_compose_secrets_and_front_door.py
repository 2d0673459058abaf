"""compose.yaml defaults no secret, and its nginx is the native stack's, rendered from one place."""

from __future__ import annotations

import re
import secrets
from typing import Any

import orjson
import pytest
import yaml

from cli import nginx
from cli.configs import nginx_conf
from cli.profiles import PROFILES, ROOT
from common.deployment import secret_problems
from common.problems import problem_response
from common.settings import CommandApiSettings, WorkerSettings

COMPOSE_TEXT = (ROOT / "compose.yaml").read_text()
SERVICES: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)["services"]
PYTHON_SERVICES = ("init", "command_api", "query_api", "relay", "matching", "settlement")
SECRETS = ("EXCHANGE_ADMIN_KEY", "EXCHANGE_DB_PASSWORD", "MARIADB_ROOT_PASSWORD")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation (the forms compose.yaml uses); ``KeyError`` where compose
    refuses to start (a ``?`` variable unset or, with ``:?``, empty)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = env.get(name)
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise KeyError(f"{name}: {arg}")
        if op in (":-", "-") and (value is None or (op == ":-" and not value)):
            return str(arg)
        return value or ""

    return INTERPOLATION.sub(one, text)


def test_no_variable_of_compose_yaml_has_a_default_secret() -> None:
    for match in INTERPOLATION.finditer(COMPOSE_TEXT):
        if re.search("KEY|PASSWORD|SECRET|TOKEN", match["name"]):
            assert match["op"] == ":?", f"{match[0]} must be required, not defaulted"
    assert {m["name"] for m in INTERPOLATION.finditer(COMPOSE_TEXT)} >= set(SECRETS)


def test_no_password_is_written_into_compose_yaml() -> None:
    mariadb = SERVICES["mariadb"]["environment"]
    for name in ("MARIADB_PASSWORD", "MARIADB_ROOT_PASSWORD"):
        assert mariadb[name].startswith("${") and ":?" in mariadb[name], name
    for name in PYTHON_SERVICES:
        env = SERVICES[name]["environment"]
        assert env["EXCHANGE_ENV"] == "production", name
        assert "exchange:${EXCHANGE_DB_PASSWORD:?" in env["EXCHANGE_DATABASE_URL"], name
        assert env["EXCHANGE_ADMIN_KEY"].startswith("${EXCHANGE_ADMIN_KEY:?"), name


@pytest.mark.parametrize("missing", SECRETS)
def test_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    env = {name: secrets.token_urlsafe(32) for name in SECRETS if name != missing}
    with pytest.raises(KeyError, match=missing):
        interpolate(COMPOSE_TEXT, env)


def test_compose_with_generated_secrets_passes_every_process_check() -> None:
    env = {name: secrets.token_urlsafe(32) for name in SECRETS}
    services = yaml.safe_load(interpolate(COMPOSE_TEXT, env))["services"]
    api_env = services["command_api"]["environment"]
    api = CommandApiSettings(
        env=api_env["EXCHANGE_ENV"],
        database_url=api_env["EXCHANGE_DATABASE_URL"],
        admin_key=api_env["EXCHANGE_ADMIN_KEY"],
    )
    assert secret_problems(api) == []
    relay_env = services["relay"]["environment"]
    worker = WorkerSettings(env="production", database_url=relay_env["EXCHANGE_DATABASE_URL"])
    assert secret_problems(worker) == []
    assert services["mariadb"]["environment"]["MARIADB_PASSWORD"] == env["EXCHANGE_DB_PASSWORD"]


def test_the_compose_nginx_conf_is_the_rendered_one() -> None:
    rendered = nginx.render(nginx.compose_site())
    assert nginx.COMPOSE_CONF.read_text() == rendered, "run: .venv/bin/python -m cli.nginx"
    mounts = SERVICES["nginx"]["volumes"]
    assert "./deploy/nginx/compose.conf:/etc/nginx/nginx.conf:ro" in mounts
    assert f"./deploy/nginx/docs.html:{nginx.compose_site().docs_page}:ro" in mounts


def test_native_and_compose_nginx_differ_only_in_addresses_and_paths() -> None:
    native = nginx_conf(PROFILES["test"])
    site = nginx.compose_site()
    differing = (site.listen, site.pid, "/usr/share/nginx", "user ", "server ", "error_log")
    for line in nginx.COMPOSE_CONF.read_text().splitlines():
        if not any(part in line for part in (*differing, "worker_", "# Rendered")):
            assert line in native, line


@pytest.mark.parametrize("status", sorted(nginx.NGINX_PROBLEMS))
def test_nginx_problems_have_the_apis_format(status: int) -> None:
    code, title, detail = nginx.NGINX_PROBLEMS[status]
    expected = orjson.loads(problem_response(status, code, detail, title=title).body)
    assert orjson.loads(nginx.problem_body(status, code, title, detail)) == expected
