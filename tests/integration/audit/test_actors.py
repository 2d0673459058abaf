"""The audit trail says who did what: the admin's listings and registrations, a user's own
deposits, and demo sign-ups (nobody's key) each carry their actor."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.integration.command_api.conftest import ADMIN, unique

pytestmark = pytest.mark.integration

runner = CliRunner()


@pytest.fixture
def api(command_api_url: str) -> Iterator[httpx.Client]:
    # (synchronous: the CLI runs its own event loop)
    with httpx.Client(base_url=command_api_url, timeout=30) as client:
        yield client


def exported(*scope: str) -> list[dict[str, Any]]:
    """The event records of ``exchange audit export <scope>`` on the test stack's store."""
    env = {"EXCHANGE_DATABASE_URL": os.environ["EXCHANGE_DATABASE_URL"]}
    result = runner.invoke(app, ["audit", "export", *scope, "--profile", "test"], env=env)
    assert result.exit_code == 0, result.stderr
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    return [r for r in records if r["kind"] == "event"]


def test_admin_actions_and_a_users_deposit_show_their_actor(
    api: httpx.Client,
) -> None:
    symbol = unique("A").upper()
    resp = api.post("/v1/instruments", json={"symbol": symbol}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    resp = api.post("/v1/users", json={"username": unique("audit")}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    user_id, key = resp.json()["user_id"], resp.json()["api_key"]
    deposit = {"asset": "USD", "amount": "10.00"}
    resp = api.post("/v1/deposits", json=deposit, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 201, resp.text

    by_type = {r["type"]: r for r in exported("--user", str(user_id))}
    assert by_type["UserRegistered"]["actor"] == "admin"
    assert by_type["FundsDeposited"]["actor"] == str(user_id)
    [listed] = [r for r in exported("--symbol", symbol) if r["type"] == "InstrumentListed"]
    assert listed["actor"] == "admin"
    assert listed["metadata"]["correlation_id"]  # (ties it to the request's log lines)


def test_a_demo_sign_up_is_not_recorded_as_the_admins(api: httpx.Client) -> None:
    resp = api.post("/v1/demo/users", json={})
    assert resp.status_code == 201, resp.text  # (the test stack runs with the dev admin key)

    by_type = {r["type"]: r for r in exported("--user", str(resp.json()["user_id"]))}
    assert by_type["UserRegistered"]["actor"] == "demo"
