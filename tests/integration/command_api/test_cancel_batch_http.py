"""``POST /v1/orders/batch/cancel``: a trader pulls several orders in one request."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from domain import streams
from event_store.mariadb import MariaDbEventStore
from tests.integration.command_api.conftest import (
    Trader,
    assert_problem,
    new_symbol,
    new_trader,
    unique,
)
from tests.integration.command_api.test_orders_http import limit

pytestmark = pytest.mark.integration


async def _place(
    api: httpx.AsyncClient,
    headers: dict[str, str],
    symbol: str,
    side: str = "buy",
    quantity: int = 5,
) -> int:
    order = limit(symbol, side, quantity=quantity)
    placed = await api.post("/v1/orders", json=order, headers=headers)
    assert placed.status_code == 201, placed.text
    return int(placed.json()["order_id"])


async def _cancel_requests(store: MariaDbEventStore, order_id: int) -> int:
    events = await store.read_stream(streams.order(order_id))
    return sum(event.type == "CancelRequested" for event in events)


async def test_each_open_order_of_the_caller_gets_one_cancel_request(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await new_symbol(api)
    trader, other = await new_trader(api), await new_trader(api)
    mine = [await _place(api, trader.headers, symbol) for _ in range(2)]
    foreign = await _place(api, other.headers, symbol)

    ids = [mine[0], foreign, mine[1], 4, mine[0]]
    pulled = await api.post("/v1/orders/batch/cancel", json={"order_ids": ids},
                            headers=trader.headers)  # fmt: skip

    assert pulled.status_code == 202, pulled.text
    assert pulled.json()["orders"] == [
        {"order_id": mine[0], "status": "cancel_requested"},
        {"order_id": foreign, "status": "not_found"},
        {"order_id": mine[1], "status": "cancel_requested"},
        {"order_id": 4, "status": "not_found"},
    ]
    assert [await _cancel_requests(store, i) for i in (*mine, foreign)] == [1, 1, 0]


async def test_a_batch_cancel_with_nothing_open_is_409_and_appends_nothing(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await new_symbol(api)
    trader, other = await new_trader(api), await new_trader(api)
    foreign = await _place(api, other.headers, symbol)

    refused = await api.post("/v1/orders/batch/cancel", json={"order_ids": [foreign, 4]},
                             headers=trader.headers)  # fmt: skip

    assert_problem(refused, 409, "ORDER_NOT_OPEN")
    assert await _cancel_requests(store, foreign) == 0


async def test_a_batch_cancel_resent_with_its_key_replays_the_first_answer(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api)
    order_id = await _place(api, trader.headers, symbol)
    headers = {**trader.headers, "Idempotency-Key": unique("k")}
    body = {"order_ids": [order_id]}

    first = await api.post("/v1/orders/batch/cancel", json=body, headers=headers)
    again = await api.post("/v1/orders/batch/cancel", json=body, headers=headers)

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert await _cancel_requests(store, order_id) == 1


async def test_a_batch_cancel_needs_ids(api: httpx.AsyncClient) -> None:
    trader = await new_trader(api)

    empty = await api.post("/v1/orders/batch/cancel", json={"order_ids": []},
                           headers=trader.headers)  # fmt: skip

    assert empty.status_code == 422


async def _filled(store: MariaDbEventStore, order_id: int) -> list[str]:
    """The order's event types once the engine filled it (some of it), waiting up to 20 s."""
    for _ in range(200):
        types = [event.type for event in await store.read_stream(streams.order(order_id))]
        if "OrderFilled" in types:
            return types
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {order_id} was not filled")


async def _crossed(api: httpx.AsyncClient, bought: int) -> tuple[Trader, int]:
    """A seller's resting order of 5 on a fresh symbol, ``bought`` of which another trader's
    buy takes: the engine writes to the sell order's stream after the API placed it."""
    symbol = await new_symbol(api)
    seller, buyer = await new_trader(api), await new_trader(api)
    shares = {"asset": symbol, "amount": 5}
    assert (await api.post("/v1/deposits", json=shares, headers=seller.headers)).status_code == 201
    order_id = await _place(api, seller.headers, symbol, side="sell")
    await _place(api, buyer.headers, symbol, quantity=bought)
    return seller, order_id


async def test_a_batch_cancel_of_an_order_the_engine_filled_appends_nothing(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    seller, order_id = await _crossed(api, 5)
    assert await _filled(store, order_id) == ["OrderPlaced", "OrderAccepted", "OrderFilled"]

    refused = await api.post("/v1/orders/batch/cancel", json={"order_ids": [order_id]},
                             headers=seller.headers)  # fmt: skip

    assert_problem(refused, 409, "ORDER_NOT_OPEN")
    assert await _cancel_requests(store, order_id) == 0


async def test_a_partly_filled_order_is_cancelled_after_its_fill(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    seller, order_id = await _crossed(api, 2)
    assert await _filled(store, order_id) == ["OrderPlaced", "OrderAccepted", "OrderFilled"]

    pulled = await api.post("/v1/orders/batch/cancel", json={"order_ids": [order_id]},
                            headers=seller.headers)  # fmt: skip

    assert pulled.status_code == 202, pulled.text
    assert pulled.json()["orders"] == [{"order_id": order_id, "status": "cancel_requested"}]
    events = await store.read_stream(streams.order(order_id))
    assert [(e.type, e.stream_version) for e in events[:4]] == [
        ("OrderPlaced", 1), ("OrderAccepted", 2), ("OrderFilled", 3),
        ("CancelRequested", 4)]  # fmt: skip


async def test_an_accepted_order_is_cancelled_after_its_acceptance(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api)
    order_id = await _place(api, trader.headers, symbol)
    for _ in range(200):
        if len(await store.read_stream(streams.order(order_id))) > 1:
            break
        await asyncio.sleep(0.1)

    pulled = await api.post("/v1/orders/batch/cancel", json={"order_ids": [order_id]},
                            headers=trader.headers)  # fmt: skip

    assert pulled.status_code == 202, pulled.text
    events = await store.read_stream(streams.order(order_id))
    assert [(e.type, e.stream_version) for e in events[:3]] == [
        ("OrderPlaced", 1), ("OrderAccepted", 2), ("CancelRequested", 3)]  # fmt: skip
