"""A lane of the group-commit writer (``writer.py``): one MariaDB connection with its prepared
insert, and how the callers of the batch it carries learn their outcome."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import asyncmy

from event_store.connection import DB_ERRORS, connect_raw
from event_store.errors import EventStoreError, EventStoreUnavailable
from event_store.model import AppendResult
from event_store.planning import BatchPlan, EncodedAppend
from event_store.sql import EventInserter

# The writer's log: a batch's failures are the writer's to report.
log = logging.getLogger("event_store.writer")

Pending = tuple[EncodedAppend, "asyncio.Future[AppendResult]"]
"""A queued append and the future its caller awaits."""

APPEND_ERRORS: tuple[type[BaseException], ...] = (
    EventStoreError,
    *DB_ERRORS,
    asyncmy.errors.MySQLError,
)
"""What a batch may fail with that its callers are told of (anything else is a bug)."""


class Lane:
    """One connection of the writer, with its prepared insert."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.conn: Any = None
        self.inserter: EventInserter | None = None

    async def connect(self) -> Any:
        """The lane's connection, opened if it has none."""
        if self.conn is None:
            self.conn = await connect_raw(self._url, autocommit=False)
            self.inserter = EventInserter(self.conn)
        return self.conn

    def drop(self) -> None:
        """Close the connection; the next ``connect`` opens a new one."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None
            self.inserter = None

    async def write(self, cur: Any, plan: BatchPlan) -> None:
        """Insert the plan's rows (under the sequence lock; its checkpoints are saved with the
        commit: ``sql.finish_statements``)."""
        assert self.inserter is not None
        if plan.rows:
            await self.inserter.insert(cur, plan.rows, plan.payload_bytes)


def store_error(exc: BaseException, lane: Lane, appends: int) -> EventStoreError:
    """What the callers of a failed batch get; a broken connection is dropped."""
    if isinstance(exc, EventStoreError):
        return exc
    lane.drop()
    if isinstance(exc, DB_ERRORS):
        log.warning("append batch failed", extra={"error": repr(exc), "appends": appends})
        return EventStoreUnavailable(f"MariaDB failed during an append: {exc}")
    log.error("append batch refused", extra={"error": repr(exc), "appends": appends})
    return EventStoreError(f"MariaDB refused an append batch: {exc}")


def settle(future: asyncio.Future[AppendResult], outcome: AppendResult | Exception) -> None:
    """Give an append's caller its outcome, unless it gave up waiting."""
    if future.done():
        return
    if isinstance(outcome, AppendResult):
        future.set_result(outcome)
    else:
        future.set_exception(outcome)


def fail(batch: Sequence[Pending], exc: Exception) -> None:
    """Fail every append of ``batch`` still awaited with ``exc``."""
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
