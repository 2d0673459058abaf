"""HTTP clients for the test stack's command API, directly and through nginx."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from event_store.mariadb import MariaDbEventStore

ADMIN = {"Authorization": f"Bearer {os.environ.get('EXCHANGE_ADMIN_KEY', 'dev-admin-key')}"}


@pytest.fixture(params=["direct", "nginx"])
async def api(
    request: pytest.FixtureRequest, command_api_url: str, nginx_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The command API on :8011 and behind nginx on :8010/api/command."""
    base = command_api_url if request.param == "direct" else f"{nginx_url}/api/command"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield client


@dataclass
class Trader:
    """A registered user with its auth header."""

    user_id: int
    headers: dict[str, str]


def unique(prefix: str) -> str:
    """A name no other test run used (the test database is persistent)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def new_symbol(api: httpx.AsyncClient, **fields: object) -> str:
    """List a fresh instrument and return its symbol."""
    symbol = unique("T").upper()
    resp = await api.post("/v1/instruments", json={"symbol": symbol, **fields}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    return symbol


async def new_trader(api: httpx.AsyncClient, usd: str | None = "1000.00") -> Trader:
    """Register a user, optionally funded with USD."""
    resp = await api.post("/v1/users", json={"username": unique("u")}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    trader = Trader(resp.json()["user_id"], {"Authorization": f"Bearer {resp.json()['api_key']}"})
    if usd is not None:
        resp = await api.post(
            "/v1/deposits", json={"asset": "USD", "amount": usd}, headers=trader.headers
        )
        assert resp.status_code == 201, resp.text
    return trader


def assert_problem(resp: httpx.Response, status: int, code: str) -> None:
    """A problem+json response with ``status`` and ``code``."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["code"] == code and body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()


@pytest.fixture
async def store() -> AsyncIterator[MariaDbEventStore]:
    """The test stack's event store, read directly."""
    store = MariaDbEventStore.from_url(os.environ["EXCHANGE_DATABASE_URL"], pool_size=2)
    yield store
    await store.close()
