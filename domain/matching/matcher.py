"""The hot loop: cross an incoming order against the opposite side of one book.

Price priority comes from the side's sorted keys (best last), time priority from each level's
FIFO queue. Every fill prints at the resting order's price.
"""

from __future__ import annotations

from mypy_extensions import mypyc_attr

from domain.commands import Id, Side
from domain.events import Event
from domain.matching.book import (
    BookSide,
    OrderBook,
    PriceLevel,
    RestingOrder,
)
from domain.order_events import (
    CANCELLED_SELF_TRADE,
    EXPIRED_CASH_LIMIT,
    OrderCancelled,
    OrderExpired,
    OrderReduced,
    TradeExecuted,
)


def match(
    book: OrderBook,
    opposite: BookSide,
    order_id: Id,
    user_id: Id,
    side: Side,
    threshold: int,
    quantity: int,
    max_notional: int | None,
    check_self: bool,
    at: int,
    out: list[Event],
) -> tuple[int, int]:
    """Fill ``quantity`` against ``opposite`` down to ``threshold``; return (remaining, filled).

    ``remaining`` is what is left to rest or expire. When the order ends inside the loop (self-
    trade prevention cancelled it, or a market buy ran out of ``max_notional``) the closing event
    is emitted here and ``remaining`` is 0. ``check_self`` must be true iff ``user_id`` has open
    orders on ``opposite``; only then is each maker's owner compared.
    """
    keys = opposite.keys
    levels = opposite.levels
    taker = Taker(order_id, user_id, side, quantity, max_notional, check_self, at)
    while taker.remaining and keys:
        key = keys[-1]
        if key < threshold:
            break
        level = levels[key]
        _cross_level(book, opposite, level, taker, out)
        if not level.qty and levels.get(key) is level:
            del levels[key]
            keys.pop()
    return taker.remaining, taker.filled


@mypyc_attr(acyclic=True, free_list_len=1)
class Taker:
    """The incoming side of a match, updated as it fills."""

    __slots__ = ("at", "check_self", "filled", "max_notional", "order_id", "remaining", "side",
                 "user_id")  # fmt: skip

    def __init__(
        self,
        order_id: Id,
        user_id: Id,
        side: Side,
        remaining: int,
        max_notional: int | None,
        check_self: bool,
        at: int,
    ) -> None:
        self.order_id = order_id
        self.user_id = user_id
        self.side: Side = side
        self.remaining = remaining
        self.filled = 0
        self.max_notional = max_notional
        self.check_self = check_self
        self.at = at


def _cross_level(
    book: OrderBook, opposite: BookSide, level: PriceLevel, taker: Taker, out: list[Event]
) -> None:
    """Fill ``taker`` against one level, oldest order first, until either is exhausted."""
    queue = level.queue
    price = level.price
    symbol, order_id, user_id, side, at = (
        book.symbol,
        taker.order_id,
        taker.user_id,
        taker.side,
        taker.at,
    )
    remaining = taker.remaining
    while remaining and level.qty:
        maker = queue[level.head]
        maker_left = maker.remaining
        if not maker_left:
            level.dead -= 1
            level.pop_front()
            continue
        if taker.check_self and maker.user_id == user_id:
            remaining = prevent_self_trade(book, maker, order_id, user_id, remaining, at, out)
            queue = level.queue  # removing the maker may have compacted the queue
            continue
        fill = maker_left if maker_left < remaining else remaining
        if taker.max_notional is not None:
            fill = _affordable(book, price, fill, taker)
            if not fill:
                out.append(
                    OrderExpired(symbol, order_id, user_id, remaining, EXPIRED_CASH_LIMIT, at)
                )
                remaining = 0
                break
        remaining -= fill
        taker.filled += fill
        maker_left -= fill
        maker.remaining = maker_left
        maker.filled += fill
        level.qty -= fill
        book.trade_seq += 1
        out.append(
            TradeExecuted(
                symbol, book.trade_seq, price, fill, side, order_id, user_id, remaining,
                maker.order_id, maker.user_id, maker_left, at,
            )
        )  # fmt: skip
        if not maker_left:
            level.pop_front()  # trims ``queue`` in place: the local stays valid
            del book.orders[maker.order_id]
            opposite.forget(maker)
    taker.remaining = remaining


def _affordable(book: OrderBook, price: int, fill: int, taker: Taker) -> int:
    """The part of ``fill`` a market buy can still pay for (whole lots); spends the budget."""
    budget = taker.max_notional or 0
    if fill * price > budget:
        afford = budget // price
        fill = afford - afford % book.instrument.lot_size
    taker.max_notional = budget - fill * price
    return fill


def prevent_self_trade(
    book: OrderBook,
    maker: RestingOrder,
    order_id: Id,
    user_id: Id,
    remaining: int,
    at: int,
    out: list[Event],
) -> int:
    """Apply the book's self-trade mode when the taker meets its own resting ``maker``.

    Returns the taker's new remaining quantity (0 when the taker was cancelled).
    """
    mode = book.instrument.self_trade
    symbol = book.symbol
    maker_left = maker.remaining
    maker_id = maker.order_id
    if mode == "decrement":
        cut = min(maker_left, remaining)
        if cut == maker_left:
            book.remove(maker)
            out.append(OrderCancelled(symbol, maker_id, user_id, cut, CANCELLED_SELF_TRADE, at))
        else:
            _reduce(book, maker, cut)
            out.append(
                OrderReduced(
                    symbol, maker_id, user_id, cut, maker.remaining, CANCELLED_SELF_TRADE, at
                )
            )
        remaining -= cut
        if remaining:
            out.append(
                OrderReduced(symbol, order_id, user_id, cut, remaining, CANCELLED_SELF_TRADE, at)
            )
        else:
            out.append(OrderCancelled(symbol, order_id, user_id, cut, CANCELLED_SELF_TRADE, at))
        return remaining
    if mode in ("cancel_oldest", "cancel_both"):
        book.remove(maker)
        out.append(OrderCancelled(symbol, maker_id, user_id, maker_left, CANCELLED_SELF_TRADE, at))
        if mode == "cancel_oldest":
            return remaining
    out.append(OrderCancelled(symbol, order_id, user_id, remaining, CANCELLED_SELF_TRADE, at))
    return 0


def _reduce(book: OrderBook, order: RestingOrder, cut: int) -> None:
    """Lower an open order's remaining quantity in place (it keeps its queue position)."""
    book.sides[order.is_sell].levels[order.level_key].qty -= cut
    order.remaining -= cut
