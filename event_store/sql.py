"""The SQL of the event store's hot paths, on raw asyncmy cursors."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

import orjson

from event_store.planning import EventRow

LOCK_SEQUENCE: Final = "SELECT last_position FROM event_sequence WHERE id = 1 FOR UPDATE"
CLAIM_SEQUENCE: Final = (
    "UPDATE event_sequence SET last_position = %s WHERE id = 1 AND last_position = %s"
)
"""Takes the sequence lock and moves it in one round trip, if no one else appended since."""
SET_SEQUENCE: Final = "UPDATE event_sequence SET last_position = %s WHERE id = 1"
LAST_POSITION: Final = "SELECT last_position FROM event_sequence WHERE id = 1"

INSERT_EVENTS: Final = (
    "INSERT INTO events (position, stream_id, stream_version, event_id, type, schema_version,"
    " data, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
INSERT_CHECKPOINTS: Final = (
    "INSERT INTO checkpoints (consumer, position) VALUES (%s, %s)"
    " ON DUPLICATE KEY UPDATE position = VALUES(position)"
)
INSERT_SNAPSHOT: Final = (
    "INSERT IGNORE INTO snapshots (stream_id, version, type, schema_version, state)"
    " VALUES (?, ?, ?, ?, ?)"
)
"""A prepared statement (``?``): see :meth:`event_store.connection.ReadPool.execute_prepared`."""
EVENT_COLUMNS: Final = (
    "position, stream_id, stream_version, event_id, type, schema_version, data, metadata,"
    " recorded_at"
)


MAX_BULK_BYTES: Final = 4 * 1024 * 1024


class EventInserter:
    """Inserts event rows on one connection with MariaDB's bulk protocol.

    ``COM_STMT_BULK_EXECUTE`` sends the rows in binary form in one round trip: no escaping in
    Python, no SQL parsing per row on the server (about twice as fast as multi-row INSERT text
    on this machine). Falls back to ``executemany`` if the server lacks it.
    """

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._statement: Any = None
        self._bulk = bool(getattr(connection, "_bulk_supported", False))

    async def insert(self, cursor: Any, rows: Sequence[EventRow], payload_bytes: int) -> None:
        """Insert ``rows`` (``payload_bytes`` of JSON in all) in statements of bounded size."""
        if not self._bulk:
            await cursor.executemany(INSERT_EVENTS, rows)
            return
        if self._statement is None:
            self._statement = await self._connection.prepare(INSERT_EVENTS.replace("%s", "?"))
        if payload_bytes <= MAX_BULK_BYTES:
            await self._statement.execute_bulk(rows)
            return
        for chunk in _chunks_by_size(rows):
            await self._statement.execute_bulk(chunk)


def _chunks_by_size(rows: Sequence[EventRow]) -> list[Sequence[EventRow]]:
    chunks: list[Sequence[EventRow]] = []
    start, size = 0, 0
    for index, row in enumerate(rows):
        row_size = len(row[6]) + len(row[7]) + 128
        if size + row_size > MAX_BULK_BYTES and index > start:
            chunks.append(rows[start:index])
            start, size = index, 0
        size += row_size
    chunks.append(rows[start:])
    return chunks


Statement = tuple[str, list[Any]]
"""One SQL statement (asyncmy placeholders) and its parameters: a part of :func:`run_statements`."""


async def run_statements(cursor: Any, statements: Sequence[Statement]) -> list[list[Any]]:
    """Run ``statements`` in one round trip (a multi-statement query, which asyncmy's connections
    allow), in order, in the cursor's transaction; the rows of each, in order.

    MariaDB stops at the first statement that fails (the error is raised here) and runs none
    after it, so ``... ; COMMIT`` commits only if everything before it succeeded. Each round trip
    costs MariaDB ~30 us and the client ~40 us of CPU, and the careful path holds the sequence
    lock (every process's appends wait) for all of its round trips."""
    params: list[Any] = []
    for _, part in statements:
        params.extend(part)
    await cursor.execute(";".join(sql for sql, _ in statements), params or None)
    results: list[list[Any]] = [list(await cursor.fetchall())]
    for _ in range(len(statements) - 1):
        await cursor.nextset()
        results.append(list(await cursor.fetchall()))
    return results


def finish_statements(sequence: int | None, checkpoints: Mapping[str, int]) -> list[Statement]:
    """What ends an append transaction after its rows, in one round trip: the sequence moved to
    ``sequence`` (``None``: the claim moved it already), the checkpoints upserted, ``COMMIT``."""
    statements: list[Statement] = []
    if sequence is not None:
        statements.append((SET_SEQUENCE, [sequence]))
    if checkpoints:
        values = ", ".join(["(%s, %s)"] * len(checkpoints))
        params: list[Any] = []
        for consumer, position in checkpoints.items():
            params.append(consumer)
            params.append(position)
        statements.append(
            (
                f"INSERT INTO checkpoints (consumer, position) VALUES {values}"
                " ON DUPLICATE KEY UPDATE position = VALUES(position)",
                params,
            )
        )
    statements.append(("COMMIT", []))
    return statements


def saved_checkpoints_sql(consumers: Collection[str]) -> Statement:
    """The saved position of each of ``consumers`` that has one (rows for :func:`positions_of`)."""
    return (
        f"SELECT consumer, position FROM checkpoints WHERE consumer IN"
        f" ({_placeholders(len(consumers))})",
        list(consumers),
    )


def positions_of(rows: Sequence[tuple[Any, Any]]) -> dict[str, int]:
    """Consumer → saved position from the rows of :func:`saved_checkpoints_sql`."""
    return {str(consumer): int(position) for consumer, position in rows}


STREAM_VERSIONS: Final = (
    "SELECT w.sid, (SELECT e.stream_version FROM events AS e WHERE e.stream_id = w.sid"
    " ORDER BY e.stream_version DESC LIMIT 1)"
    " FROM JSON_TABLE(%s, '$[*]' COLUMNS (sid VARCHAR(200) PATH '$')) AS w"
)
"""The current version of each stream of a JSON array of ids (one index dive per stream; the
ids go as one parameter, so the client escapes one string instead of thousands). Not
``MAX(stream_version)``: in a subquery correlated with the JSON table, MariaDB 10.11 computes it
by walking every index entry of the stream (``Handler_read_next`` 9,944 for one trader's
account of 9,944 events, under the writer's sequence lock); ``ORDER BY ... DESC LIMIT 1`` is
one dive to the stream's last entry."""

STREAMS_PER_READ: Final = 500
"""Streams per statement of :func:`stream_ranges` (the range optimizer's memory is bounded)."""


def stream_ranges(count: int) -> str:
    """``(stream_id = %s AND stream_version >= %s) OR ...`` for ``count`` streams: one range of
    the ``(stream_id, stream_version)`` key per stream, each starting at its from-version.

    Not the pairs as a JSON table joined on the key: MariaDB reads the joined table with
    ``ref`` access on ``stream_id`` and cannot take the joined lower bound as a range, so it
    walked every event of each stream from version 1, testing the bound as an index condition
    (``Handler_icp_attempts`` ~280 per order in the 1M pipeline run, growing with the traders'
    account streams). With the ranges spelled out, it reads only the tails."""
    return " OR ".join(["(stream_id = %s AND stream_version >= %s)"] * count)


_PLAIN_IDS: Final = re.compile(r"[A-Za-z0-9_.:-]*")
"""Characters a stream id may have to be written into SQL text as it is (every id of the
exchange's own streams: names, numbers, hex digests, ``client_order_id``s)."""


def literal_ranges(from_versions: Mapping[str, int]) -> str | None:
    """:func:`stream_ranges` with the ids and versions written in (no parameters), or ``None``
    if an id holds a character outside :data:`_PLAIN_IDS`, which then go as parameters.

    The client escaped every parameter in Python (asyncmy's ``escape_args``, ``literal``,
    ``escape_string``): ~13k instructions per stream of a read, as many as MariaDB's parse of
    the text (callgrind, a 50-stream tail read). A plain id needs no escaping; a version is an
    ``int``, written as one (``:d`` refuses anything else)."""
    if not _PLAIN_IDS.fullmatch("".join(from_versions)):
        return None
    return " OR ".join(
        [
            f"(stream_id = '{stream_id}' AND stream_version >= {version:d})"
            for stream_id, version in from_versions.items()
        ]
    )


def grouped_ranges(from_versions: Mapping[str, int]) -> tuple[str, tuple[Any, ...] | None]:
    """:func:`stream_ranges` with the streams read from the same version in one ``IN`` list:
    ``(stream_id IN (..) AND stream_version >= v) OR ...`` (ids written in when plain, as
    :func:`literal_ranges` does, else parameters), and its parameters (``None`` if written in).

    The command API's coalesced tail reads are mostly cancels reading orders whole (from 1)
    beside accounts catching up (each from its own version). MariaDB's range optimizer pays per
    disjunct: on a 300k-order run's streams, batches of 160 orders from 1 and 60 accounts cost
    it 31-35 us per stream as one range each, 16-19 us grouped (same rows)."""
    groups: dict[int, list[str]] = {}
    for stream_id, version in from_versions.items():
        groups.setdefault(version, []).append(stream_id)
    plain = _PLAIN_IDS.fullmatch("".join(from_versions)) is not None
    params: list[Any] = []
    clauses = []
    for version, stream_ids in groups.items():
        if plain:
            listed = ",".join([f"'{stream_id}'" for stream_id in stream_ids])
        else:
            listed = ",".join(["%s"] * len(stream_ids))
            params.extend(stream_ids)
        clauses.append(f"(stream_id IN ({listed}) AND stream_version >= {version:d})")
    return " OR ".join(clauses), None if plain else tuple(params)


def id_list(stream_ids: Collection[str]) -> tuple[str, tuple[Any, ...]]:
    """``'a','b',...`` for ``IN (...)`` with the ids written in when they are plain (as
    :func:`literal_ranges` does), else ``%s`` each, and the parameters (none then)."""
    if _PLAIN_IDS.fullmatch("".join(stream_ids)):
        return ",".join([f"'{stream_id}'" for stream_id in stream_ids]), ()
    return ",".join(["%s"] * len(stream_ids)), tuple(stream_ids)


def range_params(from_versions: Mapping[str, int]) -> list[Any]:
    """The parameters of :func:`stream_ranges`: each stream id, then its from-version."""
    params: list[Any] = []
    for stream_id, version in from_versions.items():
        params.append(stream_id)
        params.append(version)
    return params


def versions_of(rows: Sequence[tuple[Any, Any]]) -> dict[str, int]:
    """Stream id → version from the rows of :data:`STREAM_VERSIONS` (0: no event yet)."""
    return {str(stream_id): int(version or 0) for stream_id, version in rows}


def stream_versions_sql(stream_ids: Collection[str]) -> Statement:
    """The current version of each stream (rows for :func:`versions_of`; 0: no event)."""
    return (STREAM_VERSIONS, [orjson.dumps(list(stream_ids)).decode()])


async def stream_versions(cursor: Any, stream_ids: Collection[str]) -> dict[str, int]:
    """The current version of each stream (0 for a stream with no event), in one statement."""
    (rows,) = await run_statements(cursor, [stream_versions_sql(stream_ids)])
    return versions_of(rows)


def appended_versions_sql(
    after: int, upto: int, prefixes: Sequence[str] | None = None
) -> Statement:
    """The latest version of each stream appended to at positions ``after < p <= upto`` (rows
    for :func:`latest_versions`: a range of the primary key, read in position order, so a
    stream's later row holds its higher version), only of the streams whose ids start with one
    of ``prefixes`` if given.

    Not ``GROUP BY stream_id`` with ``MAX``: MariaDB grouped the range in a temporary table and
    filesorted it (its implicit GROUP BY order), ~2x the server time of the plain range scan on
    2,000 rows (1.9 vs 0.8 ms, 2026-12-03), and this runs under the sequence lock."""
    sql = "SELECT stream_id, stream_version FROM events WHERE position > %s AND position <= %s"
    params: list[Any] = [after, upto]
    if prefixes is not None:
        sql += " AND (" + " OR ".join(["stream_id LIKE %s"] * len(prefixes)) + ")"
        params.extend(like_prefix(prefix) for prefix in prefixes)
    return (sql + " ORDER BY position", params)


def latest_versions(rows: Sequence[tuple[Any, Any]]) -> dict[str, int]:
    """Stream id → its latest version from the rows of :func:`appended_versions_sql`."""
    return {str(stream_id): int(version) for stream_id, version in rows}


def like_prefix(prefix: str) -> str:
    """A ``LIKE`` pattern matching the strings that start with ``prefix``."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def recorded_ids_sql(event_ids: Sequence[str]) -> list[Statement]:
    """Which of ``event_ids`` are recorded (rows for :func:`recorded_of`), 1,000 ids a
    statement."""
    return [
        (
            "SELECT event_id, position, stream_id, stream_version FROM events"
            f" WHERE event_id IN ({_placeholders(len(chunk))})",
            list(chunk),
        )
        for chunk in (event_ids[start : start + 1000] for start in range(0, len(event_ids), 1000))
    ]


def recorded_of(results: Sequence[Sequence[Any]]) -> dict[str, tuple[int, str, int]]:
    """Event id → (position, stream_id, stream_version) from the rows of
    :func:`recorded_ids_sql`'s statements."""
    found: dict[str, tuple[int, str, int]] = {}
    for rows in results:
        for event_id, position, stream_id, version in rows:
            found[str(event_id)] = (int(position), stream_id, int(version))
    return found


async def recorded_event_ids(
    cursor: Any, event_ids: Sequence[str]
) -> dict[str, tuple[int, str, int]]:
    """Event id → (position, stream_id, stream_version) for the ids already recorded."""
    if not event_ids:
        return {}
    return recorded_of(await run_statements(cursor, recorded_ids_sql(event_ids)))


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)
