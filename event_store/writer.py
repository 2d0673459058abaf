"""Group commit: many concurrent appends become one transaction per batch, two batches in flight.

Every batch holds the lock of the single ``event_sequence`` row while it inserts, so batches
from every process serialise on it: positions are assigned under the lock and each batch
commits before the next can take it, which makes positions gap-free and visible in commit
order.

Expected versions are checked in memory against a cache of stream versions that is exact as
long as no other process appended. The fast path plans a batch from the cache and takes the
lock with one conditional ``UPDATE`` that only matches if the sequence still holds the position
the plan started from; a stream the cache does not know is assumed new when the batch expects
``NO_STREAM`` (the unique key on (stream_id, stream_version) verifies it). Anything else (a
stale cache, a unique-key hit from a retried event id) replans the batch on the careful path:
``SELECT ... FOR UPDATE`` with versions, and event ids if needed, read from the table.

Other processes append between our batches all the time in the full pipeline (the matching and
settlement workers). The careful path then catches the cache up with what they appended since
our last commit (one range read on the primary key, under the lock, so it is exact) instead of
dropping it and reading every stream of the batch back; and while the fast path's claim keeps
failing, batches go straight to the careful path (the failed claim and its rollback were two
round trips per batch for nothing), trying the fast path again every ``PROBE_FAST_EVERY``.

Pipelining: two lanes (connections) alternate. A lane plans its batch on top of the batch still
in flight on the other lane (positions and versions included), so MariaDB is already receiving
batch N+1, which waits for the row lock, while batch N commits. If N fails, N+1's conditional
``UPDATE`` cannot match and it is replanned: speculation never reaches the table.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

import asyncmy

from event_store.connection import DB_ERRORS
from event_store.errors import EventStoreClosed
from event_store.lane import APPEND_ERRORS, Lane, Pending, fail, settle, store_error
from event_store.model import NO_STREAM, AppendResult
from event_store.planning import BatchPlan, EncodedAppend, plan_batch, replay_result
from event_store.sql import CLAIM_SEQUENCE, finish_statements, recorded_event_ids, run_statements
from event_store.table_plan import plan_from_table, trusted

log = logging.getLogger(__name__)

SPLIT_BATCHES_FROM = 160
PROBE_FAST_EVERY = 16
"""While the fast path's claims fail, try it once per this many batches."""


class _Retry(Exception):
    """The fast path could not be used: replan the batch on the careful path."""


class GroupCommitWriter:
    """Commits queued appends in batches over ``lanes`` MariaDB connections."""

    def __init__(
        self,
        database_url: str,
        max_batch_appends: int = 2000,
        version_cache_size: int = 200_000,
        lanes: int = 2,
        tracked: tuple[str, ...] | None = None,
        write_once: tuple[str, ...] = (),
    ) -> None:
        """``tracked``: the prefixes of the streams this process appends to, if it knows them
        (a worker). The careful path then catches its cache up with those streams' rows only,
        not with every row others appended (the settlement worker read ~6 rows per order that
        way, of which it appends to the streams of ~1), and plans other streams on versions
        read from the table. ``write_once``: prefixes of streams only ever created, never
        appended to again, kept out of the version cache (:meth:`_remember`)."""
        self._tracked = tracked
        self._write_once = write_once
        self._max_batch = max_batch_appends
        self._cache_size = version_cache_size
        self._lanes = [Lane(database_url) for _ in range(lanes)]
        self._pending: deque[Pending] = deque()
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._versions: dict[str, int] = {}
        self._last_position = -1  # where the next planned batch starts; -1: unknown
        self._committed = -1  # where our last committed batch ended; -1: unknown
        self._contended = 0  # batches since the fast path's claim last failed (0: it did not)
        self._in_flight = 0
        self._drained = asyncio.Event()
        self._careful = asyncio.Lock()
        self._closed = False

    def submit(self, append: EncodedAppend) -> asyncio.Future[AppendResult]:
        """Queue ``append``; the future resolves once it is committed (or rejected). A plain
        function returning the future: one coroutine frame less per append."""
        if self._closed:
            raise EventStoreClosed("the event store is closed")
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(lane), name="event-store-writer")
                for lane in self._lanes
            ]
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._pending.append((append, future))
        self._wakeup.set()
        return future

    def note_versions(self, versions: Mapping[str, int]) -> None:
        """Versions a caller read from committed rows: lets the fast path plan their streams.

        A committed version is never ahead of the table, so planning on it can only be stale:
        the row it plans then hits the unique key on (stream_id, stream_version) and the batch
        is replanned on the careful path, as for a stream assumed new. Never lowers a version
        the cache holds (its own appends, possibly still in flight).
        """
        if self._last_position < 0 or self._careful.locked():
            return  # the cache is being rebuilt from the table: nothing to add to
        cache = self._versions
        for stream_id, version in versions.items():
            known = cache.get(stream_id)
            if known is None or known < version:
                cache[stream_id] = version

    def known_version(self, stream_id: str) -> int | None:
        """The stream's version in the cache (``None``: unknown).

        Exact as of our latest commit, plus our batches in flight (ahead of the table until
        they commit); behind whatever others appended since, which the careful path's catch-up
        or a failed claim turns into a conflict of an append that expected it. Answered while
        a careful batch runs too: it waits for the batches in flight, then only moves entries
        to committed versions read under the lock (or drops them), and adds its own once
        committed, so every answer is still one of those. (Answering ``None`` then made the
        settlement worker rebook every account of a conflicting batch, not just the moved
        ones: under single POSTs a careful batch is running most of the time.)
        """
        if not trusted(stream_id, self._tracked):
            return None
        return self._versions.get(stream_id)

    async def prefetch_versions(
        self,
        stream_ids: Iterable[str],
        read: Callable[[list[str]], Awaitable[Mapping[str, int]]],
    ) -> None:
        """Look up, with ``read`` (off the sequence lock, on another connection), the versions
        of the streams the cache does not know, and note them: a coming append to those streams
        then plans on the fast path, or on the careful path without a look-up under the lock.

        Read at any moment, they are committed versions: never ahead of the table. Whatever
        others append afterwards the careful path's catch-up (or a failed claim) covers; a hint
        that still went stale hits the unique key and the batch is replanned from the table.
        Noted only once a careful batch in progress ended, as it may rebuild the cache.
        """
        cache = self._versions
        unknown = [s for s in dict.fromkeys(stream_ids) if s not in cache]
        if not unknown:
            return
        versions = await read(unknown)
        while self._careful.locked():
            async with self._careful:
                pass
        self.note_versions(versions)

    async def close(self) -> None:
        """Commit what is queued, then stop and release the connections."""
        self._closed = True
        self._wakeup.set()
        await asyncio.gather(*self._tasks)
        for lane in self._lanes:
            lane.drop()

    async def _run(self, lane: Lane) -> None:
        pending = self._pending
        while True:
            if not pending:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            # Alone with a long queue, take half: the other lane takes the rest right away and
            # the two batches overlap. A short queue goes whole: a commit costs MariaDB ~135 us
            # of CPU (the fsync), more than the overlap saves on small batches.
            count = len(pending)
            if not self._in_flight and count >= SPLIT_BATCHES_FROM:
                count = (count + 1) // 2
            batch = [pending.popleft() for _ in range(min(self._max_batch, count))]
            try:
                await self._commit(lane, batch)
            except Exception as exc:  # a bug: give it to the callers rather than hang them
                log.exception("append batch crashed", extra={"appends": len(batch)})
                self._forget()
                lane.drop()
                fail(batch, exc)

    async def _commit(self, lane: Lane, batch: list[Pending]) -> None:
        appends = [a for a, _ in batch]
        reused = lane.conn is not None
        try:
            conn = await lane.connect()
            try:
                try:
                    if self._skip_fast():
                        raise _Retry
                    plan = await self._fast(lane, conn, appends)
                except _Retry:
                    plan = await self._careful_path(lane, conn, appends, checked=False)
            except asyncmy.errors.IntegrityError:
                # A reused event id, or a stream assumed new that existed: replan from the table.
                await conn.rollback()
                plan = await self._careful_path(lane, conn, appends, checked=True)
        except DB_ERRORS as exc:
            if not reused:
                self._forget()
                fail(batch, store_error(exc, lane, len(batch)))
                return
            # A connection that died while idle (MariaDB restarted): once more on a new one,
            # checking event ids, so an append that did commit is answered, never doubled.
            self._forget()
            lane.drop()
            log.info("append connection lost; retrying the batch", extra={"error": repr(exc)})
            try:
                conn = await lane.connect()
                plan = await self._careful_path(lane, conn, appends, checked=True)
            except APPEND_ERRORS as again:
                self._forget()
                fail(batch, store_error(again, lane, len(batch)))
                return
        except APPEND_ERRORS as exc:
            self._forget()
            fail(batch, store_error(exc, lane, len(batch)))
            return
        conflicted: list[int] = []
        deferred: list[Pending] = []
        for index, (outcome, pending) in enumerate(zip(plan.outcomes, batch, strict=True)):
            if isinstance(outcome, AppendResult) or (outcome is not None and pending[0].fresh):
                settle(pending[1], outcome)  # (a fresh append's conflict is no retry: no look-up)
            elif outcome is None:
                deferred.append(pending)
            else:
                conflicted.append(index)
        self._pending.extendleft(reversed(deferred))
        if conflicted:
            await self._settle_conflicts(lane, conn, appends, plan, batch, conflicted)

    async def _settle_conflicts(
        self,
        lane: Lane,
        conn: Any,
        appends: Sequence[EncodedAppend],
        plan: BatchPlan,
        batch: Sequence[Pending],
        conflicted: Sequence[int],
    ) -> None:
        """A conflicting append may be a retry of one already recorded: answer it as such.

        Not asked for a ``fresh`` append (the command API's: every attempt draws new ids): about
        a fifth of its appends conflict with settlement on a trader's account in the pipeline
        benchmark, and each look-up sent ~300 ids of a batch of 100 orders for MariaDB to find
        none of them."""
        try:
            async with conn.cursor() as cur:
                recorded = await recorded_event_ids(
                    cur, [e for i in conflicted for e in appends[i].event_ids]
                )
            await conn.commit()
        except APPEND_ERRORS as exc:
            fail([batch[i] for i in conflicted], store_error(exc, lane, len(conflicted)))
            return
        for i in conflicted:
            replay = replay_result(appends[i].event_ids, recorded)
            outcome = plan.outcomes[i] if replay is None else replay
            assert outcome is not None
            settle(batch[i][1], outcome)

    def _skip_fast(self) -> bool:
        """Whether to go straight to the careful path: the last claims failed (others keep
        appending in between), except once per ``PROBE_FAST_EVERY`` batches."""
        if self._contended:
            self._contended += 1
        return self._contended % PROBE_FAST_EVERY != 0

    async def _fast(self, lane: Lane, conn: Any, appends: Sequence[EncodedAppend]) -> BatchPlan:
        """Plan on top of the cache (and of the batch in flight), claim, insert, commit."""
        while self._careful.locked():  # a careful batch is rebuilding the cache: wait for it
            async with self._careful:
                pass
        if self._last_position < 0:
            raise _Retry
        versions = self._batch_versions(appends)
        if versions is None:
            raise _Retry
        start = self._last_position
        plan = plan_batch(appends, versions, start)
        # Speculate: the next batch plans on top of this one, undone by _forget() on failure.
        self._last_position = plan.last_position
        self._remember(plan.stream_versions)
        self._in_flight += 1
        self._drained.clear()
        try:
            async with conn.cursor() as cur:
                await cur.execute(CLAIM_SEQUENCE, (plan.last_position, start))
                if cur.rowcount != 1:
                    await conn.rollback()
                    self._unplan(plan)
                    self._contended = self._contended or 1
                    raise _Retry
                await lane.write(cur, plan)
                await run_statements(cur, finish_statements(None, plan.checkpoints))
        except _Retry:
            raise
        except BaseException:
            self._forget()
            raise
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._drained.set()
        self._committed = max(self._committed, plan.last_position)
        self._contended = 0
        return plan

    def _unplan(self, plan: BatchPlan) -> None:
        """A claim that failed (someone else appended first): drop what its plan speculated.

        What the cache holds for the plan's streams is a guess now, so they are read from the
        table again; what our committed batches put there stays, and the careful path catches
        it up from ``_committed``. A batch planned on top of this one fails its claim too."""
        for stream_id in plan.stream_versions:
            self._versions.pop(stream_id, None)
        self._last_position = -1

    def _batch_versions(self, appends: Sequence[EncodedAppend]) -> dict[str, int] | None:
        """The versions of the batch's streams from the cache; None if one is unknown."""
        cache = self._versions
        tracked = self._tracked
        versions: dict[str, int] = {}
        for append in appends:
            checkpoint = append.checkpoint
            if checkpoint is not None and checkpoint.must_advance:
                return None  # checked against the table, under the sequence lock
            for stream in append.streams:
                stream_id = stream.stream_id
                if stream_id in versions:
                    continue
                version = cache.get(stream_id) if trusted(stream_id, tracked) else None
                if version is None:
                    if stream.expected_version != NO_STREAM:
                        return None
                    version = 0
                versions[stream_id] = version
        return versions

    async def _careful_path(
        self, lane: Lane, conn: Any, appends: Sequence[EncodedAppend], *, checked: bool
    ) -> BatchPlan:
        """Alone in this process: lock and read versions (and event ids if asked), plan, insert,
        commit: three round trips (the sequence moves in the last, with the commit)."""
        async with self._careful:
            while self._in_flight:
                await self._drained.wait()
            try:
                async with conn.cursor() as cur:
                    plan = await plan_from_table(
                        cur, appends, self._versions, self._tracked, self._committed, checked
                    )
                    await lane.write(cur, plan)
                    sequence = plan.last_position if plan.rows else None
                    await run_statements(cur, finish_statements(sequence, plan.checkpoints))
            except BaseException:
                self._forget()
                raise
            if len(self._versions) > self._cache_size:
                self._evict_oldest()
            self._remember(plan.stream_versions)
            self._last_position = self._committed = plan.last_position
            return plan

    def _remember(self, versions: Mapping[str, int]) -> None:
        """Cache a plan's versions but those of ``write_once`` streams: the command API's
        ``client-order-*`` claims were half the entries (no append plans on them again: one
        expecting ``NO_STREAM`` on an unknown stream is planned as new anyway), and filled the
        cache every ~100k orders, whose clear dropped the order versions cancels rely on."""
        once, cache = self._write_once, self._versions
        if once:
            versions = {s: v for s, v in versions.items() if not s.startswith(once)}
        cache.update(versions)

    def _evict_oldest(self) -> None:
        """Drop the oldest entries down to half the size, not all: the newest are those the
        next appends and cancels ask about (an unknown stream is read or planned new)."""
        cache = self._versions
        for stream_id in list(islice(cache, len(cache) - self._cache_size // 2)):
            del cache[stream_id]

    def _forget(self) -> None:
        """Drop everything speculative or cached: the next batch reads from the table."""
        self._versions.clear()
        self._last_position = self._committed = -1
