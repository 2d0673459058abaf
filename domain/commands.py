"""Commands the matching engine accepts, and the vocabulary they share with events.

Units: prices are integer **ticks**, quantities integer **shares**, ``at`` is the command's time
in integer **nanoseconds since the Unix epoch** (taken by whoever sequences the command, never by
the engine). Commands are immutable :class:`~domain.events.Record`\\ s, cheap enough to build
one per message in the engine worker's hot loop.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from mypy_extensions import mypyc_attr

from domain.events import Record

Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market"]
TimeInForce = Literal["GTC", "IOC", "FOK", "DAY"]
Id = Any
"""An order or user id: an ``int`` (checked by whoever builds the command). Typed ``Any`` so that
the mypyc build keeps the caller's int object: ids are dict keys in the engine, and an unboxed
``int`` field would be boxed anew, an allocation, at every lookup."""

BUY: Side = "buy"
SELL: Side = "sell"
LIMIT: OrderType = "limit"
MARKET: OrderType = "market"
GTC: TimeInForce = "GTC"
IOC: TimeInForce = "IOC"
FOK: TimeInForce = "FOK"
DAY: TimeInForce = "DAY"


@mypyc_attr(acyclic=True, free_list_len=1)
class NewOrder(Record):
    """Place an order.

    * ``price`` is in ticks for a limit order and must be ``None`` for a market order.
    * ``time_in_force``: ``GTC`` and ``DAY`` rest; ``IOC`` expires its remainder; ``FOK`` fills
      completely at once or expires whole. Market orders are ``IOC`` or ``FOK``.
    * ``post_only`` (limit ``GTC``/``DAY`` only): rejected with ``POST_ONLY_WOULD_CROSS`` if it
      would take liquidity (it is never re-priced).
    * ``max_notional`` bounds a market **buy**: the fills' ``sum(price_ticks * shares)`` never
      exceeds it (see ``Instrument.market_buy_max_notional``); ``None`` means unbounded and is
      meant for tests and benchmarks only.
    * ``expires_at`` (``DAY`` only, required): session close in ns; the order expires at the
      first command whose ``at`` reaches it, or at an :class:`ExpireOrders`.
    """

    __slots__ = (
        "at",
        "expires_at",
        "max_notional",
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
        "at",
        "post_only",
        "max_notional",
        "expires_at",
    )

    def __init__(
        self,
        symbol: str,
        order_id: Id,
        user_id: Id,
        side: Side,
        order_type: OrderType,
        price: int | None,
        quantity: int,
        time_in_force: TimeInForce = GTC,
        at: int = 0,
        post_only: bool = False,
        max_notional: int | None = None,
        expires_at: int | None = None,
    ) -> None:
        self.symbol: Final = symbol
        self.order_id: Final = order_id
        self.user_id: Final = user_id
        self.side: Final = side
        self.order_type: Final = order_type
        self.price: Final = price
        self.quantity: Final = quantity
        self.time_in_force: Final = time_in_force
        self.at: Final = at
        self.post_only: Final = post_only
        self.max_notional: Final = max_notional
        self.expires_at: Final = expires_at


@mypyc_attr(acyclic=True, free_list_len=1)
class CancelOrder(Record):
    """Cancel the open remainder of an order; only its owner may."""

    __slots__ = ("at", "order_id", "symbol", "user_id")
    FIELDS = ("symbol", "order_id", "user_id", "at")

    def __init__(self, symbol: str, order_id: Id, user_id: Id, at: int = 0) -> None:
        self.symbol: Final = symbol
        self.order_id: Final = order_id
        self.user_id: Final = user_id
        self.at: Final = at


@mypyc_attr(acyclic=True)
class AmendOrder(Record):
    """Change an open order's total ``quantity`` and/or ``price`` (``None`` keeps the value).

    Reducing the quantity at the same price keeps time priority; a price change or a quantity
    increase loses it (the order re-enters as the newest at its price and may trade at once).
    The new total must stay above what has already filled.
    """

    __slots__ = ("at", "order_id", "price", "quantity", "symbol", "user_id")
    FIELDS = ("symbol", "order_id", "user_id", "quantity", "price", "at")

    def __init__(
        self,
        symbol: str,
        order_id: Id,
        user_id: Id,
        quantity: int | None = None,
        price: int | None = None,
        at: int = 0,
    ) -> None:
        self.symbol: Final = symbol
        self.order_id: Final = order_id
        self.user_id: Final = user_id
        self.quantity: Final = quantity
        self.price: Final = price
        self.at: Final = at


@mypyc_attr(acyclic=True)
class SubmitBatch(Record):
    """Several orders of one user sent together.

    With ``all_or_nothing`` every leg must fill completely at once, or the whole batch is rejected
    and the book is unchanged. Without it the legs are processed one by one, in order.
    """

    __slots__ = ("all_or_nothing", "at", "batch_id", "orders", "user_id")
    FIELDS = ("batch_id", "user_id", "orders", "all_or_nothing", "at")

    def __init__(
        self,
        batch_id: int,
        user_id: Id,
        orders: tuple[NewOrder, ...],
        all_or_nothing: bool = True,
        at: int = 0,
    ) -> None:
        self.batch_id: Final = batch_id
        self.user_id: Final = user_id
        self.orders: Final = orders
        self.all_or_nothing: Final = all_or_nothing
        self.at: Final = at


@mypyc_attr(acyclic=True)
class ExpireOrders(Record):
    """Advance the engine's time: every DAY order whose ``expires_at <= at`` expires."""

    __slots__ = ("at",)
    FIELDS = ("at",)

    def __init__(self, at: int) -> None:
        self.at: Final = at


Command = NewOrder | CancelOrder | AmendOrder | SubmitBatch | ExpireOrders


def new_order(
    symbol: str,
    order_id: Id,
    user_id: Id,
    side: Side,
    order_type: OrderType,
    price: int | None,
    quantity: int,
    time_in_force: TimeInForce = GTC,
    at: int = 0,
    post_only: bool = False,
    max_notional: int | None = None,
    expires_at: int | None = None,
) -> NewOrder:
    """Same as ``NewOrder(...)``; the faster call from interpreted code in the mypyc build.

    A compiled function takes the vectorcall protocol while a compiled class's constructor does
    not, so a hot loop of interpreted code (a worker, a benchmark) saves its argument packing.
    """
    return NewOrder(
        symbol, order_id, user_id, side, order_type, price, quantity, time_in_force, at,
        post_only, max_notional, expires_at,
    )  # fmt: skip


def cancel_order(symbol: str, order_id: Id, user_id: Id, at: int = 0) -> CancelOrder:
    """Same as ``CancelOrder(...)`` (see :func:`new_order`)."""
    return CancelOrder(symbol, order_id, user_id, at)
