"""The adapter's SQL on the exchange's tables: reads of events and checkpoints, and snapshots.

Appends never come here: they go through the store's group-commit writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncEngine

NOTIFICATION_COLUMNS: Final = (
    "position, stream_id, stream_version, type, schema_version, data, metadata"
)

INSERT_SNAPSHOT: Final = (
    "INSERT INTO snapshots (stream_id, version, type, schema_version, state)"
    " VALUES (%s, %s, %s, %s, %s)"
)


async def fetch(engine: AsyncEngine, sql: str, params: Sequence[Any]) -> list[Any]:
    """The rows of one statement."""
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql(sql, tuple(params))
        return list(result.all())


async def insert_all(engine: AsyncEngine, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` in one transaction (a duplicate key rolls every row back)."""
    async with engine.begin() as conn:
        await conn.exec_driver_sql(sql, [tuple(row) for row in rows])


def select_stream(
    table: str,
    *,
    gt: int | None,
    lte: int | None,
    desc: bool,
    limit: int | None,
) -> tuple[str, list[Any]]:
    """A stream's rows of ``events`` or ``snapshots`` by (stored) version; params after the id.

    Columns: version, type, schema_version, payload.
    """
    version, payload = ("stream_version", "data") if table == "events" else ("version", "state")
    sql = f"SELECT {version}, type, schema_version, {payload} FROM {table} WHERE stream_id = %s"
    params: list[Any] = []
    if gt is not None:
        sql += f" AND {version} > %s"
        params.append(gt)
    if lte is not None:
        sql += f" AND {version} <= %s"
        params.append(lte)
    sql += f" ORDER BY {version} {'DESC' if desc else 'ASC'}"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    return sql, params


def select_notifications(
    prefix: str,
    start: int | None,
    limit: int,
    stop: int | None,
    topics: Sequence[str],
    *,
    inclusive_of_start: bool,
) -> tuple[str, list[Any]]:
    """An application's events in position order, as eventsourcing asks for them.

    The application's streams are picked by prefix while the primary key is walked in position
    order, so a reader scans the exchange's events between two of the application's.
    """
    sql = f"SELECT {NOTIFICATION_COLUMNS} FROM events WHERE LEFT(stream_id, %s) = %s"
    params: list[Any] = [len(prefix), prefix]
    if start is not None:
        sql += " AND position >= %s" if inclusive_of_start else " AND position > %s"
        params.append(start)
    if stop is not None:
        sql += " AND position <= %s"
        params.append(stop)
    if topics:
        sql += f" AND type IN ({', '.join(['%s'] * len(topics))})"
        params.extend(topics)
    sql += " ORDER BY position LIMIT %s"
    params.append(limit)
    return sql, params


MAX_NOTIFICATION_ID: Final = (
    "SELECT position FROM events WHERE LEFT(stream_id, %s) = %s ORDER BY position DESC LIMIT 1"
)
"""The application's newest event: a backward walk of the primary key to its first match."""

MAX_TRACKING_ID: Final = "SELECT position FROM checkpoints WHERE consumer = %s"
