"""Folds that rebuild an account or an order from its stored events.

The command API decides on them, and so do the workers; they live here because they are domain
knowledge, not HTTP. A stored event is anything with ``type``, ``data``, ``stream_version`` and
``position`` (the event store's ``RecordedEvent`` is one): the domain never imports the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from domain import streams
from domain.account import Account
from domain.account_events import (
    ACCOUNT_EVENTS,
    BatchFundsReserved,
    FeesCollected,
    FeesNetted,
    FundsDeposited,
    FundsReleased,
    FundsReserved,
    FundsWithdrawn,
    TradeSettled,
)
from domain.events import Event, event_from_dict
from domain.order_events import (
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderReduced,
)
from domain.order_requests import CancelRequested, OrderPlaced
from domain.rejections import OrderRejected


class StoredEvent(Protocol):
    """The parts of a stored event the folds read."""

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...

    @property
    def stream_version(self) -> int: ...

    @property
    def position(self) -> int: ...


ACCOUNT_EVENT_TYPES: Final = frozenset(cls.__name__ for cls in ACCOUNT_EVENTS)
"""The event types of an ``account-<user_id>`` stream."""

ORDER_CLOSING_EVENT_TYPES: Final = frozenset(
    cls.__name__ for cls in (OrderCancelled, OrderExpired, OrderRejected)
)
"""Events after which an order has nothing open (a fill with ``remaining == 0`` too)."""

ORDER_PLACED_EVENT_TYPES: Final = frozenset({OrderPlaced.__name__, streams.ORDER_PLACED_IN_BATCH})
"""The first event of every ``order-<order_id>`` stream."""

_FILLED: Final = OrderFilled.__name__
_AMENDED: Final = OrderAmended.__name__
_CANCEL_REQUESTED: Final = CancelRequested.__name__
_REDUCED: Final = OrderReduced.__name__
_CLOSED_STATUS: Final = {
    OrderCancelled.__name__: "cancelled",
    OrderExpired.__name__: "expired",
    OrderRejected.__name__: "rejected",
}
_FINAL: Final = frozenset(_CLOSED_STATUS.values())


def account_event(event: StoredEvent) -> Event | None:
    """The domain event a stored account event holds (``None`` for any other type)."""
    if event.type not in ACCOUNT_EVENT_TYPES:
        return None
    return event_from_dict(event.type, event.data)


def fold_account(account: Account, events: Iterable[StoredEvent]) -> int:
    """Apply stored account events to ``account``; the last stream version seen (0 if none)."""
    version = 0
    for recorded in events:
        domain_event = account_event(recorded)
        if domain_event is not None:
            account.apply(domain_event)
        version = recorded.stream_version
    return version


_RESERVED: Final = (FundsReserved.__name__, frozenset(FundsReserved.FIELDS))
_SETTLED: Final = (TradeSettled.__name__, frozenset(TradeSettled.FIELDS))
_RELEASED: Final = (FundsReleased.__name__, frozenset(FundsReleased.FIELDS))
_BATCH_RESERVED: Final = (BatchFundsReserved.__name__, frozenset(BatchFundsReserved.FIELDS))
_CREDITS: Final = {
    cls.__name__: (frozenset(cls.FIELDS), sign)
    for cls, sign in (
        (FundsDeposited, 1),
        (FundsWithdrawn, -1),
        (FeesCollected, 1),
        (FeesNetted, 1),
    )
}


def fold_account_data(account: Account, events: Iterable[StoredEvent]) -> int:
    """:func:`fold_account` without building the domain events: each stored event's data goes
    straight to the account's effect of its type (``Account.reserved`` ...).

    A worker folds every reservation the command API appended into the accounts it caches, one
    event object, a field check and an ``isinstance`` chain each on the reference path. Data
    whose fields are not exactly its type's goes through the reference (which refuses it), so
    both folds agree on every input (``tests/unit/domain/test_fold_account_data.py``).
    """
    version = 0
    reserved_type, reserved_fields = _RESERVED
    settled_type, settled_fields = _SETTLED
    released_type, released_fields = _RELEASED
    batch_type, batch_fields = _BATCH_RESERVED
    credits = _CREDITS
    for recorded in events:
        kind = recorded.type
        d = recorded.data
        keys = d.keys()
        if kind == reserved_type and keys == reserved_fields:
            account.reserved(d["asset"], d["amount"], d["order_id"], d["symbol"], d["side"])
            account.version += 1
        elif kind == settled_type and keys == settled_fields:
            account.settled(
                d["currency"], d["symbol"], d["side"], d["order_id"], d["hold_used"],
                d["cash_delta"], d["shares_delta"],
            )  # fmt: skip
            account.version += 1
        elif kind == released_type and keys == released_fields:
            account.released(d["asset"], d["amount"], d["order_id"])
            account.version += 1
        elif kind == batch_type and keys == batch_fields:
            for asset, amount, order_id, symbol, side in d["holds"]:
                account.reserved(asset, amount, order_id, symbol, side)
            account.version += 1
        elif kind in credits and keys == credits[kind][0]:
            account.credited(d["asset"], credits[kind][1] * d["amount"])
            account.version += 1
        else:
            domain_event = account_event(recorded)
            if domain_event is not None:
                account.apply(domain_event)
        version = recorded.stream_version
    return version


class DecidedEvent(Protocol):
    """An account event a decision applied (the store's ``NewEvent`` is one)."""

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> Any: ...


UNDOABLE_TYPES: Final = frozenset({FundsReserved.__name__, _BATCH_RESERVED[0], *_CREDITS})
"""The account events :func:`unfold_account_data` takes back: what a decision of the command API
applies (reservations, deposits, withdrawals; fee credits for completeness)."""


def unfold_account_data(account: Account, decided: Sequence[DecidedEvent], assets: int) -> bool:
    """Take ``decided`` (applied to ``account`` in this order) back out of it, latest first, so
    it is exactly what it was before them; ``False`` (and nothing changed) if one of them is of a
    type that cannot be taken back (see ``UNDOABLE_TYPES``).

    The command API decides on the account it caches and appends the decision afterwards; when
    the append fails, taking the decision back costs as much as the decision did, where copying
    the account cost as much as its open orders (thousands for a market maker). ``assets`` is
    how many balances the account had before: a deposit may have opened the one it credits.
    A reservation is released (the hold closed if it opened it), a credit debited.
    """
    if any(event.type not in UNDOABLE_TYPES for event in decided):
        return False
    reserved_type, batch_type = _RESERVED[0], _BATCH_RESERVED[0]
    for event in reversed(decided):
        d = event.data
        if event.type == reserved_type:
            account.released(d["asset"], d["amount"], d["order_id"])
        elif event.type == batch_type:
            for asset, amount, order_id, *_ in reversed(d["holds"]):
                account.released(asset, amount, order_id)
        else:
            account.credited(d["asset"], -_CREDITS[event.type][1] * d["amount"])
        account.version -= 1
    balances = account.balances
    while len(balances) > assets:
        balances.popitem()  # (the newest: dicts keep their order of insertion)
    return True


@dataclass(slots=True)
class OrderView:
    """What cancel, amend and settlement need to know about an order, folded from its stream."""

    order_id: int
    user_id: int
    symbol: str
    side: str
    order_type: str
    price: int | None
    quantity: int
    client_order_id: str | None
    placed_position: int
    version: int = 0
    filled: int = 0
    closed: bool = False
    cancel_position: int | None = None
    status: str = "accepted"
    """``accepted``, ``partially_filled``, ``filled``, ``cancelled``, ``expired``, ``rejected``."""
    remaining: int = -1
    """What is open (``quantity`` until the engine says otherwise)."""
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.remaining < 0:
            self.remaining = self.quantity


def fold_order(events: Sequence[StoredEvent]) -> OrderView | None:
    """The order's current view, or ``None`` when its stream holds no placement."""
    if not events or events[0].type not in ORDER_PLACED_EVENT_TYPES:
        return None
    first = events[0].data
    view = OrderView(
        int(first["order_id"]),
        int(first["user_id"]),
        first["symbol"],
        first["side"],
        first["order_type"],
        first["price"],
        int(first["quantity"]),
        first.get("client_order_id"),
        events[0].position,
    )
    for event in events:
        apply_order_event(view, event)
    return view


def apply_order_event(view: OrderView, event: StoredEvent) -> None:
    """Evolve an order's view by one stored event of its stream."""
    view.version = event.stream_version
    data = event.data
    kind = event.type
    if kind in ORDER_CLOSING_EVENT_TYPES:
        view.closed = True
        view.remaining = 0
        view.status = _CLOSED_STATUS[kind]
        view.reason = data.get("reason")
    elif kind == _FILLED:
        view.filled += int(data["quantity"])
        view.remaining = int(data["remaining"])
        view.closed = view.closed or view.remaining == 0
        if not view.closed or view.status not in _FINAL:
            view.status = "partially_filled" if view.remaining else "filled"
    elif kind == _AMENDED:
        view.price, view.quantity = data["price"], int(data["quantity"])
        view.remaining = int(data["remaining"])
    elif kind == _REDUCED:
        view.remaining = int(data["remaining"])
    elif event.type == _CANCEL_REQUESTED and view.cancel_position is None:
        view.cancel_position = event.position
