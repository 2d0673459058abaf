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
from operator import attrgetter
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
from event_store.planning import NEW_SCHEMA_VERSION, EncodedAppend, EncodedEvent, EncodedStream
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

_PLAIN_OUTPUTS: Final = (
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

_DATA: Final[dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]]] = {
    cls: (cls.FIELDS, attrgetter(*cls.FIELDS)) for cls in _PLAIN_OUTPUTS
}
_FILL_FIELDS: Final = OrderFilled.FIELDS
_dumps: Final = orjson.dumps


def fill_data(trade: TradeExecuted) -> tuple[bytes, bytes]:
    """The JSON of the trade's two ``OrderFilled`` (taker's, maker's): what ``fills()`` and
    ``to_dict()`` give, without building the two events."""
    t = trade
    maker_side = "sell" if t.taker_side == "buy" else "buy"
    taker = (t.symbol, t.taker_order_id, t.taker_user_id, t.trade_id, t.taker_side, t.price,
             t.quantity, t.taker_remaining, "taker", t.at)  # fmt: skip
    maker = (t.symbol, t.maker_order_id, t.maker_user_id, t.trade_id, maker_side, t.price,
             t.quantity, t.maker_remaining, "maker", t.at)  # fmt: skip
    return (
        _dumps(dict(zip(_FILL_FIELDS, taker, strict=True))),
        _dumps(dict(zip(_FILL_FIELDS, maker, strict=True))),
    )


def event_data(event: Event) -> bytes:
    """The JSON of ``event.to_dict()``."""
    plain = _DATA.get(type(event))
    if plain is None:
        return _dumps(event.to_dict())
    fields, values = plain
    return _dumps(dict(zip(fields, values(event), strict=True)))


def metadata_of(correlation_id: Any, causation_id: str) -> bytes:
    """The JSON metadata of the outputs of one input."""
    return _dumps({"correlation_id": correlation_id, "causation_id": causation_id, "actor": ACTOR})


class OutputRows:
    """One batch's outputs as encoded rows, grouped by stream in order of first appearance."""

    __slots__ = ("_by_stream", "_event_ids")

    def __init__(self) -> None:
        self._by_stream: dict[str, list[EncodedEvent]] = {}
        self._event_ids: list[str] = []

    def add(self, outputs: Sequence[Event], metadata: bytes) -> None:
        """Route the engine's events of one input: each to its order's stream, a trade as both
        orders' fills, a refused batch to its batch stream (``workers/README.md``)."""
        by_stream = self._by_stream
        event_ids = self._event_ids
        order_stream = streams.order
        for output in outputs:
            cls = type(output)
            rows: tuple[tuple[str, str, bytes], ...]
            if cls is TradeExecuted:
                trade: Any = output
                taker, maker = fill_data(trade)
                rows = (
                    (order_stream(trade.taker_order_id), "OrderFilled", taker),
                    (order_stream(trade.maker_order_id), "OrderFilled", maker),
                )
            elif cls is BatchRejected:
                batch: Any = output
                rows = ((streams.batch(batch.batch_id), "BatchRejected", event_data(output)),)
            else:
                order: Any = output  # every other output is about one order
                rows = ((order_stream(order.order_id), cls.__name__, event_data(output)),)
            for stream_id, event_type, data in rows:
                event_id = new_event_id_text()
                event_ids.append(event_id)
                found = by_stream.get(stream_id)
                if found is None:
                    found = by_stream[stream_id] = []
                found.append((event_id, event_type, SCHEMA_VERSION, data, metadata))

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
