"""An in-memory event store for unit tests of other code; it passes the same contract suite."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from uuid import UUID

import orjson

from event_store.errors import CheckpointConflict, EventStoreError
from event_store.model import (
    AppendResult,
    Checkpoint,
    RecordedEvent,
    Snapshot,
    StoredData,
    StreamAppend,
)
from event_store.planning import EncodedAppend, EventRow, encode_append, plan_batch, replay_result
from event_store.upcasting import Upcasters


class InMemoryEventStore:
    """The :class:`~event_store.protocol.EventStore` contract, held in a list."""

    def __init__(self, upcasters: Upcasters | None = None) -> None:
        self._upcasters = upcasters or Upcasters()
        self._rows: list[tuple[EventRow, datetime]] = []
        self._versions: dict[str, int] = {}
        self._by_event_id: dict[str, tuple[int, str, int]] = {}
        self._streams: dict[str, list[int]] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._checkpoints: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def append(
        self, *appends: StreamAppend, checkpoint: Checkpoint | None = None
    ) -> AppendResult:
        """See :meth:`event_store.protocol.EventStore.append`."""
        return await self.append_encoded(encode_append(appends, checkpoint))

    def submit_encoded(self, encoded: EncodedAppend) -> asyncio.Future[AppendResult]:
        """See :meth:`event_store.protocol.EventStore.submit_encoded` (a task of
        :meth:`append_encoded`, so a subclass's override applies)."""
        return asyncio.ensure_future(self.append_encoded(encoded))

    async def append_encoded(self, encoded: EncodedAppend) -> AppendResult:
        """See :meth:`event_store.protocol.EventStore.append_encoded`."""
        async with self._lock:
            replay = replay_result(encoded.event_ids, self._by_event_id)
            if isinstance(replay, EventStoreError):
                raise replay
            if replay is not None:
                return replay
            versions = {s: self._versions.get(s, 0) for s in encoded.stream_ids}
            plan = plan_batch([encoded], versions, len(self._rows), self._checkpoints)
            outcome = plan.outcomes[0]
            if isinstance(outcome, EventStoreError):
                try:
                    raise outcome
                finally:  # (its traceback holds this frame: no cycle through the locals)
                    del outcome, plan
            assert outcome is not None, "a batch of one is never deferred"
            now = datetime.now(UTC)
            for row in plan.rows:
                position, stream_id, version, event_id = row[:4]
                self._rows.append((row, now))
                self._by_event_id[event_id] = (position, stream_id, version)
                self._streams.setdefault(stream_id, []).append(position)
            self._versions.update(plan.stream_versions)
            self._checkpoints.update(plan.checkpoints)
            return outcome

    async def read_stream(
        self, stream_id: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        """See :meth:`event_store.protocol.EventStore.read_stream`."""
        rows = self._rows
        positions = [
            p for p in self._streams.get(stream_id, []) if rows[p - 1][0][2] >= from_version
        ]
        if limit is not None:
            positions = positions[:limit]
        return [self._recorded(p) for p in positions]

    async def read_streams(
        self, from_versions: Mapping[str, int]
    ) -> dict[str, list[RecordedEvent]]:
        """See :meth:`event_store.protocol.EventStore.read_streams`."""
        return {s: await self.read_stream(s, version) for s, version in from_versions.items()}

    async def read_stream_tails(
        self, from_versions: Mapping[str, int]
    ) -> dict[str, list[StoredData]]:
        """See :meth:`event_store.protocol.EventStore.read_stream_tails`."""
        found = await self.read_streams(from_versions)
        return {
            s: [StoredData(e.position, e.stream_version, e.type, e.data) for e in events]
            for s, events in found.items()
        }

    async def read_stream_types(
        self, stream_ids: Collection[str], from_version: int, count: int
    ) -> dict[str, list[tuple[int, str]]]:
        """See :meth:`event_store.protocol.EventStore.read_stream_types`."""
        found = await self.read_streams(dict.fromkeys(stream_ids, from_version))
        return {
            s: [(e.stream_version, e.type) for e in events[:count]] for s, events in found.items()
        }

    async def stream_ids(self, prefix: str) -> list[str]:
        """See :meth:`event_store.protocol.EventStore.stream_ids`."""
        return sorted(s for s in self._streams if s.startswith(prefix))

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """See :meth:`event_store.protocol.EventStore.read_all`."""
        start = max(after_position, 0)
        end = min(start + limit, len(self._rows))
        return [self._recorded(p) for p in range(start + 1, end + 1)]

    async def last_position(self) -> int:
        """See :meth:`event_store.protocol.EventStore.last_position`."""
        return len(self._rows)

    async def stream_version(self, stream_id: str) -> int:
        """See :meth:`event_store.protocol.EventStore.stream_version`."""
        return self._versions.get(stream_id, 0)

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """See :meth:`event_store.protocol.EventStore.save_snapshot`."""
        current = self._snapshots.get(snapshot.stream_id)
        if current is None or current.version <= snapshot.version:
            state = orjson.loads(orjson.dumps(snapshot.state))
            self._snapshots[snapshot.stream_id] = Snapshot(
                snapshot.stream_id, snapshot.version, state, snapshot.type, snapshot.schema_version
            )

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """See :meth:`event_store.protocol.EventStore.load_snapshot`."""
        snapshot = self._snapshots.get(stream_id)
        if snapshot is None:
            return None
        schema_version, state = self._upcasters.upcast(
            snapshot.type, snapshot.schema_version, orjson.loads(orjson.dumps(snapshot.state))
        )
        return Snapshot(stream_id, snapshot.version, state, snapshot.type, schema_version)

    def note_versions(self, versions: Mapping[str, int]) -> None:
        """See :meth:`event_store.protocol.EventStore.note_versions` (nothing to do here)."""

    def known_version(self, stream_id: str) -> int | None:
        """See :meth:`event_store.protocol.EventStore.known_version` (exact here)."""
        return self._versions.get(stream_id)

    async def prefetch_versions(self, stream_ids: Iterable[str]) -> None:
        """See :meth:`event_store.protocol.EventStore.prefetch_versions` (nothing to do here)."""

    async def load_snapshots(self, stream_ids: Collection[str]) -> dict[str, Snapshot]:
        """See :meth:`event_store.protocol.EventStore.load_snapshots`."""
        found: dict[str, Snapshot] = {}
        for stream_id in stream_ids:
            snapshot = await self.load_snapshot(stream_id)
            if snapshot is not None:
                found[stream_id] = snapshot
        return found

    async def load_checkpoint(self, consumer: str) -> int:
        """See :meth:`event_store.protocol.EventStore.load_checkpoint`."""
        return self._checkpoints.get(consumer, 0)

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`event_store.protocol.EventStore.save_checkpoint`."""
        if checkpoint.must_advance:
            async with self._lock:
                saved = self._checkpoints.get(checkpoint.consumer)
                if saved is not None and saved >= checkpoint.position:
                    raise CheckpointConflict(checkpoint.consumer, checkpoint.position, saved)
                self._checkpoints[checkpoint.consumer] = checkpoint.position
            return
        self._checkpoints[checkpoint.consumer] = checkpoint.position

    async def close(self) -> None:
        """Nothing to release."""

    def _recorded(self, position: int) -> RecordedEvent:
        row, recorded_at = self._rows[position - 1]
        _, stream_id, version, event_id, event_type, schema_version, data, metadata = row
        schema_version, payload = self._upcasters.upcast(
            event_type, schema_version, orjson.loads(data)
        )
        return RecordedEvent(
            position,
            stream_id,
            version,
            UUID(event_id),
            event_type,
            schema_version,
            payload,
            orjson.loads(metadata),
            recorded_at,
        )
