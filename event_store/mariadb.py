"""The MariaDB event store: appends through the group-commit writer, reads and the snapshot and
checkpoint writes on a pool of raw autocommit connections (``connection.ReadPool``). It imports
no SQLAlchemy (a worker's start would pay ~0.3 s of CPU for it): an engine given to it only
names the database (and is disposed with the store if it owns it)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

import orjson

from event_store.connection import ReadPool
from event_store.ids import event_id_from_text
from event_store.model import (
    AppendResult,
    Checkpoint,
    RecordedEvent,
    Snapshot,
    StoredData,
    StreamAppend,
    recorded_event,
)
from event_store.planning import EncodedAppend, encode_append, encode_checkpoint
from event_store.sql import (
    EVENT_COLUMNS,
    INSERT_CHECKPOINTS,
    INSERT_SNAPSHOT,
    LAST_POSITION,
    STREAM_VERSIONS,
    STREAMS_PER_READ,
    grouped_ranges,
    id_list,
    literal_ranges,
    range_params,
    stream_ranges,
    versions_of,
)
from event_store.upcasting import Upcasters
from event_store.writer import GroupCommitWriter

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

READ_STREAMS: Final = f"SELECT {EVENT_COLUMNS} FROM events WHERE {{ranges}} ORDER BY position"
"""Many streams from their own versions (:meth:`MariaDbEventStore.read_streams`); ``{ranges}``
is :func:`event_store.sql.stream_ranges`."""
READ_STREAM_TAILS: Final = (
    "SELECT position, stream_id, stream_version, type, schema_version, data FROM events"
    " WHERE {ranges}"
)
"""The same, only what a fold reads (:meth:`MariaDbEventStore.read_stream_tails`), and in no
order: ``ORDER BY position`` made MariaDB materialize the rows (a BLOB column: an Aria temporary
table) and filesort them, and one such statement (then a join) crashed MariaDB 10.11.19 in
``free_tmp_table`` (SIGSEGV, 2026-12-02, while the command API's coalesced tail reads ran at
256 requests in flight). Each stream's events are put in version order in Python."""
READ_STREAM_TYPES: Final = (
    "SELECT stream_id, stream_version, type FROM events"
    " WHERE stream_id IN ({ids}) AND stream_version BETWEEN %s AND %s"
)
"""Versions and types only (:meth:`MariaDbEventStore.read_stream_types`), in no order either.
One list of ids and one version range, not a range per stream (``(stream_id = .. AND
stream_version BETWEEN ..) OR ...``): MariaDB's CPU per stream of 256 read 20.7 -> 8.0 us (the
range optimizer's work on the disjunction), on the order streams of a 300k-order run."""
_VERSION_OF: Final = itemgetter(1)
"""A ``StoredData``'s ``stream_version``."""
READ_ONE_TAIL: Final = (
    "SELECT position, stream_id, stream_version, type, schema_version, data FROM events"
    " WHERE stream_id = %s AND stream_version >= %s ORDER BY stream_version"
)
"""The same for one stream (the command API's cancels and account catch-ups)."""
LOAD_SNAPSHOTS: Final = (
    "SELECT s.stream_id, s.version, s.type, s.schema_version, s.state FROM JSON_TABLE(%s,"
    " '$[*]' COLUMNS (sid VARCHAR(200) PATH '$')) AS w JOIN snapshots AS s"
    " ON s.stream_id = w.sid AND s.version = (SELECT version FROM snapshots"
    " WHERE stream_id = w.sid ORDER BY version DESC LIMIT 1)"
)
"""The newest snapshot of many streams (:meth:`MariaDbEventStore.load_snapshots`; one dive per
stream, not ``MAX(version)``, which walks all of a stream's snapshots: see
:data:`event_store.sql.STREAM_VERSIONS`)."""


class MariaDbEventStore:
    """The :class:`~event_store.protocol.EventStore` contract on MariaDB.

    One instance per process: its writer task owns the append connection and coalesces the
    appends of every task into one transaction per batch.
    """

    def __init__(
        self,
        engine: AsyncEngine | str,
        upcasters: Upcasters | None = None,
        max_batch_appends: int = 2000,
        *,
        owns_engine: bool = False,
        read_connections: int = 16,
        appends_to: tuple[str, ...] | None = None,
        write_once: tuple[str, ...] = (),
    ) -> None:
        """``engine``: the database, as a SQLAlchemy engine or a URL string; ``appends_to``:
        the prefixes of the streams this process appends to, if it knows them; ``write_once``:
        those of streams it only creates, never appends to (both: see
        :class:`~event_store.writer.GroupCommitWriter`)."""
        if isinstance(engine, str):
            url, self._engine = engine, None
        else:
            url, self._engine = engine.url.render_as_string(hide_password=False), engine
        self._owns_engine = owns_engine
        self._upcasters = upcasters or Upcasters()
        self._writer = GroupCommitWriter(
            url, max_batch_appends, tracked=appends_to, write_once=write_once
        )
        self._reads = ReadPool(url, read_connections)

    @classmethod
    def from_url(
        cls,
        database_url: str,
        upcasters: Upcasters | None = None,
        pool_size: int = 8,
        appends_to: tuple[str, ...] | None = None,
    ) -> MariaDbEventStore:
        """A store on ``database_url`` (at most ``2 * pool_size`` reads at once, as the engine
        it once made allowed with its overflow)."""
        return cls(database_url, upcasters, read_connections=2 * pool_size, appends_to=appends_to)

    async def append(
        self, *appends: StreamAppend, checkpoint: Checkpoint | None = None
    ) -> AppendResult:
        """See :meth:`event_store.protocol.EventStore.append`."""
        return await self._writer.submit(encode_append(appends, checkpoint))

    async def append_encoded(self, encoded: EncodedAppend) -> AppendResult:
        """See :meth:`event_store.protocol.EventStore.append_encoded`."""
        return await self._writer.submit(encoded)

    def submit_encoded(self, encoded: EncodedAppend) -> asyncio.Future[AppendResult]:
        """See :meth:`event_store.protocol.EventStore.submit_encoded` (the writer's future)."""
        return self._writer.submit(encoded)

    async def read_stream(
        self, stream_id: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        """See :meth:`event_store.protocol.EventStore.read_stream`."""
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = %s AND stream_version >= %s"
            " ORDER BY stream_version"
        )
        params: tuple[Any, ...] = (stream_id, from_version)
        if limit is not None:
            sql += " LIMIT %s"
            params += (limit,)
        return [self._recorded(row) for row in await self._fetch(sql, params)]

    async def read_streams(
        self, from_versions: Mapping[str, int]
    ) -> dict[str, list[RecordedEvent]]:
        """See :meth:`event_store.protocol.EventStore.read_streams` (a statement per
        :data:`~event_store.sql.STREAMS_PER_READ` streams, a key range each)."""
        found: dict[str, list[RecordedEvent]] = {stream_id: [] for stream_id in from_versions}
        for part in _parts(from_versions):
            for row in await self._fetch(*_ranges_read(READ_STREAMS, part)):
                event = self._recorded(row)
                found[event.stream_id].append(event)
        return found

    async def read_stream_tails(
        self, from_versions: Mapping[str, int]
    ) -> dict[str, list[StoredData]]:
        """See :meth:`event_store.protocol.EventStore.read_stream_tails` (as
        :meth:`read_streams`, the streams read from one version in one list:
        :func:`~event_store.sql.grouped_ranges`)."""
        found: dict[str, list[StoredData]] = {stream_id: [] for stream_id in from_versions}
        if len(from_versions) == 1:
            parts: list[list[Any]] = [
                await self._fetch(READ_ONE_TAIL, next(iter(from_versions.items())))
            ]
        else:
            parts = []
            for part in _parts(from_versions):
                ranges, params = grouped_ranges(part)
                parts.append(await self._fetch(READ_STREAM_TAILS.format(ranges=ranges), params))
        # (a row is its columns as asyncmy typed them: ``int`` positions and versions)
        upcast = self._upcasters.upcast if self._upcasters.registered else None
        loads, new = orjson.loads, tuple.__new__  # (StoredData's own __new__ is Python code)
        for rows in parts:
            for position, stream_id, version, event_type, schema_version, data in rows:
                payload = loads(data)
                if upcast is not None:
                    payload = upcast(event_type, schema_version, payload)[1]
                found[stream_id].append(new(StoredData, (position, version, event_type, payload)))
        if len(from_versions) > 1:  # (READ_STREAM_TAILS has no ORDER BY; see there)
            for events in found.values():
                if len(events) > 1:
                    events.sort(key=_VERSION_OF)
        return found

    async def read_stream_types(
        self, stream_ids: Collection[str], from_version: int, count: int
    ) -> dict[str, list[tuple[int, str]]]:
        """See :meth:`event_store.protocol.EventStore.read_stream_types`
        (:data:`~event_store.sql.STREAMS_PER_READ` streams a statement)."""
        found: dict[str, list[tuple[int, str]]] = {stream_id: [] for stream_id in stream_ids}
        ids = list(found)
        for start in range(0, len(ids), STREAMS_PER_READ):
            listed, params = id_list(ids[start : start + STREAMS_PER_READ])
            sql = READ_STREAM_TYPES.format(ids=listed)
            bounds = (from_version, from_version + count - 1)
            for stream_id, version, event_type in await self._fetch(sql, params + bounds):
                found[stream_id].append((version, event_type))
        for events in found.values():
            if len(events) > 1:
                events.sort()
        return found

    def note_versions(self, versions: Mapping[str, int]) -> None:
        """See :meth:`event_store.protocol.EventStore.note_versions` (the writer's cache)."""
        self._writer.note_versions(versions)

    def known_version(self, stream_id: str) -> int | None:
        """See :meth:`event_store.protocol.EventStore.known_version` (the writer's cache)."""
        return self._writer.known_version(stream_id)

    async def prefetch_versions(self, stream_ids: Iterable[str]) -> None:
        """See :meth:`event_store.protocol.EventStore.prefetch_versions` (the writer's cache,
        read on the read pool)."""
        await self._writer.prefetch_versions(stream_ids, self._read_versions)

    async def _read_versions(self, stream_ids: list[str]) -> dict[str, int]:
        rows = await self._fetch(STREAM_VERSIONS, (orjson.dumps(stream_ids).decode(),))
        return versions_of(rows)

    async def stream_ids(self, prefix: str) -> list[str]:
        """See :meth:`event_store.protocol.EventStore.stream_ids`."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = await self._fetch(
            "SELECT DISTINCT stream_id FROM events WHERE stream_id LIKE %s ORDER BY stream_id",
            (pattern,),
        )
        return [str(row[0]) for row in rows]

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """See :meth:`event_store.protocol.EventStore.read_all`."""
        rows = await self._fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",
            (after_position, limit),
        )
        return [self._recorded(row) for row in rows]

    async def last_position(self) -> int:
        """See :meth:`event_store.protocol.EventStore.last_position`."""
        rows = await self._fetch(LAST_POSITION, ())
        return int(rows[0][0])

    async def stream_version(self, stream_id: str) -> int:
        """See :meth:`event_store.protocol.EventStore.stream_version`."""
        rows = await self._fetch(
            "SELECT MAX(stream_version) FROM events WHERE stream_id = %s", (stream_id,)
        )
        return int(rows[0][0] or 0)

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """See :meth:`event_store.protocol.EventStore.save_snapshot`."""
        row = (snapshot.stream_id, snapshot.version, snapshot.type, snapshot.schema_version,
               orjson.dumps(snapshot.state).decode())  # fmt: skip
        # (prepared: a matching shard's state is megabytes, not worth escaping)
        await self._reads.execute_prepared(INSERT_SNAPSHOT, row)

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """See :meth:`event_store.protocol.EventStore.load_snapshot`."""
        rows = await self._fetch(
            "SELECT version, type, schema_version, state FROM snapshots WHERE stream_id = %s"
            " ORDER BY version DESC LIMIT 1",
            (stream_id,),
        )
        if not rows:
            return None
        version, snapshot_type, schema_version, state = rows[0]
        schema_version, upcast = self._upcasters.upcast(
            snapshot_type, schema_version, orjson.loads(state)
        )
        return Snapshot(stream_id, int(version), upcast, snapshot_type, schema_version)

    async def load_snapshots(self, stream_ids: Collection[str]) -> dict[str, Snapshot]:
        """See :meth:`event_store.protocol.EventStore.load_snapshots`.

        One statement (the ids as a JSON table, each joined on its newest version): a round trip
        per stream cost ~0.9 ms of client CPU each, mostly the pool's checkout and rollback.
        """
        if not stream_ids:
            return {}
        found: dict[str, Snapshot] = {}
        ids = orjson.dumps(list(stream_ids)).decode()
        for stream_id, version, snapshot_type, schema_version, state in await self._fetch(
            LOAD_SNAPSHOTS, (ids,)
        ):
            schema_version, upcast = self._upcasters.upcast(
                snapshot_type, schema_version, orjson.loads(state)
            )
            found[stream_id] = Snapshot(
                stream_id, int(version), upcast, snapshot_type, schema_version
            )
        return found

    async def load_checkpoint(self, consumer: str) -> int:
        """See :meth:`event_store.protocol.EventStore.load_checkpoint`."""
        rows = await self._fetch(
            "SELECT position FROM checkpoints WHERE consumer = %s", (consumer,)
        )
        return int(rows[0][0]) if rows else 0

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`event_store.protocol.EventStore.save_checkpoint`.

        A ``must_advance`` checkpoint goes through the writer, checked under the sequence lock
        like one that goes with an append.
        """
        if checkpoint.must_advance:
            await self._writer.submit(encode_checkpoint(checkpoint))
            return
        await self._write(INSERT_CHECKPOINTS, (checkpoint.consumer, checkpoint.position))

    async def close(self) -> None:
        """Commit the queued appends, stop the writer; dispose the engine if we own it."""
        await self._writer.close()
        await self._reads.close()
        if self._owns_engine and self._engine is not None:
            await self._engine.dispose()

    async def _fetch(self, sql: str, params: tuple[Any, ...] | None) -> list[Any]:
        return await self._reads.fetch(sql, params)

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        """One idempotent statement (an ``INSERT IGNORE`` or an upsert to the same value), so
        the pool's retry on a new connection after a dead idle one never doubles it; the pool
        raises ``EventStoreUnavailable`` when that one fails too."""
        await self._reads.fetch(sql, params)

    def _recorded(self, row: Any) -> RecordedEvent:
        return event_from_row(row, self._upcasters)


def event_from_row(row: Any, upcasters: Upcasters) -> RecordedEvent:
    """A row of ``SELECT {EVENT_COLUMNS} FROM events`` as a :class:`RecordedEvent`, upcast."""
    position, stream_id, version, event_id, event_type, schema_version, data, meta, at = row
    schema_version, payload = upcasters.upcast(event_type, schema_version, orjson.loads(data))
    return recorded_event(
        int(position),
        stream_id,
        int(version),
        event_id_from_text(str(event_id)),
        event_type,
        int(schema_version),
        payload,
        orjson.loads(meta),
        _utc(at),
    )


def _ranges_read(select: str, part: Mapping[str, int]) -> tuple[str, tuple[Any, ...] | None]:
    """``select`` (with its ``{ranges}``) for the streams of ``part`` from their versions, and its
    parameters: none when the ids can be written into the text (``sql.literal_ranges``)."""
    written = literal_ranges(part)
    if written is not None:
        return select.format(ranges=written), None
    return select.format(ranges=stream_ranges(len(part))), tuple(range_params(part))


def _parts(from_versions: Mapping[str, int]) -> list[dict[str, int]]:
    """``from_versions`` in parts of at most :data:`~event_store.sql.STREAMS_PER_READ`."""
    items = list(from_versions.items())
    return [
        dict(items[start : start + STREAMS_PER_READ])
        for start in range(0, len(items), STREAMS_PER_READ)
    ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)
