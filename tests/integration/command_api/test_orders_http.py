"""Orders, batches, cancels and amends over HTTP against the real store."""

from __future__ import annotations

import httpx
import pytest

from common.settings import CommandApiSettings
from event_store.outbox import partition_of
from tests.integration.command_api.conftest import (
    ADMIN,
    assert_problem,
    new_symbol,
    new_trader,
    unique,
)

pytestmark = pytest.mark.integration


def limit(symbol: str, side: str = "buy", price: str = "10.00", quantity: int = 5,
          **extra: object) -> dict[str, object]:  # fmt: skip
    """A limit order body."""
    return {"symbol": symbol, "side": side, "type": "limit", "price": price,
            "quantity": quantity, "time_in_force": "GTC", **extra}  # fmt: skip


async def test_an_order_is_accepted_with_its_position(api: httpx.AsyncClient) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api)

    resp = await api.post("/v1/orders", json=limit(symbol), headers=trader.headers)

    body = resp.json()
    assert resp.status_code == 201
    assert body["status"] == "accepted" and body["client_order_id"] is None
    assert isinstance(body["order_id"], int) and isinstance(body["position"], int)


async def test_resending_a_client_order_id_returns_the_original_with_200(
    api: httpx.AsyncClient,
) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api)
    order = limit(symbol, client_order_id=unique("c"))

    first = await api.post("/v1/orders", json=order, headers=trader.headers)
    again = await api.post("/v1/orders", json=order, headers=trader.headers)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"price": "10.001"}, "INVALID_PRICE"),
        ({"price": 10.5}, "VALIDATION_ERROR"),
        ({"quantity": 0}, "INVALID_QUANTITY"),
        ({"quantity": -3}, "INVALID_QUANTITY"),
        ({"quantity": 2.5}, "VALIDATION_ERROR"),
        ({"quantity": 100_000}, "INSUFFICIENT_FUNDS"),
        ({"symbol": "NOSUCHSYM"}, "UNKNOWN_SYMBOL"),
        ({"type": "market", "price": None, "time_in_force": "GTC"}, "INVALID_TIME_IN_FORCE"),
        ({"color": "red"}, "VALIDATION_ERROR"),
    ],
)
async def test_an_order_the_api_can_check_is_422(
    api: httpx.AsyncClient, changes: dict[str, object], code: str
) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api)

    resp = await api.post("/v1/orders", json={**limit(symbol), **changes}, headers=trader.headers)

    assert_problem(resp, 422, code)


async def test_a_quantity_off_the_lot_is_422(api: httpx.AsyncClient) -> None:
    symbol = await new_symbol(api, lot_size=10)
    trader = await new_trader(api)

    resp = await api.post("/v1/orders", json=limit(symbol, quantity=15), headers=trader.headers)

    assert_problem(resp, 422, "INVALID_QUANTITY")


async def test_a_sell_without_shares_and_an_opposite_side_are_422(api: httpx.AsyncClient) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api)
    no_shares = await api.post("/v1/orders", json=limit(symbol, "sell"), headers=trader.headers)
    await api.post("/v1/deposits", json={"asset": symbol, "amount": 5}, headers=trader.headers)
    await api.post("/v1/orders", json=limit(symbol), headers=trader.headers)

    opposite = await api.post("/v1/orders", json=limit(symbol, "sell"), headers=trader.headers)

    assert_problem(no_shares, 422, "INSUFFICIENT_HOLDINGS")
    assert_problem(opposite, 422, "OPPOSITE_SIDE_ORDER_OPEN")


async def test_orders_need_a_users_key(api: httpx.AsyncClient) -> None:
    symbol = await new_symbol(api)

    anonymous = await api.post("/v1/orders", json=limit(symbol))
    admin = await api.post("/v1/orders", json=limit(symbol), headers=ADMIN)

    assert_problem(anonymous, 401, "UNAUTHORIZED")
    assert_problem(admin, 403, "FORBIDDEN")


async def test_a_batch_is_accepted_whole_or_not_at_all(api: httpx.AsyncClient) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api, usd="30.00")
    legs = [limit(symbol, price="10.00", quantity=1)] * 3

    accepted = await api.post("/v1/orders/batch", json={"orders": legs, "all_or_nothing": True},
                              headers=trader.headers)  # fmt: skip
    refused = await api.post("/v1/orders/batch", json={"orders": legs[:1], "all_or_nothing": False},
                             headers=trader.headers)  # fmt: skip
    empty = await api.post("/v1/orders/batch", json={"orders": [], "all_or_nothing": True},
                           headers=trader.headers)  # fmt: skip

    assert accepted.status_code == 201, accepted.text
    assert len(accepted.json()["orders"]) == 3 and isinstance(accepted.json()["batch_id"], int)
    assert_problem(refused, 422, "INSUFFICIENT_FUNDS")
    assert_problem(empty, 422, "EMPTY_BATCH")


async def test_a_batch_across_engine_shards_is_refused_and_appends_nothing(
    api: httpx.AsyncClient,
) -> None:
    partitions = CommandApiSettings().orders_partitions  # (the test stack's, from its env)
    first = await new_symbol(api)
    other = await new_symbol(api)
    while _shard(other, partitions) == _shard(first, partitions):
        other = await new_symbol(api)
    trader = await new_trader(api, usd="30.00")
    legs = [limit(first, price="1.00", quantity=1), limit(other, price="1.00", quantity=1)]

    refused = await api.post("/v1/orders/batch", json={"orders": legs}, headers=trader.headers)
    everything = await api.post("/v1/withdrawals", json={"asset": "USD", "amount": "30.00"},
                                headers=trader.headers)  # fmt: skip

    assert_problem(refused, 422, "BATCH_SPANS_SHARDS")
    assert everything.status_code == 201, everything.text  # nothing was held


def _shard(symbol: str, partitions: int) -> int:
    return partition_of(symbol.encode(), partitions)


async def test_the_owner_cancels_an_open_order_once(api: httpx.AsyncClient) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api)
    other = await new_trader(api)
    order_id = (await api.post("/v1/orders", json=limit(symbol), headers=trader.headers)).json()[
        "order_id"
    ]

    foreign = await api.delete(f"/v1/orders/{order_id}", headers=other.headers)
    unknown = await api.delete("/v1/orders/4", headers=trader.headers)
    cancel = await api.delete(f"/v1/orders/{order_id}", headers=trader.headers)
    again = await api.delete(f"/v1/orders/{order_id}", headers=trader.headers)

    assert_problem(foreign, 404, "NOT_FOUND")
    assert_problem(unknown, 404, "NOT_FOUND")
    assert cancel.status_code == 202 and cancel.json()["status"] == "cancel_requested"
    if again.status_code == 202:  # the engine has not cancelled it yet: the same request
        assert again.json() == cancel.json()
    else:  # the matching worker already cancelled it
        assert_problem(again, 409, "ORDER_NOT_OPEN")


async def test_the_owner_amends_an_open_order(api: httpx.AsyncClient) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api, usd="100.00")
    order_id = (await api.post("/v1/orders", json=limit(symbol), headers=trader.headers)).json()[
        "order_id"
    ]

    reduce = await api.patch(f"/v1/orders/{order_id}", json={"quantity": 3},
                             headers=trader.headers)  # fmt: skip
    off_tick = await api.patch(f"/v1/orders/{order_id}", json={"price": "1.001"},
                               headers=trader.headers)  # fmt: skip
    too_big = await api.patch(f"/v1/orders/{order_id}", json={"price": "99.00"},
                              headers=trader.headers)  # fmt: skip

    assert reduce.status_code == 202 and reduce.json()["status"] == "amend_requested"
    assert_problem(off_tick, 422, "INVALID_PRICE")
    assert_problem(too_big, 422, "INSUFFICIENT_FUNDS")


async def test_an_idempotency_key_replays_the_first_response(api: httpx.AsyncClient) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api)
    headers = {**trader.headers, "Idempotency-Key": unique("k")}

    first = await api.post("/v1/orders", json=limit(symbol), headers=headers)
    again = await api.post("/v1/orders", json=limit(symbol), headers=headers)
    other = await api.post("/v1/orders", json=limit(symbol, quantity=6), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert_problem(other, 409, "IDEMPOTENCY_KEY_REUSED")
