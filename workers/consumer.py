"""The one consumer loop every worker runs on: Kafka in, the worker's own decisions, durable out.

A worker (:class:`PartitionWorker`) only decides. The loop does the rest:

* joins the worker's consumer group on its topic; on assignment asks the worker for its durable
  state of the partition (:meth:`PartitionWorker.assign` → :class:`Resume`) and seeks there;
* decodes each fetched batch (with the worker's own ``decode`` if it has one), drops what the
  worker already applied (position at or below its checkpoint, and re-sends whose position went
  backwards), and hands the rest to :meth:`PartitionWorker.apply`, which makes the effect and
  the checkpoint durable together;
* when ``apply`` fails (MariaDB, Redis or Kafka down, or :class:`Fenced`: the partition was taken
  over), the worker's in-memory state is suspect: the loop backs off, re-assigns the partition
  (reloading the durable state), and re-applies what is still new of the same batch. So an input
  is never applied twice and never skipped, whatever Kafka redelivers;
* logs progress as JSON lines and exports lag and throughput for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from common.settings import InfraSettings
from event_store.connection import DB_ERRORS
from event_store.errors import EventStoreUnavailable
from event_store.outbox import event_from_message

log = logging.getLogger("consumer")


class Fenced(Exception):
    """The worker no longer owns the partition it tried to write for (another one appended)."""


class Busy(Exception):
    """A batch kept conflicting with concurrent writers: back off, reload and try again."""


RETRYABLE: tuple[type[BaseException], ...] = (
    *DB_ERRORS,
    EventStoreUnavailable,
    KafkaError,
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)
"""Errors of an unavailable dependency: back off and try again."""
RELOAD_ON: tuple[type[BaseException], ...] = (Fenced, Busy, *RETRYABLE)
"""Errors after which a worker's in-memory state of the partition is reloaded."""

MAX_BACKOFF_S = 5.0
PROGRESS_EVERY_S = 5.0
COMMIT_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a partition's durable state stands."""

    position: int
    """The last store position applied; the loop skips events at or below it."""
    offset: int | None
    """The Kafka offset of the next message to read, or ``None`` for the partition's start."""


class Positioned(Protocol):
    """A decoded message: all the loop reads of it is its store position."""

    @property
    def position(self) -> int:
        """The event's position in the store."""
        ...


class PartitionWorker(Protocol):
    """A worker's decisions, per partition of its topic."""

    @property
    def group(self) -> str:
        """The Kafka consumer group (also the worker's name in logs and metrics)."""
        ...

    @property
    def topic(self) -> str:
        """The topic it consumes."""
        ...

    async def assign(self, partition: int) -> Resume:
        """Load the durable state of a partition now owned (again)."""
        ...

    async def revoke(self, partition: int) -> None:
        """Forget a partition no longer owned."""
        ...

    async def apply(self, partition: int, events: list[Any], next_offset: int) -> None:
        """Make the batch's effect and the checkpoint durable together, or raise.

        ``events`` are the batch's new messages as the worker's ``decode(value)`` gives them,
        if it has one (anything with a ``position``), else as ``RecordedEvent``\\ s
        (``event_from_message``).
        """
        ...


class ConsumerMetrics:
    """Prometheus metrics of one worker's consumer loop."""

    def __init__(self, registry: CollectorRegistry, group: str) -> None:
        self.applied = Counter(
            "worker_events_applied", "Events applied", ["group"], registry=registry
        ).labels(group)
        self.skipped = Counter(
            "worker_events_skipped", "Redelivered events skipped", ["group"], registry=registry
        ).labels(group)
        self.retries = Counter(
            "worker_apply_retries",
            "Batches re-applied after a failure",
            ["group"],
            registry=registry,
        ).labels(group)
        self._lag = Gauge(
            "worker_partition_lag",
            "Messages behind the partition's end",
            ["group", "partition"],
            registry=registry,
        )
        self._group = group

    def lag(self, partition: int, value: int) -> None:
        """Record a partition's lag (messages between the next offset and the high water)."""
        self._lag.labels(self._group, str(partition)).set(value)


class _Partitions(ConsumerRebalanceListener):  # type: ignore[misc]
    """What the loop knows per owned partition: the worker's last applied position."""

    def __init__(self, worker: PartitionWorker, stop: asyncio.Event) -> None:
        self.worker = worker
        self.stop = stop
        self.positions: dict[int, int] = {}
        self.assignments: dict[int, int] = {}
        """Partition → which assignment (seek) of it is current: a batch fetched before the
        current one must not be applied (it may start past the offset sought)."""
        self._assigned = 0
        self.consumer: AIOKafkaConsumer | None = None

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.positions.pop(tp.partition, None)
            self.assignments.pop(tp.partition, None)
            await self.worker.revoke(tp.partition)
        if revoked:
            log.info(
                "partitions revoked", extra={"partitions": sorted(t.partition for t in revoked)}
            )

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in sorted(assigned):
            resume = await _with_backoff(partial(self.worker.assign, tp.partition), self.stop)
            if resume is None:
                return
            self.positions[tp.partition] = resume.position
            assert self.consumer is not None
            if resume.offset is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, resume.offset)
            self._assigned += 1
            self.assignments[tp.partition] = self._assigned
        if assigned:
            log.info(
                "partitions assigned",
                extra={
                    "partitions": sorted(t.partition for t in assigned),
                    "positions": {str(p): v for p, v in sorted(self.positions.items())},
                },
            )


async def run(
    worker: PartitionWorker,
    settings: InfraSettings,
    stop: asyncio.Event,
    metrics: ConsumerMetrics,
    *,
    max_records: int = 5000,
) -> None:
    """Consume until ``stop`` is set, retrying with backoff while a dependency is down."""
    backoff = 0.1
    while not stop.is_set():
        started = time.monotonic()
        try:
            await _consume(worker, settings, stop, metrics, max_records)
            return
        except RETRYABLE as exc:
            if time.monotonic() - started > 10:
                backoff = 0.1
            log.warning(
                "consumer interrupted, retrying",
                extra={"group": worker.group, "error": repr(exc), "retry_in_s": backoff},
            )
            await _sleep(stop, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)


async def _consume(
    worker: PartitionWorker,
    settings: InfraSettings,
    stop: asyncio.Event,
    metrics: ConsumerMetrics,
    max_records: int,
) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=worker.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_records,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=2_000,
        request_timeout_ms=15_000,
    )
    partitions = _Partitions(worker, stop)
    partitions.consumer = consumer
    consumer.subscribe([worker.topic], listener=partitions)
    await consumer.start()
    progress = _Progress(worker.group)
    offsets = _Offsets(consumer)
    try:
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=200, max_records=max_records)
            fetched_under = dict(partitions.assignments)
            for tp, records in fetched.items():
                if stop.is_set():
                    break
                current = partitions.assignments.get(tp.partition)
                if current is None or current != fetched_under.get(tp.partition):
                    # Revoked, or (re)assigned and sought back while this batch was out (the
                    # rebalance listener runs beside this loop): applying it would move the
                    # partition's position past the inputs the seek is about to deliver.
                    continue
                done = await _apply(partitions, tp.partition, records, stop, metrics)
                if done is None:
                    continue  # interrupted: the batch comes again (from the worker's offset)
                progress.add(done)
                high = consumer.highwater(tp)
                if high is not None:
                    metrics.lag(tp.partition, max(high - (records[-1].offset + 1), 0))
                offsets.done(tp, records[-1].offset + 1)
            await offsets.maybe_commit(idle=not fetched)
            progress.maybe_log(partitions.positions)
    finally:
        with contextlib.suppress(*RETRYABLE, TimeoutError):
            await asyncio.wait_for(consumer.stop(), 10)


async def _apply(
    partitions: _Partitions,
    partition: int,
    records: list[Any],
    stop: asyncio.Event,
    metrics: ConsumerMetrics,
) -> int | None:
    """Apply what is new in ``records``; after a failure, reload the partition and try again.

    The number of events applied, or ``None`` when stopped before the batch was applied.
    """
    worker = partitions.worker
    values = [record.value for record in records]
    # A worker may say what its inputs look like on the wire (``input_filter``): the other
    # messages are not decoded. The last one always is: it carries the batch's position.
    prefilter = getattr(worker, "input_filter", None)
    if prefilter is not None:
        search = prefilter.search
        values = [v for v in values[:-1] if search(v)] + values[-1:]
    decode: Callable[[bytes], Positioned] = getattr(worker, "decode", event_from_message)
    events = [decode(value) for value in values]
    next_offset = records[-1].offset + 1
    while not stop.is_set():
        fresh = _new_events(events, partitions.positions[partition])
        metrics.skipped.inc(len(events) - len(fresh))
        if not fresh:
            return 0
        try:
            await worker.apply(partition, fresh, next_offset)
        except RELOAD_ON as exc:
            metrics.retries.inc()
            log.warning(
                "apply failed; reloading the partition",
                extra={"group": worker.group, "partition": partition, "error": repr(exc)},
            )
            if not isinstance(exc, Fenced):
                await _sleep(stop, 0.5)
            resume = await _with_backoff(partial(worker.assign, partition), stop)
            if resume is None:
                return None
            partitions.positions[partition] = resume.position
            continue
        partitions.positions[partition] = fresh[-1].position
        metrics.applied.inc(len(fresh))
        return len(fresh)
    return None


def _new_events[E: Positioned](events: list[E], applied: int) -> list[E]:
    """The events past ``applied``, in increasing position (a relay re-send may go back)."""
    fresh: list[E] = []
    last = applied
    for event in events:
        if event.position > last:
            fresh.append(event)
            last = event.position
    return fresh


async def _with_backoff[T](call: Callable[[], Awaitable[T]], stop: asyncio.Event) -> T | None:
    """``call()`` until it succeeds (``None`` if stopped first), backing off on outages."""
    backoff = 0.1
    while not stop.is_set():
        try:
            return await call()
        except RETRYABLE as exc:
            log.warning("dependency unavailable", extra={"error": repr(exc), "retry_in_s": backoff})
            await _sleep(stop, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
    return None


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class _Offsets:
    """Kafka offsets of applied batches, committed about once a second and whenever idle.

    They are for monitoring and drain checks only (lag per group): a worker resumes from the
    offset it stored with its own output, so committing is never on the batch's path.
    """

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self._pending: dict[TopicPartition, int] = {}
        self._since = time.monotonic()

    def done(self, tp: TopicPartition, next_offset: int) -> None:
        self._pending[tp] = next_offset

    async def maybe_commit(self, idle: bool) -> None:
        if not self._pending or not (idle or time.monotonic() - self._since >= COMMIT_EVERY_S):
            return
        pending, self._pending = self._pending, {}
        self._since = time.monotonic()
        owned = self._consumer.assignment()
        commit = {tp: offset for tp, offset in pending.items() if tp in owned}
        if commit:
            with contextlib.suppress(KafkaError):
                await self._consumer.commit(commit)


class _Progress:
    """A JSON progress line every few seconds while events flow."""

    def __init__(self, group: str) -> None:
        self._group = group
        self._since = time.monotonic()
        self._count = 0

    def add(self, applied: int) -> None:
        self._count += applied

    def maybe_log(self, positions: dict[int, int]) -> None:
        now = time.monotonic()
        if now - self._since < PROGRESS_EVERY_S:
            return
        if self._count:
            log.info(
                "progress",
                extra={
                    "group": self._group,
                    "events": self._count,
                    "events_per_s": round(self._count / (now - self._since)),
                    "positions": {str(p): v for p, v in sorted(positions.items())},
                },
            )
        self._since, self._count = now, 0
