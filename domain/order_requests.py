"""Requests the command API appends for the engine, each convertible with ``to_command()``.

``OrderPlaced`` (funds already reserved), ``CancelRequested``, ``AmendRequested`` and
``BatchPlaced`` are what the engine worker consumes and turns into engine commands;
``SessionClosed`` is the session scheduler's, so DAY orders expire at a place in the stream.

Stored placements leave default values out (``PLACED_DEFAULTS``: ``post_only`` false and no
``max_notional``, ``expires_at`` or ``client_order_id``), and a ``BatchPlaced`` leg leaves out
the ``user_id`` and ``at`` its batch gives too (:func:`stored_leg`): the full form was ~110 of
the ~270 bytes of a leg, written once into the batch and once into the leg's order stream, then
relayed, consumed and projected. ``event_from_dict`` reads both forms; events stored before
name every field.
"""

from __future__ import annotations

from typing import Any, Final

from mypy_extensions import mypyc_attr

from domain.commands import (
    AmendOrder,
    CancelOrder,
    ExpireOrders,
    NewOrder,
    OrderType,
    Side,
    SubmitBatch,
    TimeInForce,
)
from domain.errors import DomainError, ErrorCode
from domain.events import Event, register

PLACED_DEFAULTS: Final[dict[str, Any]] = {
    "post_only": False,
    "max_notional": None,
    "expires_at": None,
    "client_order_id": None,
}
"""The fields of a stored placement that are left out when they hold these values."""


@mypyc_attr(acyclic=True)
class OrderPlaced(Event):
    """The command API validated an order and reserved its funds; the engine takes it next."""

    __slots__ = (
        "at",
        "client_order_id",
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
        "post_only",
        "max_notional",
        "expires_at",
        "client_order_id",
        "at",
    )
    DEFAULTS = PLACED_DEFAULTS

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
        max_notional: int | None,
        expires_at: int | None,
        client_order_id: str | None,
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
        self.max_notional: Final = max_notional
        self.expires_at: Final = expires_at
        self.client_order_id: Final = client_order_id
        self.at: Final = at

    def to_command(self) -> NewOrder:
        """The engine command this request stands for."""
        return NewOrder(
            self.symbol,
            self.order_id,
            self.user_id,
            self.side,
            self.order_type,
            self.price,
            self.quantity,
            self.time_in_force,
            self.at,
            self.post_only,
            self.max_notional,
            self.expires_at,
        )


@mypyc_attr(acyclic=True)
class CancelRequested(Event):
    """The owner asked to cancel an order."""

    __slots__ = ("at", "order_id", "symbol", "user_id")
    FIELDS = ("symbol", "order_id", "user_id", "at")

    def __init__(self, symbol: str, order_id: int, user_id: int, at: int) -> None:
        self.symbol: Final = symbol
        self.order_id: Final = order_id
        self.user_id: Final = user_id
        self.at: Final = at

    def to_command(self) -> CancelOrder:
        """The engine command this request stands for."""
        return CancelOrder(self.symbol, self.order_id, self.user_id, self.at)


@mypyc_attr(acyclic=True)
class AmendRequested(Event):
    """The owner asked to change an order's total quantity and/or price."""

    __slots__ = ("at", "order_id", "price", "quantity", "symbol", "user_id")
    FIELDS = ("symbol", "order_id", "user_id", "quantity", "price", "at")

    def __init__(
        self,
        symbol: str,
        order_id: int,
        user_id: int,
        quantity: int | None,
        price: int | None,
        at: int,
    ) -> None:
        self.symbol: Final = symbol
        self.order_id: Final = order_id
        self.user_id: Final = user_id
        self.quantity: Final = quantity
        self.price: Final = price
        self.at: Final = at

    def to_command(self) -> AmendOrder:
        """The engine command this request stands for."""
        return AmendOrder(
            self.symbol, self.order_id, self.user_id, self.quantity, self.price, self.at
        )


@mypyc_attr(acyclic=True)
class BatchPlaced(Event):
    """The command API accepted a batch (legs stored inline as ``OrderPlaced`` dicts)."""

    __slots__ = ("all_or_nothing", "at", "batch_id", "orders", "user_id")
    FIELDS = ("batch_id", "user_id", "all_or_nothing", "orders", "at")

    def __init__(
        self,
        batch_id: int,
        user_id: int,
        all_or_nothing: bool,
        orders: tuple[OrderPlaced, ...],
        at: int,
    ) -> None:
        self.batch_id: Final = batch_id
        self.user_id: Final = user_id
        self.all_or_nothing: Final = all_or_nothing
        self.orders: Final = orders
        self.at: Final = at

    @classmethod
    def decode(cls, data: dict[str, Any]) -> Event:
        """The batch of stored ``data``, its legs as :func:`stored_leg` (or, before it, in full)
        stored them."""
        user_id, at = data["user_id"], data["at"]
        legs = tuple(placed_leg(leg, user_id, at) for leg in data["orders"])
        return cls(data["batch_id"], user_id, data["all_or_nothing"], legs, at)

    def to_command(self) -> SubmitBatch:
        """The engine command this request stands for."""
        legs = tuple(leg.to_command() for leg in self.orders)
        return SubmitBatch(self.batch_id, self.user_id, legs, self.all_or_nothing, self.at)


def stored_leg(order: OrderPlaced, user_id: int, at: int) -> dict[str, Any]:
    """A leg of the batch of ``user_id`` at ``at`` as ``BatchPlaced`` stores it: without
    ``PLACED_DEFAULTS`` values, and without its ``user_id`` and ``at`` when they are the batch's
    (the command API gives every leg its batch's)."""
    leg: dict[str, Any] = {"symbol": order.symbol, "order_id": order.order_id}
    if order.user_id != user_id:
        leg["user_id"] = order.user_id
    leg["side"] = order.side
    leg["order_type"] = order.order_type
    leg["price"] = order.price
    leg["quantity"] = order.quantity
    leg["time_in_force"] = order.time_in_force
    if order.post_only:
        leg["post_only"] = True
    if order.max_notional is not None:
        leg["max_notional"] = order.max_notional
    if order.expires_at is not None:
        leg["expires_at"] = order.expires_at
    if order.client_order_id is not None:
        leg["client_order_id"] = order.client_order_id
    if order.at != at:
        leg["at"] = order.at
    return leg


def placed_leg(leg: dict[str, Any], user_id: int, at: int) -> OrderPlaced:
    """The ``OrderPlaced`` of a stored leg of a batch of ``user_id`` at ``at`` (a leg stored
    before :func:`stored_leg` names them itself)."""
    if not leg.keys() <= _LEG_FIELDS:
        raise DomainError(f"bad fields for a batch leg: {sorted(leg)}", ErrorCode.INVALID_ORDER)
    return OrderPlaced(
        leg["symbol"],
        leg["order_id"],
        leg.get("user_id", user_id),
        leg["side"],
        leg["order_type"],
        leg["price"],
        leg["quantity"],
        leg["time_in_force"],
        leg.get("post_only", False),
        leg.get("max_notional"),
        leg.get("expires_at"),
        leg.get("client_order_id"),
        leg.get("at", at),
    )


_LEG_FIELDS: Final = frozenset(OrderPlaced.FIELDS)


@mypyc_attr(acyclic=True)
class SessionClosed(Event):
    """The trading session of ``symbol`` closed at ``at``: its DAY orders expire."""

    __slots__ = ("at", "symbol")
    FIELDS = ("symbol", "at")

    def __init__(self, symbol: str, at: int) -> None:
        self.symbol: Final = symbol
        self.at: Final = at

    def to_command(self) -> ExpireOrders:
        """The engine command this request stands for (the engine's whole shard closes)."""
        return ExpireOrders(self.at)


register(OrderPlaced, CancelRequested, AmendRequested, BatchPlaced, SessionClosed)
