"""Read-only SQL over the events table for auditors: one lifecycle's events, in position order.

A *lifecycle* is the set of events an auditor asks about:

* an **order**: its ``order-<id>`` stream (placement, requests, the engine's events), its
  ``batch-<id>`` stream when it was placed in a batch, and the events of its owner's
  ``account-<user_id>`` that name its ``order_id`` (``FundsReserved``, ``FundsReleased``,
  ``TradeSettled``) or hold for its batch (``BatchFundsReserved``);
* a **user**: ``user-<id>``, ``account-<id>`` and the ``order-*`` (and ``batch-*``) streams of
  every order the account reserved funds for (every placement reserves, in the same append);
  the fee account (user 0) has an account and no user stream;
* a **symbol**: ``instrument-<S>``, ``session-<S>`` and every event whose data names the symbol
  (``symbol`` or, for share movements, ``asset``; a ``BatchFundsReserved`` holding for it) or
  that is routed to its engine shard (metadata ``order_symbol``), from its listing on (nothing
  of a symbol precedes its listing), leaving out the streams of eventsourcing applications
  (``model.FOREIGN_STREAM_PREFIX``).

Order and user lifecycles are read by stream id (indexed); a symbol's needs ``JSON_VALUE`` on
every event, so it is scanned in position ranges with a progress callback. Events come back as
stored unless the reader was given upcasters.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import ENGINE_DB_ERRORS, make_engine
from event_store.connection import DB_ERRORS
from event_store.errors import EventStoreError, EventStoreUnavailable
from event_store.mariadb import event_from_row
from event_store.model import FOREIGN_STREAM_PREFIX, RecordedEvent
from event_store.sql import EVENT_COLUMNS, LAST_POSITION
from event_store.upcasting import Upcasters

Progress = Callable[[int, int], None]
"""Called with (work done, total work) while a read runs."""

_BATCH_RESERVED: Final = "BatchFundsReserved"
"""A batch's reservations on its owner's account, one event (``holds``: see the domain's)."""

ENGINE_INPUT_TYPES: Final = (
    "OrderPlaced",
    "CancelRequested",
    "AmendRequested",
    "BatchPlaced",
    "SessionClosed",
)
"""The events the matching engine consumes (they carry ``order_symbol`` in their metadata)."""

SCAN_CHUNK: Final = 50_000
"""Positions per query of a scan: short queries, and a progress bar that moves."""

_STREAMS_PER_QUERY: Final = 500


class UnknownLifecycle(EventStoreError):
    """The order, user or symbol asked about has no events in the store."""


@dataclass(frozen=True, slots=True)
class Window:
    """Which part of the log to read; every bound is inclusive and optional.

    Times are compared with ``recorded_at`` (the commit time, UTC).
    """

    from_position: int | None = None
    to_position: int | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None

    def sql(self) -> tuple[str, tuple[Any, ...]]:
        """The window as a SQL condition (``"1=1"`` when open) and its parameters."""
        parts, params = ["1=1"], list[Any]()
        for column, operator, value in (
            ("position", ">=", self.from_position),
            ("position", "<=", self.to_position),
            ("recorded_at", ">=", _naive_utc(self.from_time)),
            ("recorded_at", "<=", _naive_utc(self.to_time)),
        ):
            if value is not None:
                parts.append(f"{column} {operator} %s")
                params.append(value)
        return " AND ".join(parts), tuple(params)


class AuditReader:
    """Reads lifecycles from the events table of one MariaDB database (never writes)."""

    def __init__(
        self,
        engine: AsyncEngine,
        upcasters: Upcasters | None = None,
        *,
        owns_engine: bool = False,
        scan_chunk: int = SCAN_CHUNK,
    ) -> None:
        self._engine = engine
        self._upcasters = upcasters or Upcasters()
        self._owns_engine = owns_engine
        self._scan_chunk = scan_chunk

    @classmethod
    def from_url(cls, database_url: str, upcasters: Upcasters | None = None) -> AuditReader:
        """A reader with its own small engine (disposed by :meth:`close`)."""
        return cls(make_engine(database_url, pool_size=2), upcasters, owns_engine=True)

    async def close(self) -> None:
        """Release the connections (dispose the engine if this reader made it)."""
        if self._owns_engine:
            await self._engine.dispose()

    async def last_position(self) -> int:
        """The position of the last committed event (0 when the store is empty)."""
        rows = await self._fetch(LAST_POSITION, ())
        return int(rows[0][0]) if rows else 0

    async def first_event(self, stream_id: str) -> RecordedEvent | None:
        """The first event of a stream, or ``None`` when the stream does not exist."""
        rows = await self._fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = %s"
            " ORDER BY stream_version LIMIT 1",
            (stream_id,),
        )
        return self._recorded(rows[0]) if rows else None

    async def read_streams(
        self, stream_ids: Sequence[str], window: Window = Window()
    ) -> list[RecordedEvent]:
        """Every event of the given streams inside ``window``, in position order."""
        where, params = window.sql()
        runs: list[list[RecordedEvent]] = []
        for start in range(0, len(stream_ids), _STREAMS_PER_QUERY):
            chunk = list(stream_ids[start : start + _STREAMS_PER_QUERY])
            rows = await self._fetch(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_id IN ({_marks(len(chunk))})"
                f" AND {where} ORDER BY position",
                (*chunk, *params),
            )
            runs.append([self._recorded(row) for row in rows])
        return list(heapq.merge(*runs, key=_position))

    async def select(
        self, condition: str, params: tuple[Any, ...], window: Window = Window()
    ) -> list[RecordedEvent]:
        """The events matching a SQL ``condition`` (on indexed columns!) in ``window``."""
        where, window_params = window.sql()
        rows = await self._fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE ({condition}) AND {where} ORDER BY position",
            (*params, *window_params),
        )
        return [self._recorded(row) for row in rows]

    async def scan(
        self,
        condition: str,
        params: tuple[Any, ...],
        window: Window = Window(),
        progress: Progress | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """The events matching a SQL ``condition``, read in position ranges (for full scans)."""
        first = max(window.from_position or 1, 1)
        last = await self.last_position()
        if window.to_position is not None:
            last = min(last, window.to_position)
        where, window_params = window.sql()
        total = max(last - first + 1, 0)
        for start in range(first, last + 1, self._scan_chunk):
            end = min(start + self._scan_chunk - 1, last)
            rows = await self._fetch(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE position BETWEEN %s AND %s"
                f" AND ({condition}) AND {where} ORDER BY position",
                (start, end, *params, *window_params),
            )
            for row in rows:
                yield self._recorded(row)
            if progress is not None:
                progress(end - first + 1, total)
        if progress is not None and total == 0:
            progress(0, 0)

    async def column(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """The first column of a query's rows (for the lifecycle lookups)."""
        return [row[0] for row in await self._fetch(sql, params)]

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            async with self._engine.connect() as conn:
                result = await conn.exec_driver_sql(sql, params)
                return list(result.all())
        except (*DB_ERRORS, *ENGINE_DB_ERRORS) as exc:
            raise EventStoreUnavailable(f"MariaDB read failed: {exc}") from exc

    def _recorded(self, row: Any) -> RecordedEvent:
        return event_from_row(row, self._upcasters)


async def order_lifecycle(
    reader: AuditReader, order_id: int, window: Window = Window()
) -> list[RecordedEvent]:
    """The order's lifecycle (see the module docstring); ``UnknownLifecycle`` if no such order."""
    placed = await reader.first_event(f"order-{order_id}")
    if placed is None:
        raise UnknownLifecycle(f"no order {order_id} in the store")
    streams = [placed.stream_id]
    owner_account = f"account-{placed.data['user_id']}"
    condition = "OR (stream_id = %s AND JSON_VALUE(data, '$.order_id') = %s)"
    params = [owner_account, str(order_id)]
    batch_id = placed.data.get("batch_id")
    if batch_id is not None:  # its batch's stream, and the batch's reservations on the account
        streams.append(f"batch-{batch_id}")
        condition += f" OR (stream_id = %s AND type = '{_BATCH_RESERVED}'"
        condition += " AND JSON_VALUE(data, '$.batch_id') = %s)"
        params += [owner_account, str(batch_id)]
    return await reader.select(
        f"stream_id IN ({_marks(len(streams))}) {condition}", (*streams, *params), window
    )


async def user_lifecycle(
    reader: AuditReader, user_id: int, window: Window = Window()
) -> list[RecordedEvent]:
    """The user's lifecycle (see the module docstring); ``UnknownLifecycle`` if no such user."""
    account = f"account-{user_id}"
    unknown = await reader.first_event(f"user-{user_id}") is None  # (the fee account has no user)
    if unknown and await reader.first_event(account) is None:
        raise UnknownLifecycle(f"no user {user_id} in the store")
    order_ids = await reader.column(
        "SELECT DISTINCT JSON_VALUE(data, '$.order_id') FROM events"
        " WHERE stream_id = %s AND type = 'FundsReserved'",
        (account,),
    )
    for held in await reader.column(  # (a batch's legs: each hold's third item)
        f"SELECT JSON_EXTRACT(data, '$.holds[*][2]') FROM events WHERE stream_id = %s"
        f" AND type = '{_BATCH_RESERVED}'",
        (account,),
    ):
        order_ids.extend(str(order_id) for order_id in orjson.loads(held))
    order_streams = sorted({f"order-{order_id}" for order_id in order_ids if order_id})
    batch_ids: set[str] = set()
    for start in range(0, len(order_streams), _STREAMS_PER_QUERY):
        chunk = order_streams[start : start + _STREAMS_PER_QUERY]
        found = await reader.column(
            "SELECT JSON_VALUE(data, '$.batch_id') FROM events"
            f" WHERE stream_id IN ({_marks(len(chunk))}) AND stream_version = 1",
            tuple(chunk),
        )
        batch_ids.update(str(batch_id) for batch_id in found if batch_id)
    streams = [f"user-{user_id}", account, *order_streams]
    streams += sorted(f"batch-{batch_id}" for batch_id in batch_ids)
    return await reader.read_streams(streams, window)


async def symbol_lifecycle(
    reader: AuditReader,
    symbol: str,
    window: Window = Window(),
    progress: Progress | None = None,
) -> AsyncIterator[RecordedEvent]:
    """The symbol's lifecycle (see the module docstring), streamed: ``async for e in await
    symbol_lifecycle(...)``. ``UnknownLifecycle`` (at once) if the symbol was never listed."""
    listed = await reader.first_event(f"instrument-{symbol}")
    if listed is None:
        raise UnknownLifecycle(f"no instrument {symbol!r} in the store")
    if window.from_position is None or window.from_position < listed.position:
        window = replace(window, from_position=listed.position)  # nothing of it comes before
    condition = (
        "(stream_id IN (%s, %s) OR JSON_VALUE(data, '$.symbol') = %s"
        " OR JSON_VALUE(data, '$.asset') = %s OR JSON_VALUE(metadata, '$.order_symbol') = %s"
        f" OR (type = '{_BATCH_RESERVED}'"
        " AND JSON_CONTAINS(JSON_EXTRACT(data, '$.holds[*][3]'), JSON_QUOTE(%s))))"
        " AND LEFT(stream_id, %s) <> %s"
    )
    params = (
        f"instrument-{symbol}",
        f"session-{symbol}",
        symbol,
        symbol,
        symbol,
        symbol,
        len(FOREIGN_STREAM_PREFIX),
        FOREIGN_STREAM_PREFIX,
    )
    return reader.scan(condition, params, window, progress)


def engine_inputs(
    reader: AuditReader,
    symbol: str,
    up_to_position: int,
    from_position: int = 1,
    progress: Progress | None = None,
) -> AsyncIterator[RecordedEvent]:
    """The matching engine's inputs for ``symbol`` in ``from_position..up_to_position``, in
    order (start at the symbol's listing: no input of it comes before)."""
    condition = (
        f"type IN ({_marks(len(ENGINE_INPUT_TYPES))})"
        " AND JSON_VALUE(metadata, '$.order_symbol') = %s"
    )
    window = Window(from_position, up_to_position)
    return reader.scan(condition, (*ENGINE_INPUT_TYPES, symbol), window, progress)


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


def _position(event: RecordedEvent) -> int:
    return event.position


def _naive_utc(moment: datetime | None) -> datetime | None:
    """``recorded_at`` is a UTC ``DATETIME``: compare it with a naive UTC value."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None)
