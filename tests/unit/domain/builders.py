"""Small builders that keep the rulebook tests readable."""

from __future__ import annotations

from typing import Any

from domain import (
    Account,
    AmendOrder,
    CancelOrder,
    Event,
    Instrument,
    MatchingEngine,
    NewOrder,
    SelfTradeMode,
    TradeExecuted,
)
from domain.commands import Side, TimeInForce

SYMBOL = "ACME"


def engine(self_trade: SelfTradeMode = "reject_opposite", lot_size: int = 1) -> MatchingEngine:
    """An engine with one empty ACME book."""
    return MatchingEngine([Instrument.create(SYMBOL, "0.01", lot_size, self_trade)])


def limit(
    order_id: int,
    user_id: int,
    side: Side,
    price: int,
    quantity: int,
    tif: TimeInForce = "GTC",
    *,
    at: int = 0,
    post_only: bool = False,
    expires_at: int | None = None,
) -> NewOrder:
    """A limit order on ACME."""
    return NewOrder(
        SYMBOL, order_id, user_id, side, "limit", price, quantity, tif, at, post_only, None,
        expires_at,
    )  # fmt: skip


def market(
    order_id: int,
    user_id: int,
    side: Side,
    quantity: int,
    tif: TimeInForce = "IOC",
    *,
    max_notional: int | None = None,
    at: int = 0,
) -> NewOrder:
    """A market order on ACME."""
    return NewOrder(
        SYMBOL, order_id, user_id, side, "market", None, quantity, tif, at, False, max_notional
    )


def cancel(order_id: int, user_id: int, at: int = 0) -> CancelOrder:
    """Cancel an ACME order."""
    return CancelOrder(SYMBOL, order_id, user_id, at)


def amend(
    order_id: int, user_id: int, *, quantity: int | None = None, price: int | None = None
) -> AmendOrder:
    """Amend an ACME order."""
    return AmendOrder(SYMBOL, order_id, user_id, quantity, price)


def trades(events: list[Event]) -> list[tuple[int, int, int, int]]:
    """(price, quantity, taker order id, maker order id) of every trade in ``events``."""
    return [
        (e.price, e.quantity, e.taker_order_id, e.maker_order_id)
        for e in events
        if isinstance(e, TradeExecuted)
    ]


def kinds(events: list[Event]) -> list[str]:
    """The event type names, in order."""
    return [e.event_type for e in events]


def book_levels(eng: MatchingEngine) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(bids, asks) as (price, open quantity), best first."""
    book = eng.book(SYMBOL)
    return book.bids.depth(), book.asks.depth()


def queue(eng: MatchingEngine, side: Side) -> list[tuple[int, int]]:
    """(order id, remaining) of the open orders of one side, in priority order."""
    return [(o.order_id, o.remaining) for o in eng.book(SYMBOL).open_orders(side)]


def account_state(account: Account) -> tuple[Any, ...]:
    """Everything an account holds, comparable: version, balances, holds and open sides."""
    return (
        account.version,
        {a: (b.total, b.held) for a, b in account.balances.items()},
        {i: (h.symbol, h.side, h.asset, h.amount) for i, h in account.holds.items()},
        dict(account._open_sides),
    )
