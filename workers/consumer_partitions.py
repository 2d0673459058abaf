"""What the consumer loop knows per owned partition, and how a partition comes to be owned.

A partition assigned by the group is *pending* until its worker has loaded its durable state
(:meth:`PartitionWorker.assign`, a matching shard's replay can take a minute): the rebalance
listener only pauses it and notes it, and the loop loads it (:meth:`Partitions.load_next`).
aiokafka stops the group heartbeat while ``on_partitions_assigned`` runs and starts it again
only when it returns, so a load inside the listener longer than the session timeout got the
member evicted; it rejoined, loaded again, was evicted again, forever. Loaded in the loop, the
heartbeat keeps running, and the partitions already loaded keep being consumed between loads.

A partition revoked while its load is out is forgotten when the load returns (and the worker
told to revoke it again, unless it was assigned once more meanwhile, and loads again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from workers.consumer_progress import Offsets
from workers.worker_contract import RETRYABLE, PartitionWorker, Resume

log = logging.getLogger("consumer")

MAX_BACKOFF_S = 5.0


class Partitions(ConsumerRebalanceListener):  # type: ignore[misc]
    """The loop's view of its partitions: pending loads, and each owned partition's last
    applied position and current assignment."""

    def __init__(self, worker: PartitionWorker, stop: asyncio.Event) -> None:
        self.worker = worker
        self.stop = stop
        self.positions: dict[int, int] = {}
        self.assignments: dict[int, int] = {}
        """Partition → which assignment (seek) of it is current: a batch fetched before the
        current one must not be applied (it may start past the offset sought)."""
        self.pending: dict[int, int] = {}
        """Partition → its assignment by the group, not loaded yet (the partition is paused)."""
        self._assigned = 0
        self.consumer: AIOKafkaConsumer | None = None
        self.offsets: Offsets | None = None

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.pending.pop(tp.partition, None)
            self.positions.pop(tp.partition, None)
            self.assignments.pop(tp.partition, None)
            await self.worker.revoke(tp.partition)
        if revoked:
            log.info(
                "partitions revoked", extra={"partitions": sorted(t.partition for t in revoked)}
            )

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Pause the new partitions and leave their loading to the loop (no I/O here: the
        group's heartbeat waits for this to return)."""
        if not assigned:
            return
        assert self.consumer is not None
        self.consumer.pause(*assigned)
        for tp in assigned:
            self._assigned += 1
            self.pending[tp.partition] = self._assigned
        log.info("partitions assigned", extra={"partitions": sorted(t.partition for t in assigned)})

    async def load_next(self) -> None:
        """Load the lowest pending partition's durable state, seek there and resume it."""
        if not self.pending:
            return
        partition, assignment = min(self.pending.items())
        resume = await with_backoff(partial(self.worker.assign, partition), self.stop)
        if resume is None:
            return
        if self.pending.get(partition) != assignment:
            # Revoked while loading (or revoked and assigned again: then it loads again).
            if partition not in self.pending:
                await self.worker.revoke(partition)
            return
        del self.pending[partition]
        tp = TopicPartition(self.worker.topic, partition)
        await self.resume_at(tp, resume)
        if partition not in self.assignments:
            return  # (revoked during the seek: a partition no longer assigned has no state)
        assert self.consumer is not None
        self.consumer.resume(tp)
        log.info(
            "partition loaded",
            extra={"partition": partition, "position": resume.position, "offset": resume.offset},
        )

    async def resume_at(self, tp: TopicPartition, resume: Resume) -> None:
        """Continue the partition from the worker's durable state (what was fetched before is
        not applied)."""
        self.positions[tp.partition] = resume.position
        assert self.consumer is not None
        if resume.offset is None:
            await self.consumer.seek_to_beginning(tp)
        else:
            self.consumer.seek(tp, resume.offset)
            if self.offsets is not None:
                # Durable already: committed like an applied batch's, or a partition with
                # nothing new after a restart (or a batch that failed after its commit went
                # in) would keep its group's old offset, and look behind, until more arrived.
                self.offsets.done(tp, resume.offset)
        self._assigned += 1
        self.assignments[tp.partition] = self._assigned


async def with_backoff[T](call: Callable[[], Awaitable[T]], stop: asyncio.Event) -> T | None:
    """``call()`` until it succeeds (``None`` if stopped first), backing off on outages."""
    backoff = 0.1
    while not stop.is_set():
        try:
            return await call()
        except RETRYABLE as exc:
            log.warning("dependency unavailable", extra={"error": repr(exc), "retry_in_s": backoff})
            await sleep_unless_stopped(stop, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
    return None


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
