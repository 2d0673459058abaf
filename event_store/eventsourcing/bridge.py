"""The exchange's async store, run for synchronous callers: one event loop in a daemon thread.

eventsourcing calls its recorders from ordinary threads and waits for each answer. Every
recorder of a process shares one :class:`StoreThread` per database URL (the store's README: one
store per process), so the appends of all those threads meet in the same group-commit writer
and share its transactions. A call hands its coroutine to the loop with
``asyncio.run_coroutine_threadsafe`` and blocks on the result; the store's errors come back as
eventsourcing's (PEP 249 named) persistence errors.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

import asyncmy
from eventsourcing import persistence as es
from sqlalchemy import exc as sa_exc

from common.db import ENGINE_DB_ERRORS, make_engine
from event_store.connection import DB_ERRORS
from event_store.errors import (
    CheckpointConflict,
    DuplicateEventId,
    EventStoreClosed,
    EventStoreUnavailable,
    WrongExpectedVersion,
)
from event_store.mariadb import MariaDbEventStore

T = TypeVar("T")

WAIT_POLL_S: Final = 0.5
"""How often a waiting caller checks that the store's loop is still running."""
DRAIN_S: Final = 5.0
"""How long closing waits for the calls in flight (single statements) before cancelling them."""
POOL_SIZE: Final = 8
"""Connections for reads (appends have the writer's two of their own)."""

_CONFLICTS: Final = (
    WrongExpectedVersion,
    CheckpointConflict,
    DuplicateEventId,
    asyncmy.errors.IntegrityError,
    sa_exc.IntegrityError,
)
_UNAVAILABLE: Final[tuple[type[BaseException], ...]] = (
    EventStoreUnavailable,
    *DB_ERRORS,
    *ENGINE_DB_ERRORS,
)
_BAD_DATA: Final = (asyncmy.errors.DataError, sa_exc.DataError)
_REFUSED: Final = (asyncmy.errors.MySQLError, sa_exc.DBAPIError)


class StoreThread:
    """A :class:`MariaDbEventStore` (and its engine, for reads) on a loop of its own."""

    def __init__(self, database_url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="exchange-event-store", daemon=True
        )
        self._thread.start()
        self.engine = make_engine(database_url, POOL_SIZE)
        self.store = MariaDbEventStore(self.engine, owns_engine=True)
        self._listeners: set[threading.Event] = set()
        self._listeners_lock = threading.Lock()
        self._closed = False
        self._calls: set[asyncio.Task[Any]] = set()
        """Callers' calls in flight (touched on the store's loop only)."""

    def run(self, call: Coroutine[Any, Any, T]) -> T:
        """Run ``call`` on the store's loop and wait for it; store errors as eventsourcing's."""
        if threading.current_thread() is self._thread:
            call.close()
            raise RuntimeError("a recorder was called from the store's own event loop")
        if self._closed:
            call.close()
            raise es.InterfaceError("the exchange's event store is closed")
        try:
            return self._wait(asyncio.run_coroutine_threadsafe(self._tracked(call), self._loop))
        except concurrent.futures.CancelledError as exc:  # close() cancelled it
            raise es.InterfaceError("the exchange's event store closed during the call") from exc
        except _CONFLICTS as exc:
            raise es.IntegrityError(str(exc)) from exc
        except EventStoreClosed as exc:
            raise es.InterfaceError(str(exc)) from exc
        except _UNAVAILABLE as exc:
            raise es.OperationalError(str(exc)) from exc
        except _BAD_DATA as exc:
            raise es.DataError(str(exc)) from exc
        except _REFUSED as exc:  # e.g. a missing table: the schema is not migrated
            raise es.ProgrammingError(str(exc)) from exc

    async def _tracked(self, call: Coroutine[Any, Any, T]) -> T:
        """Run a caller's call, known as in flight meanwhile (closing waits for it)."""
        task = asyncio.current_task()
        assert task is not None
        self._calls.add(task)
        try:
            return await call
        finally:
            self._calls.discard(task)

    def _wait(self, future: concurrent.futures.Future[T]) -> T:
        """The call's result; never blocks forever on a loop that has stopped.

        eventsourcing's own suites close a recorder while reader threads are still inside
        ``select_notifications``; a call that the stopped loop will never finish must fail.
        """
        while True:
            try:
                return future.result(timeout=WAIT_POLL_S)
            except TimeoutError:
                if future.done():
                    raise  # the call itself timed out
                if not self._thread.is_alive():
                    future.cancel()
                    raise EventStoreClosed("the exchange's event store closed") from None

    def listen(self, event: threading.Event) -> None:
        """Set ``event`` whenever events are appended through this process's store."""
        with self._listeners_lock:
            self._listeners.add(event)

    def unlisten(self, event: threading.Event) -> None:
        """Stop setting ``event``."""
        with self._listeners_lock:
            self._listeners.discard(event)

    def notify(self) -> None:
        """Wake this process's subscriptions: something was appended."""
        with self._listeners_lock:
            for event in self._listeners:
                event.set()

    async def _shut_down(self) -> None:
        """Let the calls in flight finish (``DRAIN_S`` at most; later ones are refused), cancel
        any still running (their callers get InterfaceError instead of waiting for a loop that
        is about to stop), then commit what is queued and release the connections.

        Cancelled first, a read could be cut while it checked a connection out or in: the
        engine, disposed, never got it back and the collector found it later ("non-checked-in
        connection", seen in the test runs after eventsourcing's suites closed recorders
        whose reader threads were still reading)."""
        await _finish(list(self._calls), DRAIN_S)
        await self.store.close()
        me = asyncio.current_task()
        await _finish([task for task in asyncio.all_tasks() if task is not me], 0)

    def close(self) -> None:
        """Commit what is queued, release the connections and stop the loop."""
        if self._closed:
            return
        self._closed = True
        asyncio.run_coroutine_threadsafe(self._shut_down(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _finish(pending: list[asyncio.Task[Any]], timeout_s: float) -> None:
    """Wait up to ``timeout_s`` for ``pending``, then cancel those still running."""
    if not pending:
        return
    _, running = await asyncio.wait(pending, timeout=timeout_s)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


_shared: dict[str, tuple[StoreThread, int]] = {}
_shared_lock = threading.Lock()


def acquire(database_url: str) -> StoreThread:
    """The process's store for ``database_url``, started on first use; :func:`release` it."""
    with _shared_lock:
        thread, users = _shared.get(database_url, (None, 0))
        if thread is None:
            thread = StoreThread(database_url)
        _shared[database_url] = (thread, users + 1)
        return thread


def release(database_url: str) -> None:
    """One user fewer; the last one closes the store."""
    with _shared_lock:
        thread, users = _shared[database_url]
        if users > 1:
            _shared[database_url] = (thread, users - 1)
            return
        del _shared[database_url]
    thread.close()


@atexit.register
def _close_all() -> None:
    """Factories nobody closed (eventsourcing's projection runners leave theirs open)."""
    with _shared_lock:
        threads = [thread for thread, _ in _shared.values()]
        _shared.clear()
    for thread in threads:
        thread.close()
