"""Orders through the command API become trades and exact balances (matching + settlement)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from domain import streams
from event_store.mariadb import MariaDbEventStore
from event_store.model import RecordedEvent
from tests.integration.workers.conftest import (
    Expect,
    balances,
    eventually,
    funded,
    list_symbol,
    order,
    order_status,
    place,
)
from workers.scheduler import close_sessions

pytestmark = pytest.mark.integration


async def test_crossing_orders_trade_once_and_settle_to_the_minor_unit(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api)
    seller = await funded(api, "0.00", {symbol: 10})
    buyer = await funded(api, "100.00")

    sell = await place(api, seller, symbol, "sell", 4, "10.00")
    buy = await place(api, buyer, symbol, "buy", 4, "10.25")

    assert (await order_status(store, sell, "filled")).filled == 4
    assert (await order_status(store, buy, "filled")).filled == 4
    await balances(store, buyer.user_id, Expect("USD", 6000, 0), Expect(symbol, 4, 0))
    await balances(store, seller.user_id, Expect("USD", 4000, 0), Expect(symbol, 6, 0))
    fills = [e for e in await store.read_stream(streams.order(buy)) if e.type == "OrderFilled"]
    assert [(f.data["price"], f.data["quantity"], f.data["liquidity"]) for f in fills] == [
        (1000, 4, "taker")
    ]


async def test_a_partial_fill_keeps_the_rest_resting_and_held(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api)
    seller = await funded(api, "0.00", {symbol: 3})
    buyer = await funded(api, "100.00")

    buy = await place(api, buyer, symbol, "buy", 5, "10.00")
    await place(api, seller, symbol, "sell", 3, "9.50")

    view = await order_status(store, buy, "partially_filled")
    assert (view.filled, view.remaining) == (3, 2)
    await balances(store, buyer.user_id, Expect("USD", 7000, 2000), Expect(symbol, 3, 0))
    await balances(store, seller.user_id, Expect("USD", 3000, 0), Expect(symbol, 0, 0))


async def test_a_market_buy_spends_what_it_fills_and_releases_the_rest(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api)
    seller = await funded(api, "0.00", {symbol: 5})
    buyer = await funded(api, "100.00")
    await place(api, seller, symbol, "sell", 2, "10.00")
    await place(api, seller, symbol, "sell", 3, "11.00")

    buy = await place(api, buyer, symbol, "buy", 4, tif="IOC")

    view = await order_status(store, buy, "filled")
    assert view.filled == 4
    await balances(store, buyer.user_id, Expect("USD", 10000 - 2000 - 2200, 0))


async def test_an_ioc_remainder_expires_and_its_hold_is_released(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api)
    seller = await funded(api, "0.00", {symbol: 1})
    buyer = await funded(api, "50.00")
    await place(api, seller, symbol, "sell", 1, "10.00")

    buy = await place(api, buyer, symbol, "buy", 3, "10.00", tif="IOC")

    view = await order_status(store, buy, "expired")
    assert (view.filled, view.reason) == (1, "IOC_REMAINDER")
    await balances(store, buyer.user_id, Expect("USD", 4000, 0), Expect(symbol, 1, 0))


async def test_a_fok_that_cannot_fill_whole_expires_untouched(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api)
    seller = await funded(api, "0.00", {symbol: 2})
    buyer = await funded(api, "50.00")
    sell = await place(api, seller, symbol, "sell", 2, "10.00")

    fok = await place(api, buyer, symbol, "buy", 3, "10.00", tif="FOK")

    view = await order_status(store, fok, "expired")
    assert (view.filled, view.reason) == (0, "FOK_NOT_FILLABLE")
    await balances(store, buyer.user_id, Expect("USD", 5000, 0))
    assert (await order(store, sell)).status == "accepted"


async def test_a_post_only_order_that_would_cross_is_rejected_and_released(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api)
    seller = await funded(api, "0.00", {symbol: 2})
    buyer = await funded(api, "50.00")
    await place(api, seller, symbol, "sell", 2, "10.00")

    post = await place(api, buyer, symbol, "buy", 1, "10.00", post_only=True)

    view = await order_status(store, post, "rejected")
    assert view.reason == "POST_ONLY_WOULD_CROSS"
    await balances(store, buyer.user_id, Expect("USD", 5000, 0))


async def test_a_cancel_is_202_then_cancelled_and_releases_the_hold(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api)
    buyer = await funded(api, "50.00")
    buy = await place(api, buyer, symbol, "buy", 2, "10.00")
    await balances(store, buyer.user_id, Expect("USD", 5000, 2000))

    resp = await api.delete(f"/v1/orders/{buy}", headers=buyer.headers)

    assert resp.status_code == 202 and resp.json()["status"] == "cancel_requested"
    assert (await order_status(store, buy, "cancelled")).reason == "USER"
    await balances(store, buyer.user_id, Expect("USD", 5000, 0))
    again = await api.delete(f"/v1/orders/{buy}", headers=buyer.headers)
    assert again.status_code == 409 and again.json()["code"] == "ORDER_NOT_OPEN"


async def test_a_day_order_expires_when_the_session_closes(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api)
    buyer = await funded(api, "50.00")
    day = await place(api, buyer, symbol, "buy", 2, "10.00", tif="DAY")
    placed = await store.read_stream(streams.order(day), limit=1)
    expires_at = int(placed[0].data["expires_at"])

    await close_sessions(store, [symbol], expires_at)

    assert (await order_status(store, day, "expired")).reason == "DAY_END"
    await balances(store, buyer.user_id, Expect("USD", 5000, 0))


async def test_reducing_quantity_keeps_priority_and_a_price_change_loses_it(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api)
    first, second = await funded(api, "100.00"), await funded(api, "100.00")
    seller = await funded(api, "0.00", {symbol: 10})
    a = await place(api, first, symbol, "buy", 5, "10.00")
    b = await place(api, second, symbol, "buy", 5, "10.00")

    reduce = await api.patch(f"/v1/orders/{a}", json={"quantity": 4}, headers=first.headers)
    assert reduce.status_code == 202
    await eventually(lambda: order(store, a), lambda v: v.quantity == 4)
    await place(api, seller, symbol, "sell", 1, "10.00")
    assert (await order_status(store, a, "partially_filled")).filled == 1

    move = await api.patch(f"/v1/orders/{a}", json={"price": "10.00", "quantity": 6},
                           headers=first.headers)  # fmt: skip
    assert move.status_code == 202
    await eventually(lambda: order(store, a), lambda v: v.quantity == 6)
    await place(api, seller, symbol, "sell", 1, "10.00")
    assert (await order_status(store, b, "partially_filled")).filled == 1
    assert (await order(store, a)).filled == 1
    # a's hold: 5,000 - 1,000 spent + 2,000 more for 5 open instead of 3 (never below 5,000)
    await balances(store, first.user_id, Expect("USD", 9000, 6000), Expect(symbol, 1, 0))


async def test_an_amend_down_keeps_its_hold_until_the_order_ends(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api)
    buyer = await funded(api, "100.00")
    buy = await place(api, buyer, symbol, "buy", 5, "10.00")

    resp = await api.patch(f"/v1/orders/{buy}", json={"quantity": 2}, headers=buyer.headers)

    assert resp.status_code == 202
    await eventually(lambda: order(store, buy), lambda v: v.quantity == 2)
    await balances(store, buyer.user_id, Expect("USD", 10000, 5000))
    await api.delete(f"/v1/orders/{buy}", headers=buyer.headers)
    await balances(store, buyer.user_id, Expect("USD", 10000, 0))


async def test_the_opposite_side_rule_refuses_a_second_side(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api)
    trader = await funded(api, "100.00", {symbol: 5})
    await place(api, trader, symbol, "buy", 1, "10.00")

    resp = await api.post(
        "/v1/orders",
        json={"symbol": symbol, "side": "sell", "type": "limit", "price": "11.00",
              "quantity": 1, "time_in_force": "GTC"},
        headers=trader.headers,
    )  # fmt: skip

    assert resp.status_code == 422 and resp.json()["code"] == "OPPOSITE_SIDE_ORDER_OPEN"


@pytest.mark.parametrize(
    ("mode", "maker_status", "taker_status"),
    [
        ("cancel_newest", "accepted", "cancelled"),
        ("cancel_oldest", "cancelled", "accepted"),
        ("cancel_both", "cancelled", "cancelled"),
    ],
)
async def test_self_trade_prevention_never_trades_a_user_with_itself(
    api: httpx.AsyncClient, store: MariaDbEventStore, mode: str, maker_status: str,
    taker_status: str,
) -> None:  # fmt: skip
    symbol = await list_symbol(api, self_trade=mode)
    trader = await funded(api, "100.00", {symbol: 5})
    maker = await place(api, trader, symbol, "sell", 2, "10.00")

    taker = await place(api, trader, symbol, "buy", 2, "10.00")

    assert (await order_status(store, taker, taker_status)).filled == 0
    assert (await order_status(store, maker, maker_status)).filled == 0
    held_usd = 2000 if taker_status == "accepted" else 0
    held_shares = 2 if maker_status == "accepted" else 0
    await balances(
        store, trader.user_id, Expect("USD", 10000, held_usd), Expect(symbol, 5, held_shares)
    )


async def test_decrement_reduces_both_sides_without_a_trade(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api, self_trade="decrement")
    trader = await funded(api, "100.00", {symbol: 5})
    maker = await place(api, trader, symbol, "sell", 3, "10.00")

    taker = await place(api, trader, symbol, "buy", 2, "10.00")

    view = await eventually(lambda: order(store, maker), lambda v: v.remaining == 1)
    assert (view.remaining, view.filled) == (1, 0)
    assert (await order_status(store, taker, "cancelled", "expired")).filled == 0
    assert not [e for e in await store.read_stream(streams.order(maker)) if e.type == "OrderFilled"]


async def test_an_all_or_nothing_batch_trades_whole_or_changes_nothing(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api)
    seller = await funded(api, "0.00", {symbol: 3})
    buyer = await funded(api, "100.00")
    await place(api, seller, symbol, "sell", 3, "10.00")
    legs = [
        {"symbol": symbol, "side": "buy", "type": "limit", "price": "10.00", "quantity": q,
         "time_in_force": "FOK"}
        for q in (2, 2)
    ]  # fmt: skip

    refused = await api.post(
        "/v1/orders/batch", json={"orders": legs, "all_or_nothing": True}, headers=buyer.headers
    )
    assert refused.status_code == 201
    for leg in refused.json()["orders"]:
        assert (await order_status(store, leg["order_id"], "rejected")).filled == 0
    await balances(store, buyer.user_id, Expect("USD", 10000, 0))

    legs[1]["quantity"] = 1
    taken = await api.post(
        "/v1/orders/batch", json={"orders": legs, "all_or_nothing": True}, headers=buyer.headers
    )
    for leg in taken.json()["orders"]:
        assert (await order_status(store, leg["order_id"], "filled")).remaining == 0
    await balances(store, buyer.user_id, Expect("USD", 7000, 0), Expect(symbol, 3, 0))
    # The seller's side settles on its own partition: wait for it like the buyer's.
    await balances(store, seller.user_id, Expect("USD", 3000, 0), Expect(symbol, 0, 0))


async def test_fees_are_charged_to_both_sides_and_collected_in_the_fee_account(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbol = await list_symbol(api, maker_fee_bps=10, taker_fee_bps=20)
    seller = await funded(api, "0.00", {symbol: 10})
    buyer = await funded(api, "200.00")
    await place(api, seller, symbol, "sell", 10, "10.00")

    buy = await place(api, buyer, symbol, "buy", 10, "10.00")

    await order_status(store, buy, "filled")
    await balances(store, buyer.user_id, Expect("USD", 20000 - 10000 - 20, 0))
    await balances(store, seller.user_id, Expect("USD", 10000 - 10, 0), Expect(symbol, 0, 0))
    # The fee account is credited once per settlement batch and symbol (FeesNetted): the two
    # sides come as one credit of 30 or as 10 and 20, as the batches fell; both fills counted.
    collected = await eventually(
        lambda: store.read_streams({streams.account(0): 1}),
        lambda found: (
            sum(_fills_of(e.data) for e in found[streams.account(0)] if _of(e, symbol)) == 2
        ),
    )
    fees = [e.data for e in collected[streams.account(0)] if _of(e, symbol)]
    assert sum(f["amount"] for f in fees) == 10 + 20
    assert {f["asset"] for f in fees} == {"USD"}


def _of(event: RecordedEvent, symbol: str) -> bool:
    return bool(event.data.get("symbol") == symbol)


def _fills_of(data: dict[str, Any]) -> int:
    """Trade sides a fee credit covers (``FeesCollected``: one; ``FeesNetted``: ``fills``)."""
    return int(data.get("fills", 1))
