"""One-stream tail reads of concurrent requests, coalesced into one statement per batch.

Each cancel reads its order's stream and an account catches up after settlement's fills: one
statement per request. With hundreds of requests in flight these reads were ~18 % of the
command API's CPU (plus their waits on the read pool's semaphore, whose waiter queue is a list
scanned on every wake-up) and one MariaDB statement each. Requests that arrive while ``lanes``
reads are running wait for the next one, which reads every waiting stream at once
(``EventStore.read_stream_tails``, one statement). A read always starts after the request
that asked for it, so it sees everything committed before that request arrived: coalescing
costs no freshness. ``TypeReads`` coalesces the same way the reads of a few events' versions and
types only (``EventStore.read_stream_types``: a cancel's untouched-order check).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Final

from event_store.model import StoredData
from event_store.protocol import EventStore

LANES: Final = 2
"""Reads running at once (one more batch fills while one is on the wire)."""
MAX_STREAMS: Final = 256
"""Streams per statement."""

VersionType = tuple[int, str]
"""An event's stream version and type (``EventStore.read_stream_types``)."""


class _Coalesced[Row]:
    """Queues one-stream reads and runs them in batches (see the module docstring)."""

    def __init__(self, store: EventStore, lanes: int, max_streams: int) -> None:
        self._store = store
        self._lanes = lanes
        self._max_streams = max_streams
        self._waiting: dict[str, list[tuple[int, asyncio.Future[list[Row]]]]] = {}
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()  # (strong references while they run)

    def _queue(self, stream_id: str, from_version: int) -> asyncio.Future[list[Row]]:
        """A future of the stream's rows from ``from_version`` on, read after this call. A plain
        function, not a coroutine: a caller reading many streams at once (a cancel of 50
        orders) gathers their futures, where each coroutine became a task of its own."""
        future: asyncio.Future[list[Row]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(stream_id, []).append((from_version, future))
        if self._running < self._lanes:
            self._running += 1
            lane = asyncio.ensure_future(self._drain())  # (its first batch: this tick's callers)
            self._tasks.add(lane)
            lane.add_done_callback(self._tasks.discard)
        return future

    async def _drain(self) -> None:
        """Read batches until nobody waits. The lane counts as running until the very step
        that finds nobody waiting (not until its done callback runs, a tick later): a caller
        arriving in between starts a new lane instead of waiting for one that is leaving."""
        try:
            while self._waiting:
                await self._read(self._take())
        finally:
            self._running -= 1

    def _take(self) -> dict[str, list[tuple[int, asyncio.Future[list[Row]]]]]:
        """Up to ``max_streams`` of the waiting streams, oldest first."""
        if len(self._waiting) <= self._max_streams:
            batch, self._waiting = self._waiting, {}
            return batch
        batch = {}
        for stream_id in list(self._waiting)[: self._max_streams]:
            batch[stream_id] = self._waiting.pop(stream_id)
        return batch

    async def _read(self, batch: dict[str, list[tuple[int, asyncio.Future[list[Row]]]]]) -> None:
        """One statement for the batch; each waiter gets its part (or the read's error)."""
        wanted = {stream_id: min(v for v, _ in waiters) for stream_id, waiters in batch.items()}
        try:
            found = await self._fetch(wanted)
        except Exception as exc:  # noqa: BLE001 - not hidden: every waiter of the batch raises it
            _fail(batch, exc)
            return
        except BaseException:  # (cancelled: the process is stopping)
            _fail(batch, None)
            raise
        for stream_id, waiters in batch.items():
            rows = found[stream_id]
            for from_version, future in waiters:
                if not future.done():  # (a caller that was cancelled meanwhile)
                    future.set_result(self._part(rows, from_version, wanted[stream_id]))

    async def _fetch(self, wanted: dict[str, int]) -> Mapping[str, list[Row]]:
        raise NotImplementedError

    def _part(self, rows: list[Row], from_version: int, read_from: int) -> list[Row]:
        return rows


class TailReads(_Coalesced[StoredData]):
    """Coalesces ``read_stream_tails`` calls of one stream each (see the module docstring)."""

    def __init__(self, store: EventStore, lanes: int = LANES, max_streams: int = MAX_STREAMS):
        super().__init__(store, lanes, max_streams)

    def read(self, stream_id: str, from_version: int) -> asyncio.Future[list[StoredData]]:
        """The stream's events from ``from_version`` on, read after this call: a future."""
        return self._queue(stream_id, from_version)

    async def _fetch(self, wanted: dict[str, int]) -> Mapping[str, list[StoredData]]:
        return await self._store.read_stream_tails(wanted)

    def _part(self, rows: list[StoredData], from_version: int, read_from: int) -> list[StoredData]:
        """The part of a stream's events a waiter asked for (all of them unless another waiter
        of the same stream asked from an earlier version)."""
        if from_version == read_from:
            return rows
        return [event for event in rows if event.stream_version >= from_version]


class TypeReads(_Coalesced[VersionType]):
    """Coalesces ``read_stream_types`` calls: the versions and types of ``count`` events from
    ``first`` on, the same for every stream asked (so every waiter gets what was read)."""

    def __init__(
        self,
        store: EventStore,
        first: int,
        count: int,
        lanes: int = LANES,
        max_streams: int = MAX_STREAMS,
    ) -> None:
        super().__init__(store, lanes, max_streams)
        self._first = first
        self._count = count

    def read(self, stream_id: str) -> asyncio.Future[list[VersionType]]:
        """The (version, type) of the stream's events ``first`` to ``first + count - 1``."""
        return self._queue(stream_id, self._first)

    async def _fetch(self, wanted: dict[str, int]) -> Mapping[str, list[VersionType]]:
        return await self._store.read_stream_types(wanted, self._first, self._count)


def _fail[Row](
    batch: Mapping[str, list[tuple[int, asyncio.Future[list[Row]]]]], error: Exception | None
) -> None:
    """Hand ``error`` to every waiter of the batch (``None``: cancel them)."""
    for waiters in batch.values():
        for _, future in waiters:
            if future.done():
                continue
            if error is None:
                future.cancel()
            else:
                future.set_exception(error)
