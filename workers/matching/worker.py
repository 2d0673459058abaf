"""The matching worker: orders-topic inputs through the engine, outputs + position in one append.

For each batch of one partition it runs every input through that partition's engine and appends
every resulting event to its order's stream (a trade as the two orders' ``OrderFilled``), a
refused batch's ``BatchRejected`` to its batch stream, and ``MatchingInputConsumed`` to
``matching-<p>`` with the version it loaded as the expected version: **one** transaction. A worker
that lost the partition (another appended) gets ``WrongExpectedVersion`` there and is fenced; the
consumer loop then reloads the shard from the store. The event shapes: ``workers/README.md``;
the inputs are decoded and the outputs encoded by :mod:`workers.matching.codec`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.streams import batch, matching, order
from event_store.connection import DB_ERRORS
from event_store.errors import EventStoreUnavailable, WrongExpectedVersion
from event_store.model import RecordedEvent, Snapshot
from event_store.planning import EncodedAppend, encoded_event
from event_store.protocol import EventStore
from event_store.upcasting import Upcasters
from workers.consumer import Fenced, Resume
from workers.instruments import Instruments
from workers.matching.codec import (
    ACTOR,
    EngineInput,
    OutputRows,
    input_from_event,
    input_from_message,
    metadata_of,
)
from workers.matching.shard import INPUT_CONSUMED, Shard, admit, load_shard

log = logging.getLogger("matching")

APPENDS_TO = tuple(s.removesuffix("0") for s in (order(0), batch(0), matching(0)))
"""The streams the worker appends to: its store's writer catches up with their rows only, not
with the accounts' and the command API's bookkeeping (``MariaDbEventStore``'s ``appends_to``)."""

HINT_VERSIONS_BELOW = 1000
"""Inputs per batch below which the worker notes its inputs' stream versions for the writer.

A batch this large means the worker is catching up: the requests that followed its inputs on
the same order streams (cancels, amends) are most likely committed already, so those versions
are stale, and a stale hint costs the writer a failed insert, its rollback and an event-id
look-up before it plans carefully anyway. ``benchmarks.workers --n 100000`` (catching up,
batches of ~4,700): MariaDB 1.11-1.30 CPU-s without the hint, 1.96-2.01 with it; worker CPU
3.1-3.4 s against 4.0-4.1 s. Live batches are small and their streams rarely moved since."""

SNAPSHOT_SAVE_ERRORS: tuple[type[BaseException], ...] = (EventStoreUnavailable, *DB_ERRORS)
"""A snapshot save that failed for these (MariaDB unreachable) is only logged."""

YIELD_EVERY_INPUTS = 250
"""Inputs decided between two returns to the event loop.

The previous batch commits on this event loop while the next one is decided: every round trip
of that commit (lock, version look-up, insert, commit) waits for the loop. Deciding a whole
batch of thousands of inputs in one go held them all back until it ended, so the commit ran
after the decision instead of beside it. 250 inputs are ~2-5 ms of work."""


MAX_OPEN_INPUTS = 20_000
"""Inputs decided on top of an append still committing beyond which ``start`` waits for it.

Batches decided while the partition's append commits are submitted together as the next one
(see :meth:`MatchingWorker.start`); this bounds that append (and the worker's memory) when
MariaDB is slower than the engine."""


@dataclass(slots=True)
class _Open:
    """A partition's batches decided on top of its append in flight, not submitted yet: their
    outputs, and the checkpoint of the last one (they become one append)."""

    rows: OutputRows = field(default_factory=OutputRows)
    inputs: int = 0
    applied: int = 0
    last_position: int = 0
    next_offset: int = 0
    prefetches: list[asyncio.Future[None]] = field(default_factory=list)


class MatchingWorker:
    """A :class:`~workers.consumer.PartitionWorker` holding one engine shard per partition."""

    def __init__(
        self,
        store: EventStore,
        *,
        group: str,
        topic: str,
        partitions: int,
        snapshot_every_inputs: int = 50_000,
        snapshot_every_s: float = 60.0,
        snapshot_after_scan: int = 200_000,
        upcasters: Upcasters | None = None,
    ) -> None:
        self.group = group
        self.topic = topic
        self.shards: dict[int, Shard] = {}
        self._store = store
        self._partitions = partitions
        self._instruments = Instruments(store)
        self._upcasters = upcasters or Upcasters()
        self._snapshot_every_inputs = snapshot_every_inputs
        self._snapshot_every_s = snapshot_every_s
        self._snapshot_after_scan = snapshot_after_scan
        """A load that read through this many store positions saves a snapshot at once (the
        next load starts there): a partition idle while others filled the store, whose
        inputs came back, replayed from its old snapshot for ~70 s on every restart of a
        worker on a 1M-order store, until 60 s of new inputs were due a snapshot."""
        self._snapshot_at: dict[int, float] = {}
        self._applying: set[int] = set()
        self._snapshot_saves: set[asyncio.Future[None]] = set()
        self._in_flight: dict[int, asyncio.Future[None]] = {}
        """Per partition, the task committing its appends one after the other (at most one
        append in flight: see :meth:`start`)."""
        self._open: dict[int, _Open] = {}
        self._durable: dict[int, int | None] = {}

    async def assign(self, partition: int) -> Resume:
        """Load the partition's engine: newest snapshot + the stored inputs after it."""
        await self._forget_in_flight(partition)
        started = time.monotonic()
        shard = await load_shard(self._store, self._instruments, partition, self._partitions)
        self.shards[partition] = shard
        self._durable[partition] = shard.kafka_offset
        self._snapshot_at[partition] = time.monotonic()
        if shard.version and shard.scanned >= self._snapshot_after_scan:
            shard.inputs_since_snapshot = 0
            self._save_beside(partition, shard.snapshot())  # (its version is durable: loaded)
        log.info(
            "shard loaded",
            extra={
                "partition": partition,
                "position": shard.position,
                "version": shard.version,
                "books": len(shard.engine.books_by_symbol),
                "state_hash": shard.engine.state_hash(),
                "scanned": shard.scanned,
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return Resume(shard.position, shard.kafka_offset)

    def state(self) -> dict[str, Any]:
        """Each owned shard's input position and engine hash, read at one instant (a shard
        deciding a batch, or whose last append is not committed yet, is only listed as busy)."""
        busy = self._applying | set(self._open) | set(filter(self._committing, self._in_flight))
        return {
            "shards": {
                str(p): {
                    "position": shard.position,
                    "version": shard.version,
                    "state_hash": shard.engine.state_hash(),
                }
                for p, shard in sorted(self.shards.items())
                if p not in busy
            },
            "busy": sorted(busy),
        }

    async def revoke(self, partition: int) -> None:
        """Drop the partition's engine (another worker owns it now)."""
        await self._forget_in_flight(partition)
        self.shards.pop(partition, None)

    async def _forget_in_flight(self, partition: int) -> None:
        """Drop what was decided but not submitted, and let the append in flight end (what the
        store holds is what counts next)."""
        self._discard_open(partition)
        with contextlib.suppress(Exception):
            await self._settle(partition)

    def durable_offset(self, partition: int) -> int | None:
        """The Kafka offset after the last batch of the partition that is durable (``None``:
        none since it was assigned, and nothing stored before)."""
        return self._durable.get(partition)

    def decode(self, value: bytes) -> EngineInput:
        """An orders-topic message as an engine input (the consumer loop's decoder for us)."""
        return input_from_message(value, self._upcasters)

    async def apply(
        self, partition: int, events: Sequence[EngineInput | RecordedEvent], next_offset: int
    ) -> None:
        """Run the inputs through the engine; append outputs and the position atomically."""
        await self.start(partition, events, next_offset)
        await self.flush(partition)

    async def start(
        self, partition: int, events: Sequence[EngineInput | RecordedEvent], next_offset: int
    ) -> None:
        """:meth:`apply`, pipelined: decide the batch now, and submit it once the partition's
        append in flight is durable, without waiting for this one (:meth:`flush` does).

        While an append commits, the batches decided meanwhile accumulate and go in as the
        next append, one transaction, when it is durable: the worker decides instead of
        waiting for commits (up to :data:`MAX_OPEN_INPUTS`), and MariaDB gets bigger batches
        when it is the slower one. So ``start`` may return before earlier batches are durable:
        :meth:`durable_offset` says how far they are. Raises, with the shard dropped, if an
        append failed: what was decided on top of it is discarded, never appended.

        Submitting only after the previous append committed keeps the fence exact: an append
        expects ``matching-<p>`` at the version the previous one created, which a successor
        that fenced the previous one could otherwise have created instead.
        """
        self._applying.add(partition)
        try:
            inputs = [e if isinstance(e, EngineInput) else input_from_event(e) for e in events]
            shard = self.shards[partition]
            try:
                await self._decide(shard, inputs, next_offset)
                if self._committing(partition) and self._open[partition].inputs < MAX_OPEN_INPUTS:
                    return  # its committer submits it once the append in flight is durable
                await self._settle(partition)
            except BaseException:
                self._drop(partition)  # the engine ran ahead of the store: reload it
                raise
            self._submit(shard)
        finally:
            self._applying.discard(partition)

    async def flush(self, partition: int) -> None:
        """Wait until the partition's started batches are durable; raise (the shard dropped) if
        one failed; save a snapshot if one is due; and wait for the snapshots being saved."""
        await self._settle(partition)
        while partition in self._open and partition in self.shards:
            self._submit(self.shards[partition])
            await self._settle(partition)
        shard = self.shards.get(partition)
        if shard is not None and (snapshot := self._due_snapshot(shard)) is not None:
            # Idle, everything durable: a partition whose inputs stop would otherwise keep
            # them unsnapshotted (a snapshot is otherwise only taken as a batch is sealed).
            self._save_beside(partition, snapshot)
        if self._snapshot_saves:
            await asyncio.wait(set(self._snapshot_saves))

    async def _settle(self, partition: int) -> None:
        in_flight = self._in_flight.pop(partition, None)
        if in_flight is None:
            return
        try:
            await in_flight
        except BaseException:
            self._drop(partition)
            raise

    def _committing(self, partition: int) -> bool:
        committing = self._in_flight.get(partition)
        return committing is not None and not committing.done()

    def _drop(self, partition: int) -> None:
        """Forget the partition's engine and what it decided (reloaded from the store next)."""
        self.shards.pop(partition, None)
        self._discard_open(partition)

    def _discard_open(self, partition: int) -> None:
        opened = self._open.pop(partition, None)
        if opened is not None:
            for prefetch in opened.prefetches:
                prefetch.cancel()

    def _submit(self, shard: Shard) -> None:
        """Seal the partition's open batches now (between two batches) and commit them, then
        whatever is decided meanwhile (see :meth:`_commit_open`)."""
        opened = self._open.pop(shard.partition)
        self._in_flight[shard.partition] = asyncio.ensure_future(
            self._commit_open(shard, opened, *self._seal(shard, opened))
        )

    async def _commit_open(
        self, shard: Shard, opened: _Open, append: EncodedAppend, snapshot: Snapshot | None
    ) -> None:
        """Commit a sealed append; then the batches decided while it committed as the next
        one, and so on, until none are open or one is being decided (batches are only sealed
        between two, when the engine is at their checkpoint: ``start`` submits then)."""
        partition = shard.partition
        while True:
            await self._commit(shard, append, snapshot, opened.prefetches)
            self._durable[partition] = opened.next_offset
            if (
                self.shards.get(partition) is not shard
                or partition not in self._open
                or partition in self._applying
            ):
                return
            opened = self._open.pop(partition)
            append, snapshot = self._seal(shard, opened)

    async def _decide(self, shard: Shard, inputs: list[EngineInput], next_offset: int) -> None:
        """Run the batch through the engine into the partition's open batches; the shard moves
        on to the state their append makes durable."""
        engine = shard.engine
        opened = self._open.get(shard.partition)
        if opened is None:
            opened = self._open[shard.partition] = _Open()
        rows = opened.rows
        streams_before = rows.stream_count
        applied = 0
        for start in range(0, len(inputs), YIELD_EVERY_INPUTS):
            if start:
                await asyncio.sleep(0)  # the previous batch's commit: its next round trip
            for item in inputs[start : start + YIELD_EVERY_INPUTS]:
                command = item.command
                if command is None:
                    continue
                await admit(engine, self._instruments, command)
                outputs = engine.process(command)
                applied += 1
                if outputs:
                    rows.add(outputs, metadata_of(item.correlation_id, item.event_id))
        if len(inputs) < HINT_VERSIONS_BELOW:
            # The inputs' own versions are committed ones of their order streams: with them the
            # writer plans these ANY appends without looking the streams up under its lock.
            self._store.note_versions({i.stream_id: i.stream_version for i in inputs})
        # Beside the commit in flight, and not waited for here: the versions of the order
        # streams this batch appends to, which the writer would otherwise look up under its
        # lock (the append awaits them).
        opened.prefetches.append(
            asyncio.ensure_future(self._store.prefetch_versions(rows.stream_ids(streams_before)))
        )
        opened.inputs += len(inputs)
        opened.applied += applied
        opened.last_position, opened.next_offset = inputs[-1].position, next_offset
        shard.position, shard.kafka_offset = inputs[-1].position, next_offset
        shard.inputs_since_snapshot += applied

    def _seal(self, shard: Shard, opened: _Open) -> tuple[EncodedAppend, Snapshot | None]:
        """The open batches' append (and a snapshot of the engine after it, when one is due):
        their outputs and one checkpoint at the last one. Only between two batches."""
        consumed = {
            "partition": shard.partition,
            "last_position": opened.last_position,
            "kafka_offset": opened.next_offset,
            "inputs": opened.applied,
            "sequence": shard.engine.sequence,
        }
        checkpoint = encoded_event(INPUT_CONSUMED, consumed, {"actor": ACTOR})
        append = opened.rows.append(shard.stream_id, shard.version, checkpoint)
        shard.version += 1
        return append, self._due_snapshot(shard)

    async def _commit(
        self,
        shard: Shard,
        append: EncodedAppend,
        snapshot: Snapshot | None,
        prefetches: list[asyncio.Future[None]],
    ) -> None:
        for prefetch in prefetches:
            with contextlib.suppress(EventStoreUnavailable):  # a hint: the append looks up itself
                await prefetch
        try:
            await self._store.append_encoded(append)
        except WrongExpectedVersion as exc:
            if exc.stream_id == shard.stream_id:
                raise Fenced(f"{shard.stream_id} moved on to version {exc.actual}") from exc
            raise
        if snapshot is not None:  # only once the version it reflects is durable
            # Saved beside the next batches, not before them: a snapshot lost to a crash or an
            # outage only means a longer replay from the one before.
            self._save_beside(shard.partition, snapshot)

    def _save_beside(self, partition: int, snapshot: Snapshot) -> None:
        """Save the snapshot in the background (:meth:`flush` waits for it)."""
        save = asyncio.ensure_future(self._save_snapshot(partition, snapshot))
        self._snapshot_saves.add(save)
        save.add_done_callback(self._snapshot_saves.discard)

    async def _save_snapshot(self, partition: int, snapshot: Snapshot) -> None:
        try:
            await self._store.save_snapshot(snapshot)
        except SNAPSHOT_SAVE_ERRORS as exc:
            log.warning(
                "snapshot not saved",
                extra={"partition": partition, "version": snapshot.version, "error": repr(exc)},
            )
            return
        log.info("snapshot saved", extra={"partition": partition, "version": snapshot.version})

    def _due_snapshot(self, shard: Shard) -> Snapshot | None:
        """The engine's snapshot at the shard's version, if one is due (taken now: the engine
        moves on while the append commits)."""
        now = time.monotonic()
        due_by_time = now - self._snapshot_at.get(shard.partition, now) >= self._snapshot_every_s
        if shard.inputs_since_snapshot < self._snapshot_every_inputs and not (
            due_by_time and shard.inputs_since_snapshot
        ):
            return None
        shard.inputs_since_snapshot = 0
        self._snapshot_at[shard.partition] = now
        return shard.snapshot()
