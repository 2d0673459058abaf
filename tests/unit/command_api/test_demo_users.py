"""Demo users: created with deposits on a dev or test stack, absent (404) in production."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from command_api.app import create_app
from common.settings import CommandApiSettings, Environment
from domain import streams
from event_store.memory import InMemoryEventStore


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


async def _client(env: Environment, store: InMemoryEventStore) -> AsyncIterator[httpx.AsyncClient]:
    settings = CommandApiSettings(env=env, admin_key="a-real-secret-of-some-length")
    app = create_app(settings, store=store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


@pytest.fixture
async def dev_api(store: InMemoryEventStore) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client("dev", store):
        yield client


@pytest.fixture
async def prod_api(store: InMemoryEventStore) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client("production", store):
        yield client


async def test_a_demo_user_gets_its_key_cash_and_demo_shares(
    dev_api: httpx.AsyncClient, store: InMemoryEventStore
) -> None:
    resp = await dev_api.post("/v1/demo/users", json={})

    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["api_key"].startswith("xk_")
    assert body["deposits"] == {"USD": "100000.00", "DEMO": 1000}
    assert body["username"].startswith("demo-")
    auth = {"Authorization": f"Bearer {body['api_key']}"}
    order = {"symbol": "DEMO", "side": "sell", "type": "limit", "price": "1.00", "quantity": 1000}
    placed = await dev_api.post("/v1/orders", json=order, headers=auth)
    assert placed.status_code == 201, placed.text  # (the shares are there to sell)
    listed = await store.read_stream(streams.instrument("DEMO"))
    assert [e.type for e in listed] == ["InstrumentListed"]


async def test_the_demo_symbol_is_listed_once_for_many_demo_users(
    dev_api: httpx.AsyncClient, store: InMemoryEventStore
) -> None:
    for _ in range(3):
        assert (await dev_api.post("/v1/demo/users")).status_code == 201

    assert len(await store.read_stream(streams.instrument("DEMO"))) == 1


async def test_a_taken_demo_username_is_a_conflict(dev_api: httpx.AsyncClient) -> None:
    first = await dev_api.post("/v1/demo/users", json={"username": "carol"})
    again = await dev_api.post("/v1/demo/users", json={"username": "Carol"})

    assert first.status_code == 201
    assert again.status_code == 409 and again.json()["code"] == "USERNAME_TAKEN"


async def test_in_production_there_are_no_demo_routes(
    prod_api: httpx.AsyncClient,
) -> None:
    created = await prod_api.post("/v1/demo/users", json={})
    offer = await prod_api.get("/v1/demo")

    assert created.status_code == 404 and offer.status_code == 404
    assert created.headers["content-type"].startswith("application/problem+json")
    assert created.json()["code"] == "NOT_FOUND"
