"""Account events: cash and shares moving in, out, on hold and between traders.

``asset`` is a currency code (``"USD"``, amounts in minor units) or a symbol (amounts in shares).
Every event carries ``at`` (ns since the epoch) from the command that caused it.
"""

from __future__ import annotations

from typing import Any, Final

from mypy_extensions import mypyc_attr

from domain.commands import Side
from domain.events import Event, register
from domain.order_events import Liquidity

# Reasons of FundsReleased.
RELEASED_ORDER_CLOSED: Final = "ORDER_CLOSED"  # filled (price-improvement leftover), cancelled, ...
RELEASED_AMENDED: Final = "AMENDED"

FEE_ACCOUNT: Final = 0
"""The user id of the exchange's own account, where fees are collected."""


@mypyc_attr(acyclic=True)
class FundsDeposited(Event):
    """``amount`` of ``asset`` came into the account."""

    __slots__ = ("amount", "asset", "at", "user_id")
    FIELDS = ("user_id", "asset", "amount", "at")

    def __init__(self, user_id: int, asset: str, amount: int, at: int) -> None:
        self.user_id: Final = user_id
        self.asset: Final = asset
        self.amount: Final = amount
        self.at: Final = at


@mypyc_attr(acyclic=True)
class FundsWithdrawn(Event):
    """``amount`` of ``asset`` left the account."""

    __slots__ = ("amount", "asset", "at", "user_id")
    FIELDS = ("user_id", "asset", "amount", "at")

    def __init__(self, user_id: int, asset: str, amount: int, at: int) -> None:
        self.user_id: Final = user_id
        self.asset: Final = asset
        self.amount: Final = amount
        self.at: Final = at


@mypyc_attr(acyclic=True)
class FundsReserved(Event):
    """``amount`` of ``asset`` is now held for ``order_id`` (available drops, total stays)."""

    __slots__ = ("amount", "asset", "at", "order_id", "side", "symbol", "user_id")
    FIELDS = ("user_id", "asset", "amount", "order_id", "symbol", "side", "at")

    def __init__(
        self, user_id: int, asset: str, amount: int, order_id: int, symbol: str, side: Side, at: int
    ) -> None:
        self.user_id: Final = user_id
        self.asset: Final = asset
        self.amount: Final = amount
        self.order_id: Final = order_id
        self.symbol: Final = symbol
        self.side: Final = side
        self.at: Final = at

    def to_dict(self) -> dict[str, object]:
        """``Record.to_dict`` spelled out (every field is plain): the command API stores one per
        order it places, and the generic walk over ``FIELDS`` cost ~3 µs of its ~150 per order
        (a literal ~0.4)."""
        return {
            "user_id": self.user_id,
            "asset": self.asset,
            "amount": self.amount,
            "order_id": self.order_id,
            "symbol": self.symbol,
            "side": self.side,
            "at": self.at,
        }


BATCH_HOLD_FIELDS: Final = ("asset", "amount", "order_id", "symbol", "side")
"""The items of each of ``BatchFundsReserved.holds``: a ``FundsReserved``'s fields but the
``user_id`` and ``at`` the batch's event gives once."""


@mypyc_attr(acyclic=True)
class BatchFundsReserved(Event):
    """A batch's reservations as one event: each of ``holds`` (``BATCH_HOLD_FIELDS``) is held
    as one ``FundsReserved`` of it would be, in order.

    One account row per batch instead of one per leg: the command API's batch of 100 orders
    wrote ~300 rows, a third of them ``FundsReserved`` (each also a relay row, an events-topic
    message and a projector input)."""

    __slots__ = ("at", "batch_id", "holds", "user_id")
    FIELDS = ("user_id", "batch_id", "holds", "at")

    def __init__(
        self, user_id: int, batch_id: int, holds: tuple[tuple[Any, ...], ...], at: int
    ) -> None:
        self.user_id: Final = user_id
        self.batch_id: Final = batch_id
        self.holds: Final = holds
        self.at: Final = at

    @classmethod
    def decode_field(cls, name: str, value: Any) -> Any:
        """``holds`` back as tuples (stored as JSON arrays)."""
        if name == "holds":
            return tuple(tuple(hold) for hold in value)
        return value


@mypyc_attr(acyclic=True)
class FundsReleased(Event):
    """``amount`` held for ``order_id`` is available again."""

    __slots__ = ("amount", "asset", "at", "order_id", "reason", "user_id")
    FIELDS = ("user_id", "asset", "amount", "order_id", "reason", "at")

    def __init__(
        self, user_id: int, asset: str, amount: int, order_id: int, reason: str, at: int
    ) -> None:
        self.user_id: Final = user_id
        self.asset: Final = asset
        self.amount: Final = amount
        self.order_id: Final = order_id
        self.reason: Final = reason
        self.at: Final = at


@mypyc_attr(acyclic=True)
class TradeSettled(Event):
    """One side of a trade booked to one account.

    Buyer: ``cash_delta = -(notional + fee)`` taken from the order's cash hold (``hold_used``),
    ``shares_delta = +quantity``. Seller: ``shares_delta = -quantity`` taken from the share hold
    (``hold_used``), ``cash_delta = notional - fee``. ``(symbol, trade_id, user_id)`` is unique.
    """

    __slots__ = (
        "at",
        "cash_delta",
        "currency",
        "fee",
        "hold_used",
        "liquidity",
        "order_id",
        "price",
        "quantity",
        "shares_delta",
        "side",
        "symbol",
        "trade_id",
        "user_id",
    )
    FIELDS = (
        "user_id",
        "symbol",
        "trade_id",
        "order_id",
        "side",
        "price",
        "quantity",
        "liquidity",
        "currency",
        "cash_delta",
        "fee",
        "shares_delta",
        "hold_used",
        "at",
    )

    def __init__(
        self,
        user_id: int,
        symbol: str,
        trade_id: int,
        order_id: int,
        side: Side,
        price: int,
        quantity: int,
        liquidity: Liquidity,
        currency: str,
        cash_delta: int,
        fee: int,
        shares_delta: int,
        hold_used: int,
        at: int,
    ) -> None:
        self.user_id: Final = user_id
        self.symbol: Final = symbol
        self.trade_id: Final = trade_id
        self.order_id: Final = order_id
        self.side: Final = side
        self.price: Final = price
        self.quantity: Final = quantity
        self.liquidity: Final = liquidity
        self.currency: Final = currency
        self.cash_delta: Final = cash_delta
        self.fee: Final = fee
        self.shares_delta: Final = shares_delta
        self.hold_used: Final = hold_used
        self.at: Final = at


@mypyc_attr(acyclic=True)
class FeesCollected(Event):
    """The fee of one side of a trade, credited to the exchange's fee account (user 0)."""

    __slots__ = ("amount", "asset", "at", "order_id", "symbol", "trade_id", "user_id")
    FIELDS = ("user_id", "asset", "amount", "symbol", "trade_id", "order_id", "at")

    def __init__(
        self,
        user_id: int,
        asset: str,
        amount: int,
        symbol: str,
        trade_id: int,
        order_id: int,
        at: int,
    ) -> None:
        self.user_id: Final = user_id
        self.asset: Final = asset
        self.amount: Final = amount
        self.symbol: Final = symbol
        self.trade_id: Final = trade_id
        self.order_id: Final = order_id
        self.at: Final = at


@mypyc_attr(acyclic=True)
class FeesNetted(Event):
    """The fees of ``fills`` settled trade sides of ``symbol`` in one settlement batch, credited
    to the fee account at once (one row instead of one per side: each side's fee stays on its
    ``TradeSettled``, which is the audit trail of every fee)."""

    __slots__ = ("amount", "asset", "at", "fills", "symbol", "user_id")
    FIELDS = ("user_id", "asset", "amount", "symbol", "fills", "at")

    def __init__(
        self, user_id: int, asset: str, amount: int, symbol: str, fills: int, at: int
    ) -> None:
        self.user_id: Final = user_id
        self.asset: Final = asset
        self.amount: Final = amount
        self.symbol: Final = symbol
        self.fills: Final = fills
        self.at: Final = at


ACCOUNT_EVENTS: Final = (
    FundsDeposited,
    FundsWithdrawn,
    FundsReserved,
    FundsReleased,
    TradeSettled,
    FeesCollected,
    FeesNetted,
    BatchFundsReserved,
)
"""Every event of an ``account-<user>`` stream (what an account's fold applies)."""

register(*ACCOUNT_EVENTS)
