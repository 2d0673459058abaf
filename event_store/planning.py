"""Pure batch planning: which appends of a batch go in, at which positions and versions.

Shared by every recorder, so the MariaDB store (many appends per transaction) and the
in-memory store (one per call) apply exactly the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson

from event_store.errors import (
    CheckpointConflict,
    DuplicateEventId,
    EventStoreError,
    WrongExpectedVersion,
)
from event_store.ids import new_event_id_text
from event_store.model import ANY, AppendResult, Checkpoint, StreamAppend

EncodedEvent = tuple[str, str, int, bytes, bytes]
"""A new event with its JSON encoded in the caller's task: (event_id, type, schema_version,
data, metadata). A plain tuple: the hot path builds one per event."""

NEW_SCHEMA_VERSION: Final = 1
"""The schema version of a new event (``NewEvent``'s default)."""


def json_bytes(value: Any) -> bytes:
    """``orjson.dumps(value)`` in a buffer of its own size, for JSON that is kept (rows of a batch
    until it commits).

    orjson writes into a 1 KiB buffer from the C allocator and shrinks it to the output: with
    thousands of those outputs alive, each next ``malloc`` searches the fragments the shrinks
    left, and a 300-byte ``TradeSettled`` cost 4-5 µs instead of 0.25 (12,000 kept per batch;
    0.6 µs with the copy, which the small-object allocator serves; see docs/benchmarks.md,
    "Settlement on the compiled account rules"). The bytes are the same. (The settlement and
    matching workers' rows use it; other writers keep ``orjson.dumps`` until measured.)"""
    return bytes(memoryview(orjson.dumps(value)))


def encoded_event(
    event_type: str, data: Mapping[str, Any] | orjson.Fragment, metadata: Mapping[str, Any]
) -> EncodedEvent:
    """One new event as an encoded row, with a new id (what ``encode_append`` makes of a
    ``NewEvent`` of the latest schema)."""
    return (
        new_event_id_text(), event_type, NEW_SCHEMA_VERSION, orjson.dumps(data),
        orjson.dumps(metadata),
    )  # fmt: skip


EventRow = tuple[int, str, int, str, str, int, bytes, bytes]
"""(position, stream_id, stream_version, event_id, type, schema_version, data, metadata)."""


class EncodedStream(NamedTuple):
    """The encoded events of one stream of an append (a tuple: one per stream appended)."""

    stream_id: str
    expected_version: int
    events: tuple[EncodedEvent, ...]
    at_version: int | None
    """The version of the first event, when the writer fixes it (``StreamAppend.at_version``)."""


def new_stream(
    stream_id: str, expected_version: int, event_type: str, data: bytes, metadata: bytes
) -> EncodedStream:
    """A stream of one new event of the latest schema, its JSON already encoded, with a new
    id: what ``encode_append`` makes of ``StreamAppend(stream_id, [NewEvent(event_type, ...)],
    expected_version)`` without building either (the command API appends ~200 such streams per
    batch of 100 orders: each order's and its ``client_order_id`` claim's; the two objects, the
    event's ``EventId`` and its ``str`` cost ~5 µs per stream). The caller vouches for what
    ``StreamAppend`` checks: a stream id of 1-200 characters and an expected version >= -1."""
    event = (new_event_id_text(), event_type, NEW_SCHEMA_VERSION, data, metadata)
    # (``tuple.__new__``: the NamedTuple's own ``__new__`` is a Python function, one call more)
    return tuple.__new__(EncodedStream, (stream_id, expected_version, (event,), None))


class EncodedAppend(NamedTuple):
    """One ``append`` call, ready to plan (a tuple: one per append)."""

    streams: tuple[EncodedStream, ...]
    event_ids: tuple[str, ...]
    checkpoint: Checkpoint | None
    fresh: bool = False
    """Its event ids were drawn for this append (never submitted before), so when it conflicts
    it cannot be a retry of an append already recorded: the writer answers the conflict without
    looking its ids up (``GroupCommitWriter._settle_conflicts``)."""

    @property
    def stream_ids(self) -> Iterable[str]:
        """The streams this append touches."""
        return (s.stream_id for s in self.streams)

    @property
    def guarded_consumer(self) -> str | None:
        """The consumer of its ``must_advance`` checkpoint, if it has one."""
        checkpoint = self.checkpoint
        if checkpoint is None or not checkpoint.must_advance:
            return None
        return checkpoint.consumer


def encode_append(
    appends: Sequence[StreamAppend | EncodedStream],
    checkpoint: Checkpoint | None,
    *,
    fresh: bool = False,
) -> EncodedAppend:
    """Validate an append call and encode its payloads; raises ``ValueError`` or ``TypeError``.

    An ``EncodedStream`` among ``appends`` is taken as it is (a caller that encodes many small
    streams itself: see :func:`new_stream`); the checks across streams (no stream twice, no
    event id twice) cover it too. ``fresh``: the caller vouches that every event id is new (see
    ``EncodedAppend.fresh``)."""
    if not appends:
        raise ValueError("an append needs at least one stream")
    # Plain loops, not nested generators: this runs once per append, in the caller's task.
    dumps = orjson.dumps
    streams: list[EncodedStream] = []
    event_ids: list[str] = []
    # Events of one command usually share one metadata dict: encode it once.
    last_metadata: object = None
    metadata = b""
    for append in appends:
        if not isinstance(append, StreamAppend):
            streams.append(append)
            for encoded in append.events:
                event_ids.append(encoded[0])
            continue
        events: list[EncodedEvent] = []
        for e in append.events:
            event_id = str(e.event_id)
            event_ids.append(event_id)
            if e.metadata is not last_metadata:
                last_metadata, metadata = e.metadata, dumps(e.metadata)
            events.append((event_id, e.type, e.schema_version, dumps(e.data), metadata))
        streams.append(
            EncodedStream(
                append.stream_id, append.expected_version, tuple(events), append.at_version
            )
        )
    if len(streams) > 1 and len({s.stream_id for s in streams}) != len(streams):
        raise ValueError("a stream appears twice in one append")
    if len(event_ids) > 1 and len(set(event_ids)) != len(event_ids):
        raise ValueError("an append repeats an event id")
    return EncodedAppend(tuple(streams), tuple(event_ids), checkpoint, fresh)


def encode_checkpoint(checkpoint: Checkpoint) -> EncodedAppend:
    """A checkpoint saved alone through the append path (a ``must_advance`` one)."""
    return EncodedAppend((), (), checkpoint)


@dataclass(slots=True)
class BatchPlan:
    """The outcome of planning a batch against the streams' current versions."""

    rows: list[EventRow]
    outcomes: list[AppendResult | EventStoreError | None]
    """Per append: its result, the conflict it hit, or ``None`` if deferred to a later batch."""
    checkpoints: dict[str, int]
    stream_versions: dict[str, int]
    last_position: int
    payload_bytes: int


def plan_batch(
    appends: Sequence[EncodedAppend],
    versions: Mapping[str, int],
    last_position: int,
    saved_checkpoints: Mapping[str, int] | None = None,
) -> BatchPlan:
    """Accept each append whose expected versions hold, in order; reject only the others.

    ``versions`` must hold the current version of every stream in the batch (0 if absent), and
    ``saved_checkpoints`` the saved position of every consumer of a ``must_advance`` checkpoint
    of the batch (absent if it has none).
    An append that reuses an event id of an earlier append of the same batch is deferred, so
    the next batch sees the first one recorded and treats it as a retry.
    """
    running: dict[str, int] = {}
    rows: list[EventRow] = []
    outcomes: list[AppendResult | EventStoreError | None] = []
    checkpoints: dict[str, int] = {}
    batch_ids: set[str] = set()
    position = last_position
    payload_bytes = 0
    for append in appends:
        conflict: EventStoreError | None = _conflict(append, running, versions)
        if conflict is None and append.guarded_consumer is not None:
            conflict = _checkpoint_conflict(append, checkpoints, saved_checkpoints or {})
        if conflict is not None:
            outcomes.append(conflict)
            continue
        event_ids = append.event_ids
        if batch_ids and not batch_ids.isdisjoint(event_ids):
            outcomes.append(None)
            continue
        batch_ids.update(event_ids)
        first = position + 1
        new_versions: dict[str, int] = {}
        for stream_id, _, events, at_version in append.streams:
            if at_version is not None:
                version = at_version - 1
            else:
                current = running.get(stream_id)
                version = versions[stream_id] if current is None else current
            for event in events:
                position += 1
                version += 1
                payload_bytes += len(event[3]) + len(event[4])
                rows.append((position, stream_id, version, *event))
            running[stream_id] = version
            new_versions[stream_id] = version
        if append.checkpoint is not None:
            checkpoints[append.checkpoint.consumer] = append.checkpoint.position
        outcomes.append(AppendResult(first, position, new_versions))
    return BatchPlan(rows, outcomes, checkpoints, running, position, payload_bytes)


def _conflict(
    append: EncodedAppend, running: Mapping[str, int], versions: Mapping[str, int]
) -> WrongExpectedVersion | None:
    for stream_id, expected, _, at_version in append.streams:
        if expected == ANY and at_version is None:
            continue
        actual = running.get(stream_id)
        if actual is None:
            actual = versions[stream_id]
        if expected != ANY and expected != actual:
            return WrongExpectedVersion(stream_id, expected, actual)
        if at_version is not None and actual >= at_version:
            return WrongExpectedVersion(stream_id, at_version - 1, actual)
    return None


def _checkpoint_conflict(
    append: EncodedAppend, running: Mapping[str, int], saved: Mapping[str, int]
) -> CheckpointConflict | None:
    checkpoint = append.checkpoint
    assert checkpoint is not None
    consumer = checkpoint.consumer
    current = running.get(consumer, saved.get(consumer))
    if current is not None and current >= checkpoint.position:
        return CheckpointConflict(consumer, checkpoint.position, current)
    return None


def replay_result(
    event_ids: Sequence[str], recorded: Mapping[str, tuple[int, str, int]]
) -> AppendResult | DuplicateEventId | None:
    """The original result of an append whose event ids were recorded before.

    ``recorded`` maps event id to (position, stream_id, stream_version) for those found.
    ``None`` when none of the ids is recorded (the append is new).
    """
    found = [recorded[i] for i in event_ids if i in recorded]
    if not found:
        return None
    if len(found) != len(event_ids):
        return DuplicateEventId([i for i in event_ids if i in recorded])
    versions: dict[str, int] = {}
    for _, stream_id, version in found:
        versions[stream_id] = max(version, versions.get(stream_id, 0))
    positions = [p for p, _, _ in found]
    return AppendResult(min(positions), max(positions), versions)
