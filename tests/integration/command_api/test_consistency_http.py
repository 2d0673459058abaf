"""Double spend under concurrency, and idempotency that outlives the API process."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from command_api.app import create_app
from common.settings import CommandApiSettings
from domain import streams
from domain.account import Account, Balance
from domain.events import event_from_dict
from event_store.mariadb import MariaDbEventStore
from tests.integration.command_api.conftest import new_symbol, new_trader, unique

pytestmark = pytest.mark.integration


async def test_fifty_concurrent_buys_never_spend_more_than_the_balance(
    command_api_url: str, store: MariaDbEventStore
) -> None:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=command_api_url, timeout=30, limits=limits) as api:
        symbol = await new_symbol(api)
        trader = await new_trader(api, usd="100.00")
        order = {"symbol": symbol, "side": "buy", "price": "7.00", "quantity": 1}

        responses = await asyncio.gather(
            *(api.post("/v1/orders", json=order, headers=trader.headers) for _ in range(50))
        )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 14 + [422] * 36
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"INSUFFICIENT_FUNDS"}
    account = Account(trader.user_id)
    for event in await store.read_stream(streams.account(trader.user_id)):
        account.apply(event_from_dict(event.type, event.data))
        assert 0 <= account.balance("USD").held <= account.balance("USD").total
    assert account.balance("USD").held == 14 * 700


async def test_an_idempotency_key_is_honoured_by_a_fresh_api_process(command_api_url: str) -> None:
    async with httpx.AsyncClient(base_url=command_api_url, timeout=10) as api:
        symbol = await new_symbol(api)
        trader = await new_trader(api)
        headers = {**trader.headers, "Idempotency-Key": unique("k")}
        order = {"symbol": symbol, "side": "buy", "price": "1.00", "quantity": 1}
        first = await api.post("/v1/orders", json=order, headers=headers)

    fresh = create_app(CommandApiSettings())
    async with (
        fresh.router.lifespan_context(fresh),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=fresh), base_url="http://t") as api,
    ):
        again = await api.post("/v1/orders", json=order, headers=headers)
        other = await api.post("/v1/orders", json={**order, "quantity": 2}, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert other.status_code == 409 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_orders_racing_another_writer_of_the_account_leave_the_api_exact_to_the_cent(
    command_api_url: str, store: MariaDbEventStore
) -> None:
    """Another API process deposits to the account while the stack's takes its orders: the
    stack's appends conflict, its failed decisions are taken back, and afterwards it offers
    exactly what the stream says is available: all of it is accepted, a cent more is not."""
    other = create_app(CommandApiSettings())
    limits = httpx.Limits(max_connections=40)
    async with (
        httpx.AsyncClient(base_url=command_api_url, timeout=30, limits=limits) as api,
        other.router.lifespan_context(other),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://t") as local,
    ):
        symbol = await new_symbol(api)
        trader = await new_trader(api, usd="1000.00")
        order = {"symbol": symbol, "side": "buy", "price": "0.01", "quantity": 7}
        deposit = {"asset": "USD", "amount": "0.03"}
        answers = await asyncio.gather(
            *(api.post("/v1/orders", json=order, headers=trader.headers) for _ in range(40)),
            *(local.post("/v1/deposits", json=deposit, headers=trader.headers) for _ in range(40)),
        )
        account = Account(trader.user_id)
        for event in await store.read_stream(streams.account(trader.user_id)):
            account.apply(event_from_dict(event.type, event.data))
        rest = {**order, "quantity": account.available("USD")}
        all_of_it = await api.post("/v1/orders", json=rest, headers=trader.headers)
        a_cent_more = await api.post(
            "/v1/orders", json=order | {"quantity": 1}, headers=trader.headers
        )

    assert sorted(r.status_code for r in answers) == [201] * 80
    assert account.balance("USD") == Balance(100_000 + 40 * 3, 40 * 7)
    assert all_of_it.status_code == 201, all_of_it.text
    assert a_cent_more.status_code == 422 and a_cent_more.json()["code"] == "INSUFFICIENT_FUNDS"
