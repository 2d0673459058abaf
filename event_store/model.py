"""The values the event store takes and returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NamedTuple
from uuid import UUID

import orjson

from event_store.ids import new_event_id

ANY: Final = -1
"""``expected_version`` that accepts the stream at any version, even absent."""

NO_STREAM: Final = 0
"""``expected_version`` of a stream that must not exist yet (streams start at version 1)."""

MAX_STREAM_ID_LENGTH: Final = 200

FOREIGN_STREAM_PREFIX: Final = "es:"
"""Streams of eventsourcing applications stored through ``event_store.eventsourcing``: not the
exchange's events, whatever their data says (the audit's symbol scans leave them out)."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append; ``data`` and ``metadata`` must be JSON-serialisable (orjson).

    ``data`` may also be an ``orjson.Fragment`` holding a JSON object already encoded: it is
    stored as is (encoded once; the caller vouches that it is one valid JSON object).
    ``metadata`` should carry ``correlation_id``, ``causation_id`` and ``actor``. ``event_id``
    makes the append idempotent: give a retried command the same ids (the default is a fresh
    :class:`event_store.ids.EventId`, time-ordered and cheaper than ``uuid4``).
    """

    type: str
    data: Mapping[str, Any] | orjson.Fragment
    metadata: Mapping[str, Any] = field(default_factory=dict)
    event_id: UUID = field(default_factory=new_event_id)
    schema_version: int = 1


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """Events for one stream, appended only if the stream is at ``expected_version``.

    ``expected_version`` is the stream's current version (its last event's version), or
    :data:`NO_STREAM` (0) for a stream that must not exist, or :data:`ANY` (-1).

    ``at_version`` (optional, >= 1) fixes the version of the first event (the others follow)
    for writers that number their events themselves (the eventsourcing adapter): the append
    conflicts unless every version already in the stream is below it. Versions skipped below it
    stay free. Without it, the events follow the stream's current version.
    """

    stream_id: str
    events: Sequence[NewEvent]
    expected_version: int = ANY
    at_version: int | None = None

    def __post_init__(self) -> None:
        if not self.stream_id or len(self.stream_id) > MAX_STREAM_ID_LENGTH:
            raise ValueError(f"stream id must have 1 to {MAX_STREAM_ID_LENGTH} characters")
        if not self.events:
            raise ValueError(f"an append to {self.stream_id!r} needs at least one event")
        if self.expected_version < ANY:
            raise ValueError(f"invalid expected version {self.expected_version}")
        if self.at_version is not None and self.at_version < 1:
            raise ValueError(f"invalid first version {self.at_version}")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A consumer's position, saved in the same transaction as the events it produced.

    With ``must_advance`` the save (and the append it goes with) conflicts, raising
    :class:`~event_store.errors.CheckpointConflict` with nothing written, unless the consumer's
    saved position is below ``position`` or absent: an input is never recorded as processed
    twice. Such checkpoints are checked under the store's sequence lock, so a consumer that uses
    them must save every checkpoint that way.
    """

    consumer: str
    position: int
    must_advance: bool = False


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an append landed: its positions (contiguous) and each stream's new version."""

    first_position: int
    last_position: int
    stream_versions: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored, after upcasting to its latest schema version."""

    position: int
    stream_id: str
    stream_version: int
    event_id: UUID
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An aggregate's (or a worker's) state as of ``version`` of its stream."""

    stream_id: str
    version: int
    state: dict[str, Any]
    type: str = "snapshot"
    schema_version: int = 1


_FIELD_SETTERS: Final = tuple(
    RecordedEvent.__dict__[name].__set__
    for name in (
        "position",
        "stream_id",
        "stream_version",
        "event_id",
        "type",
        "schema_version",
        "data",
        "metadata",
        "recorded_at",
    )
)
_new = object.__new__


def recorded_event(
    position: int,
    stream_id: str,
    stream_version: int,
    event_id: UUID,
    event_type: str,
    schema_version: int,
    data: dict[str, Any],
    metadata: dict[str, Any],
    recorded_at: datetime,
) -> RecordedEvent:
    """``RecordedEvent(...)`` for the read paths: its slots set directly (a frozen dataclass's
    ``__init__`` goes through ``object.__setattr__`` per field, 3x the cost; readers build one
    per event)."""
    event = _new(RecordedEvent)
    p, s, v, i, t, sv, d, m, r = _FIELD_SETTERS
    p(event, position)
    s(event, stream_id)
    v(event, stream_version)
    i(event, event_id)
    t(event, event_type)
    sv(event, schema_version)
    d(event, data)
    m(event, metadata)
    r(event, recorded_at)
    return event


class StoredData(NamedTuple):
    """A stored event without its id, metadata and time: what a fold of its stream reads
    (:meth:`event_store.protocol.EventStore.read_stream_tails`)."""

    position: int
    stream_version: int
    type: str
    data: dict[str, Any]
