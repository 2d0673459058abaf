"""Compact stored forms of the orders and accounts read models: JSON arrays, not objects.

Redis's CPU per order follows the bytes the projector sends it (each is parsed, stored and
written again to the AOF), and half of those bytes were field names: an order document as an
object was ~450 bytes, each lifecycle entry repeated its event's field names and each ledger
entry its own. The stored forms here are arrays in a fixed field order; the readers rebuild the
same dicts, so what the query API answers is unchanged. Every decoder still reads the object
forms written before (a projection written by an older projector needs no rebuild).

An order's lifecycle entries sit in its document, after its fields (``[*fields, [entries]]``):
one key and one write per order and batch, where a list beside it (``oe:<order_id>``, one
``RPUSH`` per order and batch, ~2.6 per order live) cost Redis more than the bytes the
document now repeats. A document stored without them (fields only, or the object form) keeps
its lifecycle in that list: the fold appends there for such an order and the readers read it.

Lifecycle entries name their event's shape by a number: :data:`EVENT_SHAPES` is append-only
(a stored number must keep meaning what it meant). An event whose type and field names match
no shape is stored whole, so an event class that changes its fields stays correct - only larger
until its new shape is appended here. Nor does an entry repeat its order's symbol, id and user
id (the order's document holds them; the reader has it), nor, when it sits in its order's
document, any other value that document holds for good (:data:`FROM_DOCUMENT`: the side, type,
time in force, client order id, batch, placement time, ...): a placement's entry was ~107 bytes,
written again with its document ~2.4 times per order; the number then says which fields the
document supplies (:func:`encode_lifecycle`).
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Final

import orjson

ORDER_FIELDS: Final = (
    "order_id",
    "user_id",
    "client_order_id",
    "symbol",
    "side",
    "type",
    "time_in_force",
    "post_only",
    "price",
    "quantity",
    "filled",
    "remaining",
    "notional",
    "status",
    "reason",
    "created_at",
    "updated_at",
    "position",
    "batch_id",
    "caused_by",
)
"""An order document's fields, in their stored order (append new ones at the end; the
lifecycle entries, a list, follow them)."""

LEDGER_FIELDS: Final = ("position", "asset", "delta", "balance_after", "kind", "ref", "at")
"""A ledger entry's fields, in their stored order (append new ones at the end)."""

_ORDER: Final = ("symbol", "order_id", "user_id")
_PLACED: Final = (
    *_ORDER,
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
EVENT_SHAPES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("OrderPlaced", _PLACED),
    ("OrderPlacedInBatch", (*_PLACED, "batch_id")),
    ("OrderAccepted", (*_PLACED[:9], "at")),
    (
        "OrderFilled",
        (*_ORDER, "trade_id", "side", "price", "quantity", "remaining", "liquidity", "at"),
    ),
    ("OrderCancelled", (*_ORDER, "quantity", "reason", "at")),
    ("OrderExpired", (*_ORDER, "quantity", "reason", "at")),
    ("OrderRejected", (*_ORDER, "reason", "at")),
    ("CancelRequested", (*_ORDER, "at")),
    ("CancelRejected", (*_ORDER, "reason", "at")),
    ("AmendRequested", (*_ORDER, "quantity", "price", "at")),
    ("AmendRejected", (*_ORDER, "reason", "at")),
    ("OrderReduced", (*_ORDER, "quantity", "remaining", "reason", "at")),
    ("OrderAmended", (*_ORDER, "price", "quantity", "remaining", "priority_kept", "at")),
)
"""Lifecycle event shapes (type, field names in order) by their stored number. Append only."""

REF_SHAPES: Final = (
    ("event",),
    ("event", "symbol"),
    ("event", "symbol", "trade_id", "order_id"),
    ("event", "symbol", "trade_id", "order_id", "side", "fee"),
)
"""The field names of a ledger entry's ``ref`` (``projections/accounts.py``) by their stored
number. Append only; a ``ref`` of other fields is stored whole."""

FROM_DOCUMENT: Final = {
    "symbol": "symbol",
    "order_id": "order_id",
    "user_id": "user_id",
    "side": "side",
    "order_type": "type",
    "time_in_force": "time_in_force",
    "post_only": "post_only",
    "client_order_id": "client_order_id",
    "batch_id": "batch_id",
    "at": "created_at",
}
"""Event fields an entry may leave to its order's document: the document's field that holds
the same value, set at placement and never changed after (``projections/orders.py``)."""

SHAPE_BITS: Final = 6
"""Bits of an entry's number naming its shape (the others say which fields its document
supplies): :data:`EVENT_SHAPES` stays below 64 shapes (a test says so)."""

_REF_NUMBERS: Final = {names: number for number, names in enumerate(REF_SHAPES)}
_SHAPE_NUMBERS: Final = {shape: number for number, shape in enumerate(EVENT_SHAPES)}
_order_values: Final = itemgetter(*ORDER_FIELDS)
_owner: Final = itemgetter(*_ORDER)
"""An order document's (symbol, order_id, user_id): the first fields of every event shape."""
_SUPPLIED: Final = tuple(
    tuple(
        (index, FROM_DOCUMENT[name])
        for index, name in enumerate(names)
        if name in FROM_DOCUMENT and index >= 3
    )
    for _, names in EVENT_SHAPES
)
"""Per shape: (field index, document field) of the fields past the owner's three (every
shape's first, always supplied: :data:`_OWNER_MASK`) a document may supply."""
_OWNER_MASK: Final = 0b111
_PLANS: Final = {
    kind: (number, names, tuple(FROM_DOCUMENT.get(name) for name in names))
    for number, (kind, names) in enumerate(EVENT_SHAPES)
}
"""Per event type (each has one shape): its shape number, field names, and per field the
document field that may supply it (``None``: none), the owner's three included."""
_SCALARS: Final = (str, int, bool, type(None))
_MISSING: Final = object()
_dumps: Final = orjson.dumps
_loads: Final = orjson.loads


def encode_order(state: dict[str, Any]) -> bytes:
    """An order document (the fold's state) as stored: its fields, then its lifecycle
    entries (``state["lifecycle"]``, encoded ones) unless it keeps them in a list (``None``)."""
    fields = _dumps(_order_values(state))
    lifecycle: list[bytes] | None = state.get("lifecycle")
    if lifecycle is None:
        return fields
    return b"%b,[%b]]" % (fields[:-1], b",".join(lifecycle))


def decode_order(raw: bytes | str) -> dict[str, Any]:
    """An order document as :func:`encode_order` (or the object form before it) stored it;
    ``"lifecycle"``: its entries as stored (see :func:`lifecycle_entry`), or ``None`` for a
    document whose lifecycle is in its ``oe:`` list."""
    found = _loads(raw)
    if isinstance(found, dict):
        state = {name: found.get(name) for name in ORDER_FIELDS}  # (older ones lack caused_by)
        state["lifecycle"] = None
        return state
    lifecycle = found[-1]
    if isinstance(lifecycle, list):  # (no field of an order is a list)
        state = dict(zip(ORDER_FIELDS, found[:-1], strict=True))
        state["lifecycle"] = lifecycle
        return state
    state = dict(zip(ORDER_FIELDS, found, strict=True))
    state["lifecycle"] = None
    return state


def load_order(raw: bytes | str) -> dict[str, Any]:
    """A stored order document as the fold keeps it: :func:`decode_order` with its lifecycle
    entries encoded again (the fold writes them back as they are)."""
    state = decode_order(raw)
    lifecycle = state["lifecycle"]
    if lifecycle is not None:
        state["lifecycle"] = [_dumps(entry) for entry in lifecycle]
    return state


def encode_lifecycle(
    position: int, kind: str, data: dict[str, Any], cause: Any, order: dict[str, Any]
) -> bytes:
    """One lifecycle entry of ``order`` (its document's state): ``[position, ~shape number,
    cause, *values]`` without the order's own symbol, order id and user id (the first three
    fields of every shape), or ``[position, shape number, cause, *values]`` if they differ, or
    ``[position, type, cause, data]`` for an event of no known shape.

    An entry that goes into its order's document (``order["lifecycle"]`` is a list) leaves out
    every value that document holds for good (:data:`FROM_DOCUMENT`, the same scalar of the
    same type): ``[position, ~(shape number | supplied << SHAPE_BITS), cause, *the others]``,
    ``supplied`` a bit per field of the shape the reader takes from the document (the owner's
    three included: ``~shape number`` alone means just those).

    The entries of the live fold (a known shape, its own order, a document at hand) take one
    pass over ``data`` (:data:`_PLANS`); any other goes the general way
    (:func:`_encode_general`), to the same bytes: the pass built a key tuple for the shape's
    look-up, a list of the values and slices of it, 14.7k instructions an entry, ~40 % of the
    orders fold's (callgrind, the pipeline's messages)."""
    plan = _PLANS.get(kind)
    if plan is None or order.get("lifecycle") is None:
        return _encode_general(position, kind, data, cause, order)
    number, names, fields = plan
    if len(data) != len(names):
        return _encode_general(position, kind, data, cause, order)
    kept: list[Any] = [position, 0, cause]
    mask = 0
    for index, (name, value) in enumerate(data.items()):
        if name != names[index]:
            return _encode_general(position, kind, data, cause, order)
        field = fields[index]
        if field is not None:
            if _held_for_good(value, order.get(field, _MISSING)):
                mask |= 1 << index
                continue
            if index < 3:  # (another order's owner, or not the same scalar: the general way)
                return _encode_general(position, kind, data, cause, order)
        kept.append(value)
    kept[1] = ~(number | mask << SHAPE_BITS)
    return _dumps(kept)


def _held_for_good(value: Any, held: Any) -> bool:
    """Whether an entry's ``value`` is what its document ``held``: the same object (a
    placement's: the document's own values) or the same scalar of the same type."""
    return value is held or (
        value == held and type(value) is type(held) and isinstance(value, _SCALARS)
    )


def _encode_general(
    position: int, kind: str, data: dict[str, Any], cause: Any, order: dict[str, Any]
) -> bytes:
    """:func:`encode_lifecycle` of any entry."""
    number = _SHAPE_NUMBERS.get((kind, tuple(data)))
    if number is None:
        return _dumps([position, kind, cause, data])
    values = list(data.values())
    if (values[0], values[1], values[2]) != _owner(order):
        return _dumps([position, number, cause, *values])
    if order.get("lifecycle") is None:  # (an entry of an ``oe:`` list, or no document at hand)
        values[:3] = (position, ~number, cause)  # (in place: no second list)
        return _dumps(values)
    mask = _OWNER_MASK
    kept: list[Any] = [position, 0, cause]
    start = 3
    for index, name in _SUPPLIED[number]:
        value = values[index]
        if _held_for_good(value, order.get(name, _MISSING)):
            kept += values[start:index]
            start = index + 1
            mask |= 1 << index
    kept += values[start:]
    kept[1] = ~(number | mask << SHAPE_BITS)
    return _dumps(kept)


def decode_lifecycle(raw: bytes | str, order: dict[str, Any]) -> dict[str, Any]:
    """``{"position","type","data","causation_id"}`` of a stored lifecycle entry of ``order``
    (its decoded document)."""
    return lifecycle_entry(_loads(raw), order)


def lifecycle_entry(found: Any, order: dict[str, Any]) -> dict[str, Any]:
    """:func:`decode_lifecycle` of an entry already parsed (one of a document's)."""
    if isinstance(found, dict):
        return found
    position, shape, cause = found[0], found[1], found[2]
    if isinstance(shape, str):
        return {"position": position, "type": shape, "data": found[3], "causation_id": cause}
    values = found[3:]
    if shape >= 0:
        kind, names = EVENT_SHAPES[shape]
        data = dict(zip(names, values, strict=True))
    else:
        code = ~shape
        shape, supplied = code & (1 << SHAPE_BITS) - 1, code >> SHAPE_BITS
        kind, names = EVENT_SHAPES[shape]
        if supplied:
            if len(values) + supplied.bit_count() != len(names):
                shown = f"lifecycle entry {found!r}"
                raise ValueError(f"{shown}: not the {len(names)} fields of {kind}")
            data = _with_supplied(names, values, supplied, order)
        else:  # (``~shape number``: the owner's three only)
            data = dict(zip(names, [*_owner(order), *values], strict=True))
    return {"position": position, "type": kind, "data": data, "causation_id": cause}


def _with_supplied(
    names: tuple[str, ...], values: list[Any], supplied: int, order: dict[str, Any]
) -> dict[str, Any]:
    """An entry's data: the fields whose bit is set in ``supplied`` from its document, the
    others from ``values`` in order."""
    data = {}
    at = 0
    for index, name in enumerate(names):
        if supplied >> index & 1:
            data[name] = order[FROM_DOCUMENT[name]]
        else:
            data[name] = values[at]
            at += 1
    return data


def encode_ledger(
    position: int, asset: str, delta: int, balance_after: int, kind: str, ref: Any, at: int
) -> str:
    """A ledger entry as stored (a zset member: text): its values in :data:`LEDGER_FIELDS`
    order, ``ref`` as ``[shape number, *values]`` if its fields are one of :data:`REF_SHAPES`."""
    number = _REF_NUMBERS.get(tuple(ref))
    if number is not None:
        ref = [number, *ref.values()]
    return _dumps((position, asset, delta, balance_after, kind, ref, at)).decode()


def decode_ledger(raw: bytes | str) -> dict[str, Any]:
    """A ledger entry as :func:`encode_ledger` (or the object form before it) stored it."""
    found = _loads(raw)
    if isinstance(found, dict):
        return found
    entry = dict(zip(LEDGER_FIELDS, found, strict=True))
    ref = entry["ref"]
    if isinstance(ref, list):
        entry["ref"] = dict(zip(REF_SHAPES[ref[0]], ref[1:], strict=True))
    return entry
