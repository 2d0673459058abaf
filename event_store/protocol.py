"""The interface every event store (recorder) implements; the contract tests hold it to it."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

from event_store.model import (
    AppendResult,
    Checkpoint,
    RecordedEvent,
    Snapshot,
    StoredData,
    StreamAppend,
)
from event_store.planning import EncodedAppend


class EventStore(Protocol):
    """An append-only log of events in streams, with a gap-free global position."""

    async def append(
        self, *appends: StreamAppend, checkpoint: Checkpoint | None = None
    ) -> AppendResult:
        """Append to several streams atomically, each checked against its expected version.

        Raises ``WrongExpectedVersion`` (nothing appended) on a conflict, or
        ``CheckpointConflict`` when a ``must_advance`` checkpoint is not past the saved one. If
        every event id was already recorded, returns the original result instead (idempotent
        retry). ``checkpoint`` is saved in the same transaction when given.
        """
        ...

    async def append_encoded(self, encoded: EncodedAppend) -> AppendResult:
        """:meth:`append` of a call already encoded, as ``encode_append`` would have encoded it.

        For writers whose events are not ``NewEvent``\\ s yet (the matching worker builds its
        rows straight from engine events): the caller vouches for what ``encode_append``
        checks (valid JSON objects, each stream once, unique event ids).
        """
        ...

    def submit_encoded(self, encoded: EncodedAppend) -> asyncio.Future[AppendResult]:
        """:meth:`append_encoded`, queued now: the future resolves as the awaited call would.

        For a caller that queues an append and awaits it later (the command API queues one per
        decision while it holds the account's lock) without a task of its own around it: the
        MariaDB store hands the group-commit writer's own future over."""
        ...

    async def read_stream(
        self, stream_id: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        """The stream's events from ``from_version`` on, oldest first, upcast."""
        ...

    async def read_streams(
        self, from_versions: Mapping[str, int]
    ) -> dict[str, list[RecordedEvent]]:
        """Several streams at once: each one's events from its ``from_version`` on, oldest first.

        One round trip for a worker that refreshes many aggregates before deciding; a stream
        with nothing new (or absent) maps to ``[]``.
        """
        ...

    async def read_stream_tails(
        self, from_versions: Mapping[str, int]
    ) -> dict[str, list[StoredData]]:
        """:meth:`read_streams` with only each event's position, version, type and (upcast) data.

        For a worker that folds many aggregates before deciding (settlement's accounts): no event
        id, metadata or time is transferred, parsed or built for events it only folds.
        """
        ...

    async def read_stream_types(
        self, stream_ids: Collection[str], from_version: int, count: int
    ) -> dict[str, list[tuple[int, str]]]:
        """The version and type of each stream's events ``from_version`` to ``from_version +
        count - 1``, oldest first (a stream with none maps to ``[]``): no data.

        For a check that only asks which events follow a version (a cancel's: is the order's
        second event its acceptance, and nothing after it?); its tail read fetched and decoded
        every event's data for that, however many fills followed.
        """
        ...

    def note_versions(self, versions: Mapping[str, int]) -> None:
        """Stream versions the caller read from committed events, as a hint for its appends.

        A store that checks expected versions against a cache may plan on these instead of
        looking the streams up; a stale hint costs a replan, never a wrong append. Optional to
        act on (the in-memory store ignores it).
        """
        ...

    def known_version(self, stream_id: str) -> int | None:
        """The stream's version as far as the store's append cache knows it, without I/O
        (``None``: not known). A hint, exact as of the store's own latest commit: others may
        have appended since, so an append expecting it may still conflict (never wrongly
        land). After an append conflicts, its streams are known as the conflict found them,
        also while other appends wait for the store (the settlement worker rebooks only the
        accounts whose version moved). The in-memory store knows every stream's version
        exactly.
        """
        ...

    async def prefetch_versions(self, stream_ids: Iterable[str]) -> None:
        """Read ahead, for a coming append with expected version ``ANY``, the versions of
        ``stream_ids`` a store that plans from a cache does not know yet.

        A hint like :meth:`note_versions`, read from the store itself: the append is exactly
        what it would be without it, only planned without looking those streams up while it
        holds the store's append lock. Optional to act on (the in-memory store ignores it).
        """
        ...

    async def stream_ids(self, prefix: str) -> list[str]:
        """The ids of every stream whose id starts with ``prefix``, sorted."""
        ...

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Up to ``limit`` events after ``after_position``, in position order, upcast."""
        ...

    async def last_position(self) -> int:
        """The position of the last committed event (0 when empty)."""
        ...

    async def stream_version(self, stream_id: str) -> int:
        """The version of the stream's last event (0 when the stream does not exist)."""
        ...

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep a snapshot (snapshots are never overwritten; the newest version wins)."""
        ...

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The newest snapshot of the stream, upcast, or ``None``."""
        ...

    async def load_snapshots(self, stream_ids: Collection[str]) -> dict[str, Snapshot]:
        """The newest snapshot of each named stream, upcast; streams without one are left out.

        One round trip for a worker that meets many aggregates at once (cold start).
        """
        ...

    async def load_checkpoint(self, consumer: str) -> int:
        """The consumer's saved position (0 when it never saved one)."""
        ...

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Save the consumer's position.

        Raises ``CheckpointConflict`` (nothing saved) for a ``must_advance`` checkpoint that is
        not past the saved one.
        """
        ...

    async def close(self) -> None:
        """Finish pending appends and release connections."""
        ...
