"""The matching worker's wire formats, without the intermediate objects: Kafka message bytes →
engine command, engine events → the store's encoded rows.

The reference path, which stays the spec, is the domain's and the store's own: a message becomes
a :class:`~event_store.model.RecordedEvent` (``event_from_message``), then a request event
(``event_from_dict``) and its ``to_command()``; an output becomes ``to_dict()`` + ``NewEvent``
(a UUID, a frozen dataclass) and is encoded by ``encode_append``. Per input that was ~5 objects
in and ~4 per output event out, most of the worker's Python time. Here:

* :func:`input_from_message` keeps only what the worker uses of a message (position, stream
  version, event id, correlation id) and builds the two commonest commands (``OrderPlaced`` →
  ``NewOrder``, ``CancelRequested`` → ``CancelOrder``) straight from the JSON; every other
  request, or one whose fields are not exactly the request's, goes through the reference
  (:func:`~workers.matching.shard.request_command`). Upcasters run on the data first, so an old
  schema version reaches the engine upcast as on the reference path.
* :class:`OutputRows` encodes each engine event into the row tuple ``encode_append`` would have
  made (same event type, same JSON bytes of ``to_dict()``, same metadata), grouped by stream
  like the worker's appends, with text-only event ids.

``tests/unit/workers/test_matching_codec.py`` holds both against the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import islice
from operator import attrgetter, itemgetter
from typing import Any, Final, NamedTuple

import orjson

from domain import streams
from domain.commands import CancelOrder, Command, NewOrder
from domain.events import Event
from domain.order_events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderReduced,
    TradeExecuted,
)
from domain.order_requests import CancelRequested, OrderPlaced
from domain.rejections import AmendRejected, BatchRejected, CancelRejected, OrderRejected
from event_store.ids import new_event_id_text
from event_store.model import ANY, RecordedEvent
from event_store.outbox import ORDER_SYMBOL
from event_store.planning import (
    NEW_SCHEMA_VERSION,
    EncodedAppend,
    EncodedEvent,
    EncodedStream,
    json_bytes,
)
from event_store.upcasting import Upcasters
from workers.matching.shard import request_command

ACTOR: Final = "matching"
SCHEMA_VERSION: Final = NEW_SCHEMA_VERSION
"""The schema version of every event the worker appends (``NewEvent``'s default)."""


class EngineInput(NamedTuple):
    """What the worker uses of one orders-topic message."""

    position: int
    stream_id: str
    stream_version: int
    event_id: str
    """The input's event id as text: the ``causation_id`` of its outputs."""
    correlation_id: Any
    command: Command | None
    """``None``: not an engine input (no ``order_symbol`` in its metadata)."""


# --- inputs -------------------------------------------------------------------------------------


def _new_order(data: dict[str, Any]) -> Command:
    return NewOrder(
        data["symbol"],
        data["order_id"],
        data["user_id"],
        data["side"],
        data["order_type"],
        data["price"],
        data["quantity"],
        data["time_in_force"],
        data["at"],
        data["post_only"],
        data["max_notional"],
        data["expires_at"],
    )


def _cancel_order(data: dict[str, Any]) -> Command:
    return CancelOrder(data["symbol"], data["order_id"], data["user_id"], data["at"])


_FAST_COMMANDS: Final[dict[str, tuple[frozenset[str], Callable[[dict[str, Any]], Command]]]] = {
    "OrderPlaced": (frozenset(OrderPlaced.FIELDS), _new_order),
    "CancelRequested": (frozenset(CancelRequested.FIELDS), _cancel_order),
}
"""Per request type: its exact field names and the command built from them (what the request's
``to_command()`` gives)."""

_NO_UPCASTERS: Final = Upcasters()
_loads: Final = orjson.loads


def command_of(event_type: str, data: dict[str, Any], position: int) -> Command:
    """The engine command of a request: built directly for the commonest two, else the
    reference's."""
    fast = _FAST_COMMANDS.get(event_type)
    if fast is not None and data.keys() == fast[0]:
        return fast[1](data)
    return request_command(event_type, data, position)


def input_from_message(value: bytes, upcasters: Upcasters = _NO_UPCASTERS) -> EngineInput:
    """An orders-topic message value (``event_store.outbox``'s format) as an engine input."""
    raw = _loads(value)
    metadata = raw["metadata"]
    command: Command | None = None
    if ORDER_SYMBOL in metadata:
        event_type = raw["type"]
        _, data = upcasters.upcast(event_type, raw["schema_version"], raw["data"])
        command = command_of(event_type, data, raw["position"])
    return EngineInput(
        raw["position"],
        raw["stream_id"],
        raw["stream_version"],
        raw["event_id"],
        metadata.get("correlation_id"),
        command,
    )


def input_from_event(event: RecordedEvent) -> EngineInput:
    """A stored (already upcast) event as an engine input: the reference path's decoding."""
    command = None
    if ORDER_SYMBOL in event.metadata:
        command = request_command(event.type, event.data, event.position)
    return EngineInput(
        event.position,
        event.stream_id,
        event.stream_version,
        str(event.event_id),
        event.metadata.get("correlation_id"),
        command,
    )


# --- outputs ------------------------------------------------------------------------------------

PLAIN_OUTPUTS: Final[tuple[type[Event], ...]] = (
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderReduced,
    OrderAmended,
    OrderRejected,
    CancelRejected,
    AmendRejected,
)
"""Outputs whose fields are all ``int``/``str``/``bool``/``None``: ``to_dict()`` is the field
names zipped with the values, which one C-level getter reads."""

_dumps: Final = orjson.dumps


class _Spliced(NamedTuple):
    """How to write one record type's JSON object from orjson's JSON array of some values.

    orjson encodes a value the same inside an array as inside an object, and the only commas of
    an array of plain values are its separators unless a string holds one. So when the array of
    ``n`` values has ``n - 1`` commas, splitting it there gives each value's exact JSON, and
    ``template % parts`` (the keys written once, in ``FIELDS`` order) gives the bytes
    ``orjson.dumps(to_dict())`` would, without building a dict per event (a third of the
    cost). Any other array (a comma in a string) takes the dict path: same bytes. The result is
    a new object of its own size, not orjson's shrunk buffer, so the thousands of rows a batch
    keeps until it commits do not fragment the heap (``event_store.planning.json_bytes``).
    """

    values: Callable[[Any], tuple[Any, ...]]
    commas: int
    template: bytes


def _template(fields: Sequence[str], sources: Sequence[str | bytes]) -> bytes:
    """``{"field":%s,...}`` (as bytes), or a constant's JSON where ``sources`` has bytes."""
    if not all(name.isidentifier() for name in fields):  # keys written unescaped
        raise ValueError(f"field names must be identifiers: {fields}")
    members = [
        f'"{name}":{source.decode() if isinstance(source, bytes) else "%s"}'
        for name, source in zip(fields, sources, strict=True)
    ]
    return ("{" + ",".join(members) + "}").encode()


def _spliced(cls: type[Event]) -> _Spliced:
    fields = cls.FIELDS
    return _Spliced(attrgetter(*fields), len(fields) - 1, _template(fields, fields))


_SPLICED: Final = {cls: _spliced(cls) for cls in PLAIN_OUTPUTS}
_TRADE: Final = _spliced(TradeExecuted)
_FILL_FIELDS: Final = OrderFilled.FIELDS


def _fill_template(liquidity: str, side: str) -> tuple[bytes, Callable[[Any], tuple[Any, ...]]]:
    """The template of one side's ``OrderFilled`` (``TradeExecuted.fills()``) and the getter
    of its values from the split trade array: a field the trade has by name, else the role's
    (``order_id`` ← ``taker_order_id``); ``side`` and ``liquidity`` are constants here."""
    constants = {"side": _dumps(side), "liquidity": _dumps(liquidity)}
    sources: list[str | bytes] = [constants.get(name, name) for name in _FILL_FIELDS]
    indexes = [
        TradeExecuted.FIELDS.index(s if s in TradeExecuted.FIELDS else f"{liquidity}_{s}")
        for s in sources
        if isinstance(s, str)
    ]
    return _template(_FILL_FIELDS, sources), itemgetter(*indexes)


def _fill_templates(taker_side: str, maker_side: str) -> tuple[Any, ...]:
    return (*_fill_template("taker", taker_side), *_fill_template("maker", maker_side))


_FILLS: Final = {
    _dumps("buy"): _fill_templates("buy", "sell"),
    _dumps("sell"): _fill_templates("sell", "buy"),
}
"""Per taker side as JSON: (taker's template, its getter, maker's template, its getter)."""


def fill_data(trade: TradeExecuted) -> tuple[bytes, bytes]:
    """The JSON of the trade's two ``OrderFilled`` (taker's, maker's): what ``fills()`` and
    ``to_dict()`` give, without building the two events (spliced, see :class:`_Spliced`)."""
    raw = _dumps(_TRADE.values(trade))
    if raw.count(b",") == _TRADE.commas:
        parts = raw[1:-1].split(b",")
        fills = _FILLS.get(parts[4])  # the taker's side
        if fills is not None:
            taker_template, taker_values, maker_template, maker_values = fills
            return taker_template % taker_values(parts), maker_template % maker_values(parts)
    taker, maker = trade.fills()
    return json_bytes(taker.to_dict()), json_bytes(maker.to_dict())


def event_data(event: Event) -> bytes:
    """The JSON of ``event.to_dict()`` (spliced for the plain outputs, see :class:`_Spliced`)."""
    spliced = _SPLICED.get(type(event))
    if spliced is not None:
        values, commas, template = spliced
        raw = _dumps(values(event))
        if raw.count(b",") == commas:
            return template % tuple(raw[1:-1].split(b","))
    return json_bytes(event.to_dict())


def metadata_of(correlation_id: Any, causation_id: str) -> bytes:
    """The JSON metadata of the outputs of one input."""
    # Kept in the rows until the batch commits: a buffer of its own size (``json_bytes``).
    return json_bytes(
        {"correlation_id": correlation_id, "causation_id": causation_id, "actor": ACTOR}
    )


class OutputRows:
    """One batch's outputs as encoded rows, grouped by stream in order of first appearance."""

    __slots__ = ("_by_stream", "_event_ids")

    def __init__(self) -> None:
        self._by_stream: dict[str, list[EncodedEvent]] = {}
        self._event_ids: list[str] = []

    def add(self, outputs: Sequence[Event], metadata: bytes) -> None:
        """Route the engine's events of one input: each to its order's stream, a trade as both
        orders' fills, a refused batch to its batch stream (``workers/README.md``)."""
        order_stream = streams.order
        for output in outputs:
            cls = type(output)
            if cls is TradeExecuted:
                trade: Any = output
                taker, maker = fill_data(trade)
                self._add(order_stream(trade.taker_order_id), "OrderFilled", taker, metadata)
                self._add(order_stream(trade.maker_order_id), "OrderFilled", maker, metadata)
            elif cls is BatchRejected:
                batch: Any = output
                data = event_data(output)
                self._add(streams.batch(batch.batch_id), "BatchRejected", data, metadata)
            else:
                order: Any = output  # every other output is about one order
                data = event_data(output)
                self._add(order_stream(order.order_id), cls.__name__, data, metadata)

    def _add(self, stream_id: str, event_type: str, data: bytes, metadata: bytes) -> None:
        event_id = new_event_id_text()
        self._event_ids.append(event_id)
        row = (event_id, event_type, SCHEMA_VERSION, data, metadata)
        found = self._by_stream.get(stream_id)
        if found is None:
            self._by_stream[stream_id] = [row]
        else:
            found.append(row)

    @property
    def stream_count(self) -> int:
        """How many streams have rows so far."""
        return len(self._by_stream)

    def stream_ids(self, skip: int = 0) -> list[str]:
        """The streams with rows, in order of first appearance, after the first ``skip``."""
        return list(islice(self._by_stream, skip, None))

    def append(self, stream_id: str, expected_version: int, row: EncodedEvent) -> EncodedAppend:
        """The batch's append: every output stream (expected version ANY), then ``stream_id``
        with one more event (the worker's checkpoint) at ``expected_version``."""
        streams = [
            EncodedStream(s, ANY, tuple(events), None) for s, events in self._by_stream.items()
        ]
        streams.append(EncodedStream(stream_id, expected_version, (row,), None))
        return EncodedAppend(tuple(streams), (*self._event_ids, row[0]), None)
