"""The events table read as an outbox: what the relay publishes, where, and in which form.

Routing rule
    * Every event goes to the events topic (``EXCHANGE_EVENTS_TOPIC``), keyed by its
      ``stream_id`` (consumers see each stream in version order), except the bookkeeping of
      :data:`OFF_EVENTS_TOPIC`'s streams, which no events-topic consumer reads.
    * An event whose metadata holds ``"order_symbol": "<SYMBOL>"`` (see :func:`order_route`)
      goes to the orders topic (``EXCHANGE_ORDERS_TOPIC``) too, keyed by that symbol, so each
      symbol has one engine partition. Whoever appends an event the engine must act on sets it.
    * An event of an ``order-*`` stream whose type settlement books (:data:`SETTLEMENT_INPUTS`)
      goes to the settlement topic (``EXCHANGE_SETTLEMENT_TOPIC``) too, keyed by its data's
      ``user_id``: the settlement worker reads its inputs only (not every event of the store),
      each account has one settlement partition (so one writer besides the command API), and
      an order's events keep their order (one owner, one partition). The key is the event's own
      data, so no appender has to remember a route.

Message value (JSON, UTF-8): ``position``, ``stream_id``, ``stream_version``, ``event_id``,
``type``, ``schema_version``, ``recorded_at`` (ISO 8601, UTC), ``data``, ``metadata``, exactly
as stored (not upcast: consumers upcast with :func:`event_from_message`). Delivery is at least
once: consumers dedupe by (``stream_id``, ``stream_version``) or by ``position``.

MariaDB builds the value and the keys in the SELECT, so the relay does no JSON work per event.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Any, Final, NamedTuple

import msgspec
import orjson

from event_store.ids import event_id_from_text
from event_store.model import RecordedEvent, recorded_event
from event_store.upcasting import Upcasters

ORDER_SYMBOL: Final = "order_symbol"
"""The metadata field that routes an event to the orders topic, keyed by its value."""

SETTLEMENT_INPUTS: Final = ("OrderFilled", "OrderCancelled", "OrderExpired", "OrderRejected")
"""The types of ``order-*`` streams the settlement worker books (the store knows no domain: a
unit test keeps this equal to ``workers.settlement``'s inputs)."""

OFF_EVENTS_TOPIC: Final = (
    b"client-order-",
    b"batch-",
    b"idempotency-",
    b"matching-",
    b"settlement-",
)
"""Stream prefixes whose events stay off the events topic (they still take their other routes:
a ``BatchPlaced`` goes to the orders topic). They are the command API's and the workers' own
bookkeeping, read back from the store only; the events topic's one consumer, the projector,
skipped them (a unit test keeps them out of its inputs). They were 16 % of the messages and
22 % of the bytes of the pipeline benchmark's events topic (a ``BatchPlaced`` is ~27 kB); not
sending them cut the relay's publishing CPU by ~25 % per event (a replay of 250,000 of the
benchmark's events into fresh topics, 5.6-6.0 -> 3.8-4.6 µs per event)."""

OutboxRow = tuple[int, bytes, str | None, bytes | None, bytes]
"""(position, stream key, order symbol or None, settlement key (user id) or None, value)."""

SELECT_OUTBOX: Final = (
    "SELECT position, CAST(stream_id AS BINARY),"
    f" JSON_VALUE(metadata, '$.{ORDER_SYMBOL}'),"
    " CASE WHEN type IN (" + ", ".join(f"'{t}'" for t in SETTLEMENT_INPUTS) + ")"
    " AND stream_id LIKE 'order-%%' THEN CAST(JSON_VALUE(data, '$.user_id') AS BINARY) END,"
    " CAST(CONCAT('{\"position\":', position,"
    " ',\"stream_id\":', JSON_QUOTE(stream_id),"
    " ',\"stream_version\":', stream_version,"
    " ',\"event_id\":\"', event_id, '\"',"
    " ',\"type\":', JSON_QUOTE(type),"
    " ',\"schema_version\":', schema_version,"
    " ',\"recorded_at\":\"', DATE_FORMAT(recorded_at, '%%Y-%%m-%%dT%%H:%%i:%%s.%%fZ'), '\"',"
    " ',\"data\":', data, ',\"metadata\":', metadata, '}') AS BINARY)"
    " FROM events WHERE position > %s ORDER BY position LIMIT %s"
)


_M: Final = 0x5BD1E995
_MASK: Final = 0xFFFFFFFF
_WORDS: Final = [struct.Struct(f"<{n}I").unpack_from for n in range(33)]
"""Unpackers of a key's first ``n`` little-endian 4-byte words (keys up to 131 bytes)."""


def murmur2(key: bytes) -> int:
    """Kafka's murmur2 hash of ``key``, equal to ``aiokafka.partitioner.murmur2`` (a property
    test holds them equal) with the key's 4-byte words unpacked at once rather than assembled
    byte by byte and masked after every step: 1.7-2x faster on an order's stream id (2.4-3.6
    vs 5.0-6.3 us, process time at load ~15). The relay hashes about one new key per order
    (each order's stream; the rest are memoised), and aiokafka's was ~3 % of its busy samples."""
    length = len(key)
    h = 0x9747B28C ^ length
    whole = length & ~3
    words = length >> 2
    unpack = _WORDS[words] if words < len(_WORDS) else struct.Struct(f"<{words}I").unpack_from
    for k in unpack(key):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    extra = length & 3
    if extra:
        if extra == 3:
            h ^= key[whole + 2] << 16
        if extra >= 2:
            h ^= key[whole + 1] << 8
        h = ((h ^ key[whole]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives ``key``: a symbol's engine shard
    on the orders topic, a stream's partition on the events topic, a user's settlement partition
    on the settlement topic."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


def order_route(symbol: str) -> dict[str, str]:
    """Metadata to merge into an event the matching engine must receive."""
    return {ORDER_SYMBOL: symbol}


async def fetch_outbox(cursor: Any, after_position: int, limit: int) -> list[OutboxRow]:
    """Up to ``limit`` events after ``after_position``, in position order, ready to publish."""
    await cursor.execute(SELECT_OUTBOX, (after_position, limit))
    rows: list[OutboxRow] = await cursor.fetchall()
    return rows


def event_from_message(value: bytes, upcasters: Upcasters | None = None) -> RecordedEvent:
    """Decode a relayed message value into a :class:`RecordedEvent`, upcast.

    Every consumer runs this once per message: no object is built that the event does not keep.
    """
    raw = orjson.loads(value)
    event_type = raw["type"]
    schema_version, data = (upcasters or _NO_UPCASTERS).upcast(
        event_type, raw["schema_version"], raw["data"]
    )
    return recorded_event(
        raw["position"],
        raw["stream_id"],
        raw["stream_version"],
        event_id_from_text(raw["event_id"]),
        event_type,
        schema_version,
        data,
        raw["metadata"],
        _fromisoformat(raw["recorded_at"]),
    )


class FoldInput(NamedTuple):
    """What a fold of the read models reads of a relayed event (``projections.StoredEvent``)."""

    position: int
    stream_id: str
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    """Only what a fold reads of it: ``causation_id``, when the event has one."""


class _Cause(msgspec.Struct, gc=False):
    """Of a relayed event's metadata, what the folds read (the rest is skipped unbuilt)."""

    causation_id: Any = None


class _FoldMessage(msgspec.Struct, gc=False):
    """Of a relayed message, what the folds read: no event id, version or record time."""

    position: int
    stream_id: str
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: _Cause


_decode_fold_message: Final = msgspec.json.Decoder(_FoldMessage).decode


def fold_input_from_message(value: bytes, upcasters: Upcasters | None = None) -> FoldInput:
    """Decode a relayed message as :func:`event_from_message` does, keeping only what the
    projector's folds read: its data, upcast, and of its metadata the ``causation_id`` (the
    only key a fold reads, ``projections/orders.py``).

    msgspec decodes into a struct of those fields and skips the others without building
    them (the event id, the record time, the correlation id and actor strings, the metadata
    dict): 5.1 vs 7.3-8.0 us per message on the pipeline's messages (process time, load ~14),
    the decode being ~15-30 % of the projector's CPU. Integers of more than 64 bits stay
    exact ints (orjson made them floats; no appender can write one: orjson cannot encode it)."""
    raw = _decode_fold_message(value)
    data = raw.data
    if upcasters is not None:
        _, data = upcasters.upcast(raw.type, raw.schema_version, data)
    cause = raw.metadata.causation_id
    metadata = {} if cause is None else {"causation_id": cause}
    return FoldInput(raw.position, raw.stream_id, raw.type, data, metadata)


_NO_UPCASTERS: Final = Upcasters()
_fromisoformat: Final = datetime.fromisoformat
