"""The pure folds: stored events in, net Redis changes out (no Redis involved)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from domain.instrument import Instrument
from projections.accounts import AccountsFold
from projections.base import Cache
from projections.changes import Changes
from projections.keys import Space
from projections.market import MarketFold
from projections.orders import OrdersFold
from projections.records import (
    decode_ledger,
    decode_lifecycle,
    decode_order,
    encode_order,
    lifecycle_entry,
    load_order,
)
from projections.simulation import Exchange, SimEvent

SPACE = Space("t:p1")


def _fold(fold: Any, events: list[SimEvent], cache: Cache | None = None) -> Changes:
    out = Changes()
    fold.fold(events, SPACE, cache if cache is not None else {}, out)
    return out


def _cancelled_order() -> tuple[int, list[SimEvent]]:
    """A buy placed and cancelled by its owner: its id and its order stream's events."""
    ex = _exchange()
    order_id = ex.place(1, "ACME", "buy", 30, 10125)
    assert order_id is not None
    ex.cancel(1, "ACME", order_id)
    return order_id, [e for e in ex.events if e.stream_id == f"order-{order_id}"]


def _exchange() -> Exchange:
    ex = Exchange()
    ex.list_instrument(Instrument.create("ACME", "0.01", 1, "cancel_newest", 0, 0))
    for user in (1, 2):
        ex.deposit(user, "USD", 1_000_000)
        ex.deposit(user, "ACME", 1_000)
    return ex


def test_a_resting_limit_order_adds_its_quantity_at_its_level_and_in_time_priority() -> None:
    ex = _exchange()
    order_id = ex.place(1, "ACME", "buy", 30, 10125)
    accepted = [e for e in ex.events if e.type == "OrderAccepted"]

    out = _fold(MarketFold(), accepted)

    bids = (SPACE.levels("ACME", "b"), SPACE.level_qty("ACME", "b"), "ACME", "b")
    assert out.levels == {bids: {10125: 30}}
    level = SPACE.level_orders("ACME", "b", 10125)
    assert out.zsets[level] == {str(order_id): accepted[0].position}


def test_a_taker_fill_takes_quantity_off_its_own_limit_level_not_the_fill_price() -> None:
    ex = _exchange()
    ex.place(2, "ACME", "sell", 10, 10000)
    buyer = ex.place(1, "ACME", "buy", 30, 10125)
    events = [e for e in ex.events if e.stream_id.startswith("order-")]

    out = _fold(MarketFold(), events)

    bids = (SPACE.levels("ACME", "b"), SPACE.level_qty("ACME", "b"), "ACME", "b")
    asks = (SPACE.levels("ACME", "a"), SPACE.level_qty("ACME", "a"), "ACME", "a")
    assert out.levels[bids][10125] == 20  # 30 accepted, 10 filled as taker
    assert out.levels[asks][10000] == 0  # the maker is gone
    assert buyer is not None
    assert [t[2] for t in out.trades] == [1]


def test_ioc_and_market_orders_never_show_in_the_book() -> None:
    ex = _exchange()
    ex.place(1, "ACME", "buy", 5, 10000, "IOC")
    ex.place(1, "ACME", "buy", 5, None)

    out = _fold(MarketFold(), [e for e in ex.events if e.stream_id.startswith("order-")])

    assert not any(any(prices.values()) for prices in out.levels.values())
    assert not out.docs or all(v is None for v in out.docs.values())


def test_candle_open_and_close_follow_trade_ids_whatever_the_arrival_order() -> None:
    first, second = Changes(), Changes()
    slot = ("idx", "pre:", 60)
    for trade_id, price in ((3, 101), (1, 99), (2, 105)):
        first.candle(slot, trade_id, price, 1)
    for trade_id, price in ((2, 105), (3, 101), (1, 99)):
        second.candle(slot, trade_id, price, 1)

    assert first.candles == second.candles
    candle = first.candles[slot]
    shown = (candle.open, candle.close, candle.high, candle.low, candle.volume)
    assert shown == (99, 101, 105, 99, 3)


def test_an_order_moves_between_status_indexes_once_per_batch() -> None:
    ex = _exchange()
    ex.place(2, "ACME", "sell", 10, 10000)
    buyer = ex.place(1, "ACME", "buy", 30, 10125)
    assert buyer is not None
    events = [e for e in ex.events if e.stream_id == f"order-{buyer}"]

    cache: Cache = {}
    out = _fold(OrdersFold(), events, cache)

    state = decode_order(out.docs[SPACE.order(buyer)] or b"")
    assert (state["status"], state["filled"], state["remaining"]) == ("partially_filled", 10, 20)
    assert out.zsets[SPACE.user_orders(1, "partially_filled")] == {str(buyer): buyer}
    assert SPACE.user_orders(1, "accepted") not in out.zsets  # never written: net change
    assert len(state["lifecycle"]) == len(events)
    assert not out.lists  # (the lifecycle is in the document)


def test_a_cancelled_order_closes_with_its_reason_and_leaves_the_cache() -> None:
    order_id, events = _cancelled_order()

    out = _fold(OrdersFold(), events)

    state = decode_order(out.docs[SPACE.order(order_id)] or b"")
    assert (state["status"], state["reason"], state["remaining"]) == ("cancelled", "USER", 0)
    assert SPACE.order(order_id) in out.evict
    assert out.zsets[SPACE.user_orders(1, "cancelled")] == {str(order_id): order_id}
    assert SPACE.user_orders(1, "accepted") not in out.zsets


def test_an_order_keeps_the_cause_of_its_latest_engine_event_and_each_entry_its_own() -> None:
    order_id, stream = _cancelled_order()
    causes = {"OrderAccepted": "placed-id", "OrderCancelled": "cancel-id"}  # (the engine's)
    events = [replace(e, metadata={"causation_id": causes[e.type]}) if e.type in causes else e
              for e in stream]  # fmt: skip

    out = _fold(OrdersFold(), events)

    state = decode_order(out.docs[SPACE.order(order_id)] or b"")
    lifecycle = [lifecycle_entry(e, state) for e in state["lifecycle"]]
    assert state["caused_by"] == "cancel-id"
    assert [(e["type"], e["causation_id"]) for e in lifecycle] == [
        ("OrderPlaced", None), ("OrderAccepted", "placed-id"),
        ("CancelRequested", None), ("OrderCancelled", "cancel-id"),
    ]  # fmt: skip


def test_account_balances_and_ledger_follow_deposits_holds_and_trades() -> None:
    ex = _exchange()
    ex.place(2, "ACME", "sell", 10, 10000)
    ex.place(1, "ACME", "buy", 10, 10000)
    events = [e for e in ex.events if e.stream_id == "account-1"]

    cache: Cache = {}
    out = _fold(AccountsFold(), events, cache)

    state = orjson.loads(out.docs[SPACE.account(1)] or b"")
    assert state["balances"] == {"USD": [1_000_000 - 100_000, 0], "ACME": [1_010, 0]}
    entries = [decode_ledger(m) for m in out.zsets[SPACE.ledger(1)]]
    assert [(e["kind"], e["asset"], e["delta"], e["balance_after"]) for e in entries] == [
        ("deposit", "USD", 1_000_000, 1_000_000),
        ("deposit", "ACME", 1_000, 1_000),
        ("trade", "USD", -100_000, 900_000),
        ("trade", "ACME", 10, 1_010),
    ]


def test_a_batch_s_one_reservation_event_holds_each_leg_s_amount() -> None:
    holds = [["USD", 30_000, 7, "ACME", "buy"], ["USD", 1_250, 8, "ACME", "buy"]]
    data = {"user_id": 1, "batch_id": 9, "holds": holds, "at": 5}
    events = [SimEvent(1, "account-1", 1, "FundsDeposited", {**_IN, "user_id": 1})]
    events.append(SimEvent(2, "account-1", 2, "BatchFundsReserved", data))

    out = _fold(AccountsFold(), events)

    state = orjson.loads(out.docs[SPACE.account(1)] or b"")
    assert state["balances"] == {"USD": [1_000_000, 31_250]} and state["position"] == 2
    assert [decode_ledger(m)["kind"] for m in out.zsets[SPACE.ledger(1)]] == ["deposit"]


_IN = {"asset": "USD", "amount": 1_000_000, "at": 1}


def test_an_order_stored_before_its_lifecycle_moved_into_its_document_keeps_its_list() -> None:
    order_id, stream = _cancelled_order()
    placed = _fold(OrdersFold(), stream[:2])  # (placement and acceptance)
    state = decode_order(placed.docs[SPACE.order(order_id)] or b"")
    listed = [orjson.dumps(e) for e in state["lifecycle"]]
    state["lifecycle"] = None  # stored as fields only, its entries in ``oe:<order_id>``
    cache: Cache = {SPACE.order(order_id): load_order(encode_order(state))}

    out = _fold(OrdersFold(), stream[2:], cache)

    after = decode_order(out.docs[SPACE.order(order_id)] or b"")
    assert (after["status"], after["lifecycle"]) == ("cancelled", None)
    appended = out.lists[SPACE.order_events(order_id)]
    assert [decode_lifecycle(e, after)["type"] for e in [*listed, *appended]] == [
        "OrderPlaced", "OrderAccepted", "CancelRequested", "OrderCancelled",
    ]  # fmt: skip
