"""The command API's own records: users and keys, listings, batch legs and uniqueness claims.

Each class is the stored event of one stream (see ``domain.streams``): its name is the stored
type and ``to_dict()`` is exactly the stored data, so these classes describe what is in the
store already and must never change shape. None of them is an engine input.

* ``UserRegistered`` / ``UsernameClaimed`` / ``ApiKeyIssued``: the same registration data on the
  user's stream, the name's uniqueness stream and the key-hash stream.
* ``InstrumentListed``: ``Instrument.to_dict()`` and the listing time.
* ``OrderPlacedInBatch``: a batch leg on its order stream (``OrderPlaced``'s fields and the
  ``batch_id``, without ``PLACED_DEFAULTS`` values); the engine gets the legs inside
  ``BatchPlaced`` instead.
* ``ClientOrderIdClaimed``: the first order of a user's ``client_order_id``.
* ``IdempotentResponseRecorded``: the response an ``Idempotency-Key`` gets again, as the HTTP
  edge gave it (``status`` and ``body``; ``body`` is a JSON object, so this event is not
  hashable).
* ``IdempotentBatchResponseRecorded``: the same for a batch, whose response body is rebuilt from
  its ``BatchPlaced`` (appended together with it) instead of stored a second time.
"""

from __future__ import annotations

from typing import Any, Final

from mypy_extensions import mypyc_attr

from domain.commands import OrderType, Side, TimeInForce
from domain.events import Event, register
from domain.instrument import Instrument, SelfTradeMode
from domain.order_requests import PLACED_DEFAULTS, OrderPlaced


@mypyc_attr(acyclic=True)
class Registration(Event):
    """A user's registration data, stored on each of the three streams a registration claims."""

    __slots__ = ("at", "key_hash", "user_id", "username")
    FIELDS = ("user_id", "username", "key_hash", "at")

    def __init__(self, user_id: int, username: str, key_hash: str, at: int) -> None:
        self.user_id: Final = user_id
        self.username: Final = username
        self.key_hash: Final = key_hash
        self.at: Final = at


@mypyc_attr(acyclic=True)
class UserRegistered(Registration):
    """A user was created (``user-<user_id>``)."""

    __slots__ = ()


@mypyc_attr(acyclic=True)
class UsernameClaimed(Registration):
    """A username was taken, case-insensitively (``username-<lowercased name>``)."""

    __slots__ = ()


@mypyc_attr(acyclic=True)
class ApiKeyIssued(Registration):
    """An API key, known only by its sha256, was given to the user (``apikey-<key_hash>``)."""

    __slots__ = ()


@mypyc_attr(acyclic=True)
class InstrumentListed(Event):
    """An instrument was listed (``instrument-<SYMBOL>``); the tick size is a decimal string."""

    __slots__ = (
        "at",
        "currency",
        "lot_size",
        "maker_fee_bps",
        "self_trade",
        "symbol",
        "taker_fee_bps",
        "tick_size",
    )
    FIELDS = (
        "symbol",
        "tick_size",
        "lot_size",
        "self_trade",
        "maker_fee_bps",
        "taker_fee_bps",
        "currency",
        "at",
    )

    def __init__(
        self,
        symbol: str,
        tick_size: str,
        lot_size: int,
        self_trade: SelfTradeMode,
        maker_fee_bps: int,
        taker_fee_bps: int,
        currency: str,
        at: int,
    ) -> None:
        self.symbol: Final = symbol
        self.tick_size: Final = tick_size
        self.lot_size: Final = lot_size
        self.self_trade: Final = self_trade
        self.maker_fee_bps: Final = maker_fee_bps
        self.taker_fee_bps: Final = taker_fee_bps
        self.currency: Final = currency
        self.at: Final = at

    @classmethod
    def of(cls, instrument: Instrument, at: int) -> InstrumentListed:
        """The listing of ``instrument`` at ``at`` (its data: ``Instrument.to_dict()`` + ``at``)."""
        return cls(
            instrument.symbol,
            str(instrument.tick_size),
            instrument.lot_size,
            instrument.self_trade,
            instrument.maker_fee_bps,
            instrument.taker_fee_bps,
            instrument.currency,
            at,
        )


@mypyc_attr(acyclic=True)
class OrderPlacedInBatch(Event):
    """A batch leg, on its own order stream: ``OrderPlaced``'s fields and the ``batch_id``."""

    __slots__ = (
        "at",
        "batch_id",
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
    FIELDS = (*OrderPlaced.FIELDS, "batch_id")
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
        batch_id: int,
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
        self.batch_id: Final = batch_id

    @classmethod
    def of(cls, order: OrderPlaced, batch_id: int) -> OrderPlacedInBatch:
        """The leg ``order`` of batch ``batch_id``."""
        o = order
        return cls(
            o.symbol,
            o.order_id,
            o.user_id,
            o.side,
            o.order_type,
            o.price,
            o.quantity,
            o.time_in_force,
            o.post_only,
            o.max_notional,
            o.expires_at,
            o.client_order_id,
            o.at,
            batch_id,
        )

    def placed(self) -> OrderPlaced:
        """The leg as the ``OrderPlaced`` the engine received inside ``BatchPlaced``."""
        return OrderPlaced(
            self.symbol,
            self.order_id,
            self.user_id,
            self.side,
            self.order_type,
            self.price,
            self.quantity,
            self.time_in_force,
            self.post_only,
            self.max_notional,
            self.expires_at,
            self.client_order_id,
            self.at,
        )


@mypyc_attr(acyclic=True)
class ClientOrderIdClaimed(Event):
    """The user's ``client_order_id`` names this order (``client-order-<user_id>-<cid>``)."""

    __slots__ = ("client_order_id", "order_id", "user_id")
    FIELDS = ("order_id", "user_id", "client_order_id")

    def __init__(self, order_id: int, user_id: int, client_order_id: str) -> None:
        self.order_id: Final = order_id
        self.user_id: Final = user_id
        self.client_order_id: Final = client_order_id


@mypyc_attr(acyclic=True)
class IdempotentResponseRecorded(Event):
    """The first response to an ``Idempotency-Key`` (``idempotency-<scope>-<key hash>``).

    ``request_hash`` fingerprints the request; ``status`` and ``body`` (without ``position``,
    which is this event's) are the HTTP edge's response, given again to the same request.
    """

    __slots__ = ("body", "request_hash", "status")
    FIELDS = ("request_hash", "status", "body")

    def __init__(self, request_hash: str, status: int, body: dict[str, Any]) -> None:
        self.request_hash: Final = request_hash
        self.status: Final = status
        self.body: Final = body


@mypyc_attr(acyclic=True)
class IdempotentBatchResponseRecorded(Event):
    """The first response to an ``Idempotency-Key`` that placed batch ``batch_id``.

    Its body is not stored: the batch's ``BatchPlaced``, appended with this record, gives it
    again (``batch_id``, each leg's ``order_id``, ``client_order_id`` and ``"accepted"``, and
    its ``event_id``). Stored in full it was ~50 bytes per order (~5 kB per batch of 100).
    """

    __slots__ = ("batch_id", "request_hash", "status")
    FIELDS = ("request_hash", "status", "batch_id")

    def __init__(self, request_hash: str, status: int, batch_id: int) -> None:
        self.request_hash: Final = request_hash
        self.status: Final = status
        self.batch_id: Final = batch_id


def placed_in_batch_data(
    leg: dict[str, Any], user_id: int, at: int, batch_id: int
) -> dict[str, Any]:
    """``OrderPlacedInBatch``'s stored data for a leg of the batch ``batch_id`` of ``user_id``
    at ``at``, as ``stored_leg`` gave it: the leg with its ``user_id`` and ``at``, and the
    ``batch_id`` (``PLACED_DEFAULTS`` values left out)."""
    data = {"symbol": leg["symbol"], "order_id": leg["order_id"], "user_id": user_id}
    data.update(leg)  # (the keys already there keep their place: ``FIELDS`` order)
    data.setdefault("at", at)  # (a leg names its own only if it is not the batch's)
    data["batch_id"] = batch_id
    return data


register(
    UserRegistered,
    UsernameClaimed,
    ApiKeyIssued,
    InstrumentListed,
    OrderPlacedInBatch,
    ClientOrderIdClaimed,
    IdempotentResponseRecorded,
    IdempotentBatchResponseRecorded,
)
