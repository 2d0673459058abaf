"""The MariaDB event store: appends through the group-commit writer, reads and the snapshot and
checkpoint writes on a pool of raw autocommit connections (``connection.ReadPool``). It imports
no SQLAlchemy (a worker's start would pay ~0.3 s of CPU for it): an engine given to it only
names the database (and is disposed with the store if it owns it)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

import orjson

from event_store.connection import DB_ERRORS, ReadPool
from event_store.errors import EventStoreUnavailable
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
    LAST_POSITION,
    STREAM_VERSIONS,
    versions_of,
)
from event_store.upcasting import Upcasters
from event_store.writer import GroupCommitWriter

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

_FROM_VERSIONS: Final = (
    " FROM JSON_TABLE(%s, '$[*]' COLUMNS (sid VARCHAR(200) PATH '$[0]', v INT PATH '$[1]')) AS w"
    " JOIN events AS e ON e.stream_id = w.sid AND e.stream_version >= w.v"
)
READ_STREAMS: Final = (
    "SELECT e.position, e.stream_id, e.stream_version, e.event_id, e.type, e.schema_version,"
    " e.data, e.metadata, e.recorded_at" + _FROM_VERSIONS + " ORDER BY e.position"
)
"""Many streams from their own versions (:meth:`MariaDbEventStore.read_streams`)."""
READ_STREAM_TAILS: Final = (
    "SELECT e.position, e.stream_id, e.stream_version, e.type, e.schema_version, e.data"
    + _FROM_VERSIONS
)
"""The same, only what a fold reads (:meth:`MariaDbEventStore.read_stream_tails`), and in no
order: ``ORDER BY e.position`` over the join made MariaDB materialize the rows (a BLOB column:
an Aria temporary table) and filesort them, and one such statement crashed MariaDB 10.11.19 in
``free_tmp_table`` (SIGSEGV, 2026-12-02, while the command API's coalesced tail reads ran at
256 requests in flight). Without it the plan is a plain nested loop over the streams' index;
each stream's events are put in version order in Python."""
_VERSION_OF: Final = itemgetter(1)
"""A ``StoredData``'s ``stream_version``."""
READ_ONE_TAIL: Final = (
    "SELECT position, stream_id, stream_version, type, schema_version, data FROM events"
    " WHERE stream_id = %s AND stream_version >= %s ORDER BY stream_version"
)
"""The same for one stream (the command API's cancels and account catch-ups): no JSON table."""
LOAD_SNAPSHOTS: Final = (
    "SELECT s.stream_id, s.version, s.type, s.schema_version, s.state FROM JSON_TABLE(%s,"
    " '$[*]' COLUMNS (sid VARCHAR(200) PATH '$')) AS w JOIN snapshots AS s"
    " ON s.stream_id = w.sid AND s.version = (SELECT MAX(version) FROM snapshots"
    " WHERE stream_id = w.sid)"
)
"""The newest snapshot of many streams (:meth:`MariaDbEventStore.load_snapshots`)."""


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
    ) -> None:
        """``engine``: the database, as a SQLAlchemy engine or a URL string."""
        if isinstance(engine, str):
            url, self._engine = engine, None
        else:
            url, self._engine = engine.url.render_as_string(hide_password=False), engine
        self._owns_engine = owns_engine
        self._upcasters = upcasters or Upcasters()
        self._writer = GroupCommitWriter(url, max_batch_appends)
        self._reads = ReadPool(url, read_connections)

    @classmethod
    def from_url(
        cls, database_url: str, upcasters: Upcasters | None = None, pool_size: int = 8
    ) -> MariaDbEventStore:
        """A store on ``database_url`` (at most ``2 * pool_size`` reads at once, as the engine
        it once made allowed with its overflow)."""
        return cls(database_url, upcasters, read_connections=2 * pool_size)

    async def append(
        self, *appends: StreamAppend, checkpoint: Checkpoint | None = None
    ) -> AppendResult:
        """See :meth:`event_store.protocol.EventStore.append`."""
        return await self._writer.submit(encode_append(appends, checkpoint))

    async def append_encoded(self, encoded: EncodedAppend) -> AppendResult:
        """See :meth:`event_store.protocol.EventStore.append_encoded`."""
        return await self._writer.submit(encoded)

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
        """See :meth:`event_store.protocol.EventStore.read_streams`.

        One statement: the (stream, from-version) pairs go in as a JSON table joined on the
        ``(stream_id, stream_version)`` key (a UNION of one SELECT per stream cost ~4x more).
        """
        found: dict[str, list[RecordedEvent]] = {stream_id: [] for stream_id in from_versions}
        if not from_versions:
            return found
        for row in await self._fetch(READ_STREAMS, (_pairs(from_versions),)):
            event = self._recorded(row)
            found[event.stream_id].append(event)
        return found

    async def read_stream_tails(
        self, from_versions: Mapping[str, int]
    ) -> dict[str, list[StoredData]]:
        """See :meth:`event_store.protocol.EventStore.read_stream_tails` (one statement, as
        :meth:`read_streams`: the (stream, from-version) pairs joined as a JSON table)."""
        found: dict[str, list[StoredData]] = {stream_id: [] for stream_id in from_versions}
        if not from_versions:
            return found
        if len(from_versions) == 1:
            rows = await self._fetch(READ_ONE_TAIL, next(iter(from_versions.items())))
        else:
            rows = await self._fetch(READ_STREAM_TAILS, (_pairs(from_versions),))
        upcast, loads = self._upcasters.upcast, orjson.loads
        for position, stream_id, version, event_type, schema_version, data in rows:
            payload = upcast(event_type, schema_version, loads(data))[1]
            found[stream_id].append(StoredData(int(position), int(version), event_type, payload))
        if len(from_versions) > 1:  # (READ_STREAM_TAILS has no ORDER BY; see there)
            for events in found.values():
                events.sort(key=_VERSION_OF)
        return found

    def note_versions(self, versions: Mapping[str, int]) -> None:
        """See :meth:`event_store.protocol.EventStore.note_versions` (the writer's cache)."""
        self._writer.note_versions(versions)

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
        await self._write(
            "INSERT IGNORE INTO snapshots (stream_id, version, type, schema_version, state)"
            " VALUES (%s, %s, %s, %s, %s)",
            (
                snapshot.stream_id,
                snapshot.version,
                snapshot.type,
                snapshot.schema_version,
                orjson.dumps(snapshot.state).decode(),
            ),
        )

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

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        return await self._reads.fetch(sql, params)

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        """One idempotent statement (an ``INSERT IGNORE`` or an upsert to the same value), so
        the pool's retry on a new connection after a dead idle one never doubles it."""
        try:
            await self._reads.fetch(sql, params)
        except DB_ERRORS as exc:
            raise EventStoreUnavailable(f"MariaDB write failed: {exc}") from exc

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


def _pairs(from_versions: Mapping[str, int]) -> str:
    """``[[stream_id, from_version], ...]`` as the JSON the statements' JSON_TABLE reads."""
    return orjson.dumps([[s, v] for s, v in from_versions.items()]).decode()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)
