"""Settling one order's fill, collecting fees, and folding an order's stream into its status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain import (
    Account,
    Balance,
    FeesCollected,
    FeesNetted,
    Instrument,
    OrderFilled,
    TradeSettled,
)
from domain.folds import fold_order

FEES = Instrument.create("ACME", "0.01", maker_fee_bps=10, taker_fee_bps=20)


def _fill(
    order_id: int, user_id: int, side: str, liquidity: str, qty: int, left: int
) -> OrderFilled:
    return OrderFilled("ACME", order_id, user_id, 1, side, 1000, qty, left, liquidity, 9)  # type: ignore[arg-type]


def test_a_filled_buy_pays_notional_and_taker_fee_and_gets_its_leftover_back() -> None:
    buyer = Account(7)
    buyer.deposit("USD", 20_000, 0)
    buyer.reserve_order(FEES, 1, "buy", "limit", 10, 1010, 0)  # 10,100 + 20 bps of it

    events = buyer.settle_fill(_fill(1, 7, "buy", "taker", 10, 0), FEES)

    settled = events[0]
    assert isinstance(settled, TradeSettled)
    assert (settled.cash_delta, settled.fee, settled.shares_delta) == (-10_020, 20, 10)
    assert buyer.balance("USD") == Balance(20_000 - 10_020, 0)
    assert buyer.balance("ACME") == Balance(10, 0)
    assert buyer.holds == {}


def test_a_partly_filled_sell_keeps_the_rest_of_its_shares_held() -> None:
    seller = Account(8)
    seller.deposit("ACME", 10, 0)
    seller.reserve_order(FEES, 2, "sell", "limit", 10, 1000, 0)

    seller.settle_fill(_fill(2, 8, "sell", "maker", 4, 6), FEES)

    assert seller.balance("ACME") == Balance(6, 6)
    assert seller.balance("USD") == Balance(4_000 - 4, 0)  # maker fee 10 bps


def test_the_fee_account_collects_each_settled_fee() -> None:
    seller = Account(8)
    seller.deposit("ACME", 10, 0)
    seller.reserve_order(FEES, 2, "sell", "limit", 10, 1000, 0)
    settled = seller.settle_fill(_fill(2, 8, "sell", "maker", 10, 0), FEES)[0]
    fees = Account(0)

    assert isinstance(settled, TradeSettled)
    collected = fees.collect_fee(settled)

    assert collected == [FeesCollected(0, "USD", 10, "ACME", 1, 2, 9)]
    assert fees.balance("USD") == Balance(10, 0)


def test_the_fee_account_nets_a_batchs_fees_per_currency_and_symbol() -> None:
    buyer, seller = Account(7), Account(8)
    buyer.deposit("USD", 20_000, 0)
    seller.deposit("ACME", 10, 0)
    buyer.reserve_order(FEES, 1, "buy", "limit", 10, 1010, 0)
    seller.reserve_order(FEES, 2, "sell", "limit", 10, 1000, 0)
    settled = [
        *buyer.settle_fill(_fill(1, 7, "buy", "taker", 10, 0), FEES)[:1],
        *seller.settle_fill(_fill(2, 8, "sell", "maker", 10, 0), FEES)[:1],
    ]
    fees = Account(0)

    netted = fees.net_fees([e for e in settled if isinstance(e, TradeSettled)])

    assert netted == [FeesNetted(0, "USD", 20 + 10, "ACME", 2, 9)]
    assert fees.balance("USD") == Balance(30, 0)
    assert fees.net_fees([]) == []


@dataclass
class Stored:
    type: str
    data: dict[str, Any]
    stream_version: int
    position: int = field(default=0)


def test_an_order_fold_follows_fills_to_filled() -> None:
    placed = {"order_id": 1, "user_id": 7, "symbol": "ACME", "side": "buy",
              "order_type": "limit", "price": 1000, "quantity": 5}  # fmt: skip
    stream = [
        Stored("OrderPlaced", placed, 1),
        Stored("OrderAccepted", {}, 2),
        Stored("OrderFilled", {"quantity": 2, "remaining": 3}, 3),
    ]

    partly = fold_order(stream)
    done = fold_order([*stream, Stored("OrderFilled", {"quantity": 3, "remaining": 0}, 4)])

    assert partly is not None and (partly.status, partly.filled, partly.remaining) == (
        "partially_filled", 2, 3,
    )  # fmt: skip
    assert done is not None and (done.status, done.closed, done.remaining) == ("filled", True, 0)


def test_an_order_fold_ends_cancelled_with_its_reason() -> None:
    placed = {"order_id": 1, "user_id": 7, "symbol": "ACME", "side": "sell",
              "order_type": "limit", "price": 1000, "quantity": 5}  # fmt: skip

    view = fold_order(
        [Stored("OrderPlaced", placed, 1), Stored("OrderCancelled", {"reason": "USER"}, 2)]
    )

    assert view is not None and (view.status, view.reason, view.remaining) == (
        "cancelled", "USER", 0,
    )  # fmt: skip
