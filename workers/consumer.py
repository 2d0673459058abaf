"""The one consumer loop every worker runs on: Kafka in, the worker's own decisions, durable out.

A worker (:class:`PartitionWorker`, in ``worker_contract.py`` with the errors it raises) only
decides. The loop does the rest:

* joins the worker's consumer group on its topic; a partition assigned is paused until the loop
  has asked the worker for its durable state of it (:meth:`PartitionWorker.assign` →
  :class:`Resume`, outside the rebalance listener: ``consumer_partitions``) and sought there;
* decodes each fetched batch (with the worker's own ``decode`` if it has one), drops what the
  worker already applied (position at or below its checkpoint, and re-sends whose position went
  backwards), and hands the rest to :meth:`PartitionWorker.apply`, which makes the effect and
  the checkpoint durable together;
* when ``apply`` fails (MariaDB, Redis or Kafka down, or :class:`Fenced`: the partition was taken
  over), the worker's in-memory state is suspect: the loop backs off, re-assigns the partition
  (reloading the durable state), and re-applies what is still new of the same batch. So an input
  is never applied twice and never skipped, whatever Kafka redelivers;
* a pipelined worker (``start`` and ``flush`` beside ``apply``: the matching worker) decides a
  batch while the previous one commits: the loop calls ``start`` instead of ``apply``, commits
  a batch's Kafka offset once it is durable (the next ``start`` of its partition returned, about
  once a second, or ``flush``, called when idle and before it stops; never a flush on a timer,
  which would stall the pipeline). When the failure is that of an earlier batch, started but
  never durable, the loop seeks the partition back to the reloaded state instead, and those
  inputs come again;
* logs progress as JSON lines and exports lag and throughput for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from common.settings import InfraSettings
from event_store.outbox import event_from_message
from workers.consumer_partitions import (
    MAX_BACKOFF_S,
    Partitions,
    sleep_unless_stopped,
    with_backoff,
)
from workers.consumer_progress import Offsets, Progress
from workers.worker_contract import RELOAD_ON as RELOAD_ON
from workers.worker_contract import RETRYABLE as RETRYABLE
from workers.worker_contract import Busy as Busy
from workers.worker_contract import Fenced as Fenced
from workers.worker_contract import PartitionWorker as PartitionWorker
from workers.worker_contract import Positioned as Positioned
from workers.worker_contract import Resume as Resume

log = logging.getLogger("consumer")


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
        self.behind: dict[int, float] = {}
        """Partitions whose last batch left messages behind it: when it was applied
        (``time.monotonic()``). A partition leaves once a batch reaches its high water."""

    def lag(self, partition: int, value: int) -> None:
        """Record a partition's lag (messages between the next offset and the high water)."""
        self._lag.labels(self._group, str(partition)).set(value)
        if value > 0:
            self.behind[partition] = time.monotonic()
        else:
            self.behind.pop(partition, None)


async def run(
    worker: PartitionWorker,
    settings: InfraSettings,
    stop: asyncio.Event,
    metrics: ConsumerMetrics,
    *,
    max_records: int = 5000,
    fetch_min_bytes: int = 1,
    fetch_wait_ms: int = 500,
    session_timeout_ms: int = 10_000,
) -> None:
    """Consume until ``stop`` is set, retrying with backoff while a dependency is down.

    ``fetch_min_bytes``/``fetch_wait_ms``: Kafka answers a fetch once it has that many bytes
    or that long passed (by default at once when anything is there); the group evicts a member
    whose heartbeat stops for ``session_timeout_ms``."""
    backoff = 0.1
    while not stop.is_set():
        started = time.monotonic()
        try:
            await _consume(
                worker,
                settings,
                stop,
                metrics,
                max_records,
                _Tuning(fetch_min_bytes, fetch_wait_ms, session_timeout_ms),
            )
            return
        except RETRYABLE as exc:
            if time.monotonic() - started > 10:
                backoff = 0.1
            log.warning(
                "consumer interrupted, retrying",
                extra={"group": worker.group, "error": repr(exc), "retry_in_s": backoff},
            )
            await sleep_unless_stopped(stop, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)


IDLE_FETCH_WAIT_MS = 500
"""How long Kafka holds the fetch of a worker that found nothing in its last poll."""


class FetchPacing:
    """A worker that asks Kafka to hold its fetches for ``min_bytes`` (the projector: 1 MiB or
    25 ms, so each batch folds more orders) does so only while messages flow. After a poll that
    found nothing it asks to be answered at the first byte, held up to
    :data:`IDLE_FETCH_WAIT_MS` meanwhile: an idle projector fetched 40 times a second (~6 % of a
    core, its fetch round trips and Kafka's), and the first message after a quiet spell was
    held back up to 25 ms for nothing.

    aiokafka reads its fetcher's two settings for each fetch request it builds; they have no
    public setter (a test checks the names against the pinned aiokafka)."""

    def __init__(self, consumer: AIOKafkaConsumer, min_bytes: int, wait_ms: int) -> None:
        self._consumer = consumer
        self._flowing = (min_bytes, wait_ms)
        self._enabled = min_bytes > 1
        self.busy = True

    def after(self, fetched: bool) -> None:
        """Set the next fetches' settings from whether the last poll found messages."""
        if not self._enabled or fetched == self.busy:
            return
        self.busy = fetched
        fetcher = self._consumer._fetcher
        min_bytes, wait_ms = self._flowing if fetched else (1, IDLE_FETCH_WAIT_MS)
        fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = min_bytes, wait_ms


class _Tuning(NamedTuple):
    fetch_min_bytes: int
    fetch_wait_ms: int
    session_timeout_ms: int


async def _consume(
    worker: PartitionWorker,
    settings: InfraSettings,
    stop: asyncio.Event,
    metrics: ConsumerMetrics,
    max_records: int,
    tuning: _Tuning,
) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=worker.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_records,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_min_bytes=tuning.fetch_min_bytes,
        fetch_max_wait_ms=tuning.fetch_wait_ms,
        session_timeout_ms=tuning.session_timeout_ms,
        heartbeat_interval_ms=min(2_000, tuning.session_timeout_ms // 3),
        request_timeout_ms=15_000,
    )
    partitions = Partitions(worker, stop)
    partitions.consumer = consumer
    # (before start: the first assignment may be made while ``start`` is still running)
    offsets = partitions.offsets = Offsets(consumer, getattr(worker, "durable_offset", None))
    consumer.subscribe([worker.topic], listener=partitions)
    await consumer.start()
    progress = Progress(worker.group)
    pipelined = hasattr(worker, "flush")
    limit = min(max_records, FIRST_FETCH_MAX)
    pacing = FetchPacing(consumer, tuning.fetch_min_bytes, tuning.fetch_wait_ms)
    try:
        while not stop.is_set():
            if partitions.pending:  # (here, not in the listener: see consumer_partitions)
                await partitions.load_next()
            fetched = await consumer.getmany(timeout_ms=200, max_records=limit)
            pacing.after(bool(fetched))
            if fetched:
                limit = max_records
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
                done = await _apply(partitions, offsets, tp, records, stop, metrics)
                if done is None:
                    continue  # interrupted: the batch comes again (from the worker's offset)
                progress.add(done)
                high = consumer.highwater(tp)
                if high is not None:
                    metrics.lag(tp.partition, max(high - (records[-1].offset + 1), 0))
                next_offset = records[-1].offset + 1
                if not pipelined:
                    offsets.done(tp, next_offset)
                elif done:
                    offsets.started(tp, next_offset)
                else:
                    offsets.caught_up(tp, next_offset)
            idle = not fetched
            if offsets.due(idle):
                if idle:
                    await _flush(partitions, offsets, stop, metrics)
                await offsets.commit()
            progress.maybe_log(partitions.positions)
    finally:
        flush = getattr(worker, "flush", None)
        if flush is not None:  # let what was started end: stopping is no reason to waste it
            for partition in list(partitions.assignments):
                with contextlib.suppress(*RELOAD_ON):
                    await flush(partition)
        with contextlib.suppress(*RETRYABLE, TimeoutError):
            await asyncio.wait_for(consumer.stop(), 10)


async def _apply(
    partitions: Partitions,
    offsets: Offsets,
    tp: TopicPartition,
    records: list[Any],
    stop: asyncio.Event,
    metrics: ConsumerMetrics,
) -> int | None:
    """Apply what is new in ``records``; after a failure, reload the partition and try again.

    A pipelined worker (one with ``start`` and ``flush``, see :class:`PartitionWorker`) only
    starts the batch here. If the failure was an earlier batch's, started but never durable,
    the partition is sought back to the worker's durable state instead: those inputs come again.

    The number of events applied, or ``None`` when stopped or sought back.
    """
    partition = tp.partition
    worker = partitions.worker
    start: Callable[[int, list[Any], int], Awaitable[None]] = getattr(worker, "start", worker.apply)
    hint = getattr(worker, "prefetch", None)
    if hint is not None:  # (before decoding: the worker's reads go on meanwhile)
        hint(partition, [record.key for record in records])
    values = [record.value for record in records]
    decode: Callable[[bytes], Positioned] = getattr(worker, "decode", event_from_message)
    events = await _decoded(values, decode)
    next_offset = records[-1].offset + 1
    while not stop.is_set():
        applied = partitions.positions[partition]
        fresh = _new_events(events, applied)
        metrics.skipped.inc(len(events) - len(fresh))
        if not fresh:
            return 0
        try:
            await start(partition, fresh, next_offset)
        except RELOAD_ON as exc:
            resume = await _reload(partitions, partition, exc, stop, metrics)
            if resume is None:
                return None
            if resume.position < applied:
                offsets.forget(tp)
                await partitions.resume_at(tp, resume)
                return None
            partitions.positions[partition] = resume.position
            continue
        partitions.positions[partition] = fresh[-1].position
        metrics.applied.inc(len(fresh))
        return len(fresh)
    return None


async def _reload(
    partitions: Partitions,
    partition: int,
    exc: BaseException,
    stop: asyncio.Event,
    metrics: ConsumerMetrics,
) -> Resume | None:
    """After a failed batch: back off (unless fenced) and reload the partition's durable state."""
    worker = partitions.worker
    metrics.retries.inc()
    log.warning(
        "apply failed; reloading the partition",
        extra={"group": worker.group, "partition": partition, "error": repr(exc)},
    )
    if not isinstance(exc, Fenced):
        await sleep_unless_stopped(stop, 0.5)
    return await with_backoff(partial(worker.assign, partition), stop)


async def _flush(
    partitions: Partitions, offsets: Offsets, stop: asyncio.Event, metrics: ConsumerMetrics
) -> None:
    """Wait until a pipelined worker's started batches are durable (before their offsets are
    committed); a partition whose batch failed is reloaded and sought back."""
    worker = partitions.worker
    flush = getattr(worker, "flush", None)
    if flush is None:
        return
    for partition in list(partitions.assignments):
        tp = TopicPartition(worker.topic, partition)
        try:
            await flush(partition)
        except RELOAD_ON as exc:
            offsets.forget(tp)
            resume = await _reload(partitions, partition, exc, stop, metrics)
            if resume is None:
                return
            if partition in partitions.assignments:
                await partitions.resume_at(tp, resume)
        else:
            offsets.flushed(tp)


FIRST_FETCH_MAX = 1000
"""Messages in the loop's first batch at most: nothing overlaps with that one (no batch in
flight to be decided beside, its accounts or shards read cold), so a small one gets a pipelined
worker's next batch decided beside its commit sooner; the later ones take ``max_records``."""

DECODE_CHUNK = 500
"""Messages decoded between two returns to the event loop (a pipelined worker's previous batch
commits on this loop: its round trips must not wait for a whole fetch to be decoded)."""


async def _decoded(values: list[bytes], decode: Callable[[bytes], Positioned]) -> list[Positioned]:
    events: list[Positioned] = []
    for start in range(0, len(values), DECODE_CHUNK):
        if start:
            await asyncio.sleep(0)
        events.extend([decode(value) for value in values[start : start + DECODE_CHUNK]])
    return events


def _new_events[E: Positioned](events: list[E], applied: int) -> list[E]:
    """The events past ``applied``, in increasing position (a relay re-send may go back)."""
    fresh: list[E] = []
    last = applied
    for event in events:
        if event.position > last:
            fresh.append(event)
            last = event.position
    return fresh
