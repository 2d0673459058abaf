"""Trading through the running test stack: the command API in, the workers' events out.

The test stack runs the relay, the matching worker, settlement and the scheduler under its
supervisor; these helpers place orders over HTTP and read the outcome from the event store
(the query API's projections are tested on their own).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import orjson
import pytest

from common.settings import InfraSettings
from domain import streams
from domain.account import Account, Balance
from domain.folds import OrderView, fold_account, fold_order
from event_store.errors import EventStoreUnavailable
from event_store.mariadb import MariaDbEventStore
from tests.integration.command_api.conftest import ADMIN, Trader, new_trader, unique
from tests.integration.projections.kafka_feed import delete_topic, new_topic

DRAIN_TIMEOUT_S = 30.0
TOPIC_PARTITIONS = 2
"""Partitions of the :func:`topic` fixture's topic."""


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    """A fresh topic of its own (``TOPIC_PARTITIONS`` partitions) for a consumer loop under
    test, deleted afterwards."""
    bootstrap = InfraSettings().kafka_bootstrap
    name = await new_topic(bootstrap, TOPIC_PARTITIONS)
    yield name
    await delete_topic(bootstrap, name)


def message(position: int) -> bytes:
    """A relayed event at ``position``, as the relay writes it (for :func:`topic`)."""
    relayed = {
        "position": position, "stream_id": f"s-{position}", "stream_version": 1,
        "event_id": str(uuid.uuid4()), "type": "Tick", "schema_version": 1,
        "recorded_at": "2026-12-02T08:00:00.000000Z", "data": {}, "metadata": {},
    }  # fmt: skip
    return orjson.dumps(relayed)


@pytest.fixture
async def api(command_api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The test stack's command API."""
    async with httpx.AsyncClient(base_url=command_api_url, timeout=15) as client:
        yield client


@pytest.fixture
async def store() -> AsyncIterator[MariaDbEventStore]:
    """The test stack's event store."""
    opened = MariaDbEventStore.from_url(os.environ["EXCHANGE_DATABASE_URL"])
    yield opened
    await opened.close()


async def list_symbol(api: httpx.AsyncClient, **fields: object) -> str:
    """A fresh instrument (tick 0.01, lot 1 unless given)."""
    symbol = unique("W").upper()
    body = {"symbol": symbol, "tick_size": "0.01", "lot_size": 1, **fields}
    resp = await api.post("/v1/instruments", json=body, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    return symbol


async def funded(api: httpx.AsyncClient, usd: str, shares: dict[str, int] | None = None) -> Trader:
    """A new user with USD and shares deposited."""
    trader = await new_trader(api, None if usd == "0.00" else usd)
    for symbol, amount in (shares or {}).items():
        resp = await api.post(
            "/v1/deposits", json={"asset": symbol, "amount": amount}, headers=trader.headers
        )
        assert resp.status_code == 201, resp.text
    return trader


async def place(
    api: httpx.AsyncClient, trader: Trader, symbol: str, side: str, quantity: int,
    price: str | None = None, tif: str = "GTC", **extra: object,
) -> int:  # fmt: skip
    """Place an order (limit when ``price`` is given, else market); its id."""
    body: dict[str, object] = {
        "symbol": symbol, "side": side, "quantity": quantity, "time_in_force": tif,
        "type": "limit" if price is not None else "market", **extra,
    }  # fmt: skip
    if price is not None:
        body["price"] = price
    resp = await api.post("/v1/orders", json=body, headers=trader.headers)
    assert resp.status_code == 201, resp.text
    order_id: int = resp.json()["order_id"]
    return order_id


async def eventually[T](
    read: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    within_s: float = DRAIN_TIMEOUT_S,
) -> T:
    """Poll ``read()`` until ``done`` holds for its value; the last value otherwise.

    A store that is unavailable for a moment (a restarted MariaDB) is polled again.
    """
    deadline = time.monotonic() + within_s
    while True:
        try:
            value = await read()
        except EventStoreUnavailable:
            if time.monotonic() >= deadline:
                raise
        else:
            if done(value) or time.monotonic() >= deadline:
                return value
        await asyncio.sleep(0.1)


async def order(store: MariaDbEventStore, order_id: int) -> OrderView:
    """The order as its stream tells it now."""
    view = fold_order(await store.read_stream(streams.order(order_id)))
    assert view is not None, f"order {order_id} has no placement"
    return view


async def order_status(store: MariaDbEventStore, order_id: int, *statuses: str) -> OrderView:
    """The order once it reaches one of ``statuses`` (fails after the drain timeout)."""
    view = await eventually(lambda: order(store, order_id), lambda v: v.status in statuses)
    assert view.status in statuses, f"order {order_id} is {view.status}, not {statuses}"
    return view


async def account(store: MariaDbEventStore, user_id: int) -> Account:
    """The account as its stream tells it now."""
    folded = Account(user_id)
    fold_account(folded, await store.read_stream(streams.account(user_id)))
    return folded


@dataclass(frozen=True)
class Expect:
    """A balance to wait for: ``(total, held)`` of an asset in minor units or shares."""

    asset: str
    total: int
    held: int


async def balances(store: MariaDbEventStore, user_id: int, *expected: Expect) -> Account:
    """The account once every expected balance holds (fails with the last state otherwise)."""

    def matches(folded: Account) -> bool:
        return all(folded.balance(e.asset) == Balance(e.total, e.held) for e in expected)

    folded = await eventually(lambda: account(store, user_id), matches)
    for e in expected:
        assert folded.balance(e.asset) == Balance(e.total, e.held), (e, folded.balances)
    return folded
