"""Order lifecycle and trade events, named like a trading blotter.

Emitted by the matching engine (all carry the ``symbol`` and the ``at`` of the command that
caused them, in ns since the epoch; prices in ticks, quantities in shares):

* ``OrderAccepted`` - the engine took the order; its first event unless ``OrderRejected``
  (:mod:`domain.rejections`, with the other events of requests that changed nothing).
* ``TradeExecuted`` - one fill, always at the resting (maker) order's price; it is the fill record
  of **both** orders, and ``taker_remaining`` / ``maker_remaining`` say what each has left open
  (0 = filled). ``TradeExecuted.fills()`` gives the per-order ``OrderFilled`` view.
* ``OrderCancelled`` - the open remainder was cancelled (by its owner or by self-trade prevention).
* ``OrderReduced`` - STP ``decrement`` took ``quantity`` off an order that stays open.
* ``OrderExpired`` - IOC/market remainder, FOK that could not fill, cash limit, DAY at close.
* ``OrderAmended`` - new price/total quantity; ``priority_kept`` tells whether it kept its place.

Per order, ``quantity == filled + remaining + cancelled + reduced + expired`` at every moment.

The command API's requests to the engine live in :mod:`domain.order_requests`.
"""

from __future__ import annotations

from typing import Final, Literal

from mypy_extensions import mypyc_attr

from domain.commands import OrderType, Side, TimeInForce
from domain.events import Event, register

Liquidity = Literal["maker", "taker"]

# Reasons of OrderCancelled / OrderReduced / OrderExpired (rejections use ErrorCode values).
CANCELLED_BY_USER: Final = "USER"
CANCELLED_SELF_TRADE: Final = "SELF_TRADE"
EXPIRED_IOC_REMAINDER: Final = "IOC_REMAINDER"
EXPIRED_FOK_NOT_FILLABLE: Final = "FOK_NOT_FILLABLE"
EXPIRED_CASH_LIMIT: Final = "CASH_LIMIT_REACHED"
EXPIRED_DAY_END: Final = "DAY_END"


@mypyc_attr(acyclic=True, free_list_len=1)
class OrderAccepted(Event):
    """The engine accepted the order (it may trade, rest or expire next)."""

    __slots__ = (
        "at",
        "order_id",
        "order_type",
        "post_only",
        "price",
        "quantity",
        "side",
        "symbol",
        "time_in_force",
        "user_id",
    )
    FIELDS = (
        "symbol",
        "order_id",
        "user_id",
        "side",
        "order_type",
        "price",
        "quantity",
        "time_in_force",
        "post_only",
        "at",
    )

    def __init__(
        self,
        symbol: str,
        order_id: int,
        user_id: int,
        side: Side,
        order_type: OrderType,
        price: int | None,
        quantity: int,
        time_in_force: TimeInForce,
        post_only: bool,
        at: int,
    ) -> None:
        self.symbol: Final = symbol
        self.order_id: Final = order_id
        self.user_id: Final = user_id
        self.side: Final = side
        self.order_type: Final = order_type
        self.price: Final = price
        self.quantity: Final = quantity
        self.time_in_force: Final = time_in_force
        self.post_only: Final = post_only
        self.at: Final = at


@mypyc_attr(acyclic=True, free_list_len=1)
class TradeExecuted(Event):
    """One fill between an incoming (taker) and a resting (maker) order.

    ``trade_id`` counts fills per symbol from 1, so ``(symbol, trade_id)`` identifies a trade.
    """

    __slots__ = (
        "at",
        "maker_order_id",
        "maker_remaining",
        "maker_user_id",
        "price",
        "quantity",
        "symbol",
        "taker_order_id",
        "taker_remaining",
        "taker_side",
        "taker_user_id",
        "trade_id",
    )
    FIELDS = (
        "symbol",
        "trade_id",
        "price",
        "quantity",
        "taker_side",
        "taker_order_id",
        "taker_user_id",
        "taker_remaining",
        "maker_order_id",
        "maker_user_id",
        "maker_remaining",
        "at",
    )

    def __init__(
        self,
        symbol: str,
        trade_id: int,
        price: int,
        quantity: int,
        taker_side: Side,
        taker_order_id: int,
        taker_user_id: int,
        taker_remaining: int,
        maker_order_id: int,
        maker_user_id: int,
        maker_remaining: int,
        at: int,
    ) -> None:
        self.symbol: Final = symbol
        self.trade_id: Final = trade_id
        self.price: Final = price
        self.quantity: Final = quantity
        self.taker_side: Final = taker_side
        self.taker_order_id: Final = taker_order_id
        self.taker_user_id: Final = taker_user_id
        self.taker_remaining: Final = taker_remaining
        self.maker_order_id: Final = maker_order_id
        self.maker_user_id: Final = maker_user_id
        self.maker_remaining: Final = maker_remaining
        self.at: Final = at

    def fills(self) -> tuple[OrderFilled, OrderFilled]:
        """The trade as seen by each order: (taker's fill, maker's fill)."""
        maker_side: Side = "sell" if self.taker_side == "buy" else "buy"
        taker = OrderFilled(
            self.symbol,
            self.taker_order_id,
            self.taker_user_id,
            self.trade_id,
            self.taker_side,
            self.price,
            self.quantity,
            self.taker_remaining,
            "taker",
            self.at,
        )
        maker = OrderFilled(
            self.symbol,
            self.maker_order_id,
            self.maker_user_id,
            self.trade_id,
            maker_side,
            self.price,
            self.quantity,
            self.maker_remaining,
            "maker",
            self.at,
        )
        return taker, maker


@mypyc_attr(acyclic=True)
class OrderFilled(Event):
    """One order's share of a trade (derived from ``TradeExecuted``; ``remaining == 0``: filled)."""

    __slots__ = (
        "at",
        "liquidity",
        "order_id",
        "price",
        "quantity",
        "remaining",
        "side",
        "symbol",
        "trade_id",
        "user_id",
    )
    FIELDS = (
        "symbol",
        "order_id",
        "user_id",
        "trade_id",
        "side",
        "price",
        "quantity",
        "remaining",
        "liquidity",
        "at",
    )

    def __init__(
        self,
        symbol: str,
        order_id: int,
        user_id: int,
        trade_id: int,
        side: Side,
        price: int,
        quantity: int,
        remaining: int,
        liquidity: Liquidity,
        at: int,
    ) -> None:
        self.symbol: Final = symbol
        self.order_id: Final = order_id
        self.user_id: Final = user_id
        self.trade_id: Final = trade_id
        self.side: Final = side
        self.price: Final = price
        self.quantity: Final = quantity
        self.remaining: Final = remaining
        self.liquidity: Final = liquidity
        self.at: Final = at


@mypyc_attr(acyclic=True)
class OrderClosed(Event):
    """Base of the events that end an order's open remainder of ``quantity`` shares."""

    __slots__ = ("at", "order_id", "quantity", "reason", "symbol", "user_id")
    FIELDS = ("symbol", "order_id", "user_id", "quantity", "reason", "at")

    def __init__(
        self, symbol: str, order_id: int, user_id: int, quantity: int, reason: str, at: int
    ) -> None:
        self.symbol: Final = symbol
        self.order_id: Final = order_id
        self.user_id: Final = user_id
        self.quantity: Final = quantity
        self.reason: Final = reason
        self.at: Final = at


@mypyc_attr(acyclic=True, free_list_len=1)
class OrderCancelled(OrderClosed):
    """``quantity`` shares, the whole open remainder, were cancelled; the order is closed."""

    __slots__ = ()


@mypyc_attr(acyclic=True, free_list_len=1)
class OrderExpired(OrderClosed):
    """``quantity`` shares, the whole open remainder, expired; the order is closed."""

    __slots__ = ()


@mypyc_attr(acyclic=True)
class OrderReduced(Event):
    """Self-trade prevention (``decrement``) removed ``quantity``; ``remaining`` stays open."""

    __slots__ = ("at", "order_id", "quantity", "reason", "remaining", "symbol", "user_id")
    FIELDS = ("symbol", "order_id", "user_id", "quantity", "remaining", "reason", "at")

    def __init__(
        self,
        symbol: str,
        order_id: int,
        user_id: int,
        quantity: int,
        remaining: int,
        reason: str,
        at: int,
    ) -> None:
        self.symbol: Final = symbol
        self.order_id: Final = order_id
        self.user_id: Final = user_id
        self.quantity: Final = quantity
        self.remaining: Final = remaining
        self.reason: Final = reason
        self.at: Final = at


@mypyc_attr(acyclic=True)
class OrderAmended(Event):
    """New ``price`` and total ``quantity``; ``remaining`` is what is now open."""

    __slots__ = (
        "at",
        "order_id",
        "price",
        "priority_kept",
        "quantity",
        "remaining",
        "symbol",
        "user_id",
    )
    FIELDS = (
        "symbol",
        "order_id",
        "user_id",
        "price",
        "quantity",
        "remaining",
        "priority_kept",
        "at",
    )

    def __init__(
        self,
        symbol: str,
        order_id: int,
        user_id: int,
        price: int,
        quantity: int,
        remaining: int,
        priority_kept: bool,
        at: int,
    ) -> None:
        self.symbol: Final = symbol
        self.order_id: Final = order_id
        self.user_id: Final = user_id
        self.price: Final = price
        self.quantity: Final = quantity
        self.remaining: Final = remaining
        self.priority_kept: Final = priority_kept
        self.at: Final = at


register(
    OrderAccepted,
    TradeExecuted,
    OrderFilled,
    OrderCancelled,
    OrderExpired,
    OrderReduced,
    OrderAmended,
)
