"""``POST /v1/orders/batch/cancel``: a trader pulls several orders in one request."""

from __future__ import annotations

import httpx
import pytest

from domain import streams
from event_store.mariadb import MariaDbEventStore
from tests.integration.command_api.conftest import (
    assert_problem,
    new_symbol,
    new_trader,
    unique,
)
from tests.integration.command_api.test_orders_http import limit

pytestmark = pytest.mark.integration


async def _place(api: httpx.AsyncClient, headers: dict[str, str], symbol: str) -> int:
    placed = await api.post("/v1/orders", json=limit(symbol), headers=headers)
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
