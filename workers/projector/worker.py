"""The projector: the events topic into the Redis read models (run by ``__main__``, which
chooses the compiled build of the folds first).

It runs on the shared consumer loop (``consumer.py``); its decisions are the pure folds of
``projections/``, applied by :class:`projections.writer.ProjectionWriter` - a batch's net
changes and its checkpoints in one Lua script, fenced per partition.

Beside the loop, a watermark task tells the query API how far the read models reach: a
partition whose input is consumed up to the Kafka end offset (read *after* the relay's
checkpoint) holds every event up to that checkpoint, so its reflected position rises to it even
when none of those events were its own. Without it an idle partition would hold the query
API's ``X-Projection-Position`` (the minimum over partitions) back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Final

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from common.settings import ProjectorSettings
from event_store.outbox import FoldInput, fold_input_from_message
from event_store.protocol import EventStore
from projections import writer as projection_writer
from projections.keys import Control
from projections.writer import ProjectionWriter
from workers import consumer

log = logging.getLogger("projector")


class Projector:
    """The consumer loop's worker: every projection, per events partition."""

    def __init__(self, writer: ProjectionWriter, group: str, topic: str) -> None:
        self._writer = writer
        self._group = group
        self._topic = topic
        # Every message is decoded: since the relay keeps the bookkeeping streams off the
        # events topic (``OFF_EVENTS_TOPIC``) a wire filter on the outbox header rejected 108
        # of 497,058 messages of the pipeline benchmark's topic (usernames, session closes)
        # for ~0.75 us of regex per message, ~3.8 us of CPU per order, and was removed. The
        # folds ignore what they do not read (``tests/unit/projections/test_inputs.py``); a
        # topic written before still carries bookkeeping, decoded and ignored while a
        # projector catches up on it.

    @property
    def group(self) -> str:
        """The Kafka consumer group."""
        return self._group

    @property
    def topic(self) -> str:
        """The events topic."""
        return self._topic

    @staticmethod
    def decode(value: bytes) -> FoldInput:
        """A relayed message as the folds read it (the consumer loop's decoder for us)."""
        return fold_input_from_message(value)

    async def assign(self, partition: int) -> consumer.Resume:
        """Claim the partition (fencing any previous owner) and resume at its checkpoints."""
        resume = await self._writer.claim(partition)
        return consumer.Resume(resume.position, resume.offset)

    async def revoke(self, partition: int) -> None:
        """Forget the partition."""
        self._writer.release(partition)

    async def apply(self, partition: int, events: list[FoldInput], next_offset: int) -> None:
        """Apply the batch and its checkpoints atomically."""
        try:
            await self._writer.apply(partition, events, next_offset)
        except projection_writer.Fenced as exc:
            raise consumer.Fenced(str(exc)) from exc


BEHIND_TRUSTED_S: Final = 1.0
"""How long a batch that left messages behind it says its partition is not at its end."""


async def raise_watermarks(
    writer: ProjectionWriter,
    store: EventStore,
    offsets: AIOKafkaConsumer,
    topic: str,
    relay: str,
    behind: dict[int, float] | None = None,
) -> None:
    """One round: each claimed partition consumed to its end reflects the relay's position.

    ``behind`` (:attr:`workers.consumer.ConsumerMetrics.behind`): partitions whose last batch,
    applied less than ``BEHIND_TRUSTED_S`` ago, saw more messages after it - not at their end,
    so not raised, and a round where every claimed partition is so skips its store read and
    Kafka request (under load, nearly every round: 4-5 % of the projector's py-spy samples).
    Partitions already raised to the relay's checkpoint are not asked about again: an idle
    projector's round is one store read (it was also a Kafka request and a script call to
    Redis per partition, ten times a second).
    """
    claimed = writer.claimed()
    if behind:
        recent = time.monotonic() - BEHIND_TRUSTED_S
        claimed = [p for p in claimed if behind.get(p, recent) <= recent]
    if not claimed:
        return
    relayed = await store.load_checkpoint(relay)
    claimed = [p for p in claimed if writer.below(p, relayed)]
    if not claimed:  # (the relay has not moved since they were raised: nothing to ask Kafka)
        return
    ends = await offsets.end_offsets([TopicPartition(topic, p) for p in claimed])
    for tp, end in ends.items():
        checkpoint = writer.checkpoint(tp.partition)
        if checkpoint is None:
            continue
        if (checkpoint.offset or 0) >= end:
            await writer.raise_position(tp.partition, relayed)


async def watermarks(
    writer: ProjectionWriter,
    store: EventStore,
    settings: ProjectorSettings,
    stop: asyncio.Event,
    behind: dict[int, float] | None = None,
) -> None:
    """Raise the reflected positions of caught-up partitions until ``stop`` (``behind``: see
    :func:`raise_watermarks`)."""
    offsets = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    started = False
    try:
        while not stop.is_set():
            try:
                if not started:
                    await offsets.start()
                    started = True
                await raise_watermarks(
                    writer, store, offsets, settings.events_topic, settings.relay_name, behind
                )
            except (KafkaError, RedisError, OSError, *consumer.RETRYABLE) as exc:
                log.debug("watermark round failed", extra={"error": repr(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.watermark_interval_s)
    finally:
        if started:
            with contextlib.suppress(KafkaError, TimeoutError):
                await asyncio.wait_for(offsets.stop(), 5)


async def main() -> None:
    """Run the projector until SIGTERM."""
    from common.health import kafka_probe, redis_probe
    from event_store.mariadb import MariaDbEventStore
    from workers.service import Operations, run_worker, store_probe

    settings = ProjectorSettings()

    async def body(stop: asyncio.Event, ops: Operations) -> None:
        client = aioredis.from_url(settings.redis_url, socket_connect_timeout=2)
        store = MariaDbEventStore.from_url(settings.database_url)
        ops.probes.update(
            redis=redis_probe(client),
            kafka=kafka_probe(settings.kafka_bootstrap),
            mariadb=store_probe(store),
        )
        writer = ProjectionWriter(
            client, Control(settings.projection_prefix), chunk=settings.projector_chunk
        )
        projection_writer.tune_gc()
        worker = Projector(writer, settings.projector_group, settings.events_topic)
        metrics = consumer.ConsumerMetrics(ops.registry, worker.group)
        marks = asyncio.ensure_future(watermarks(writer, store, settings, stop, metrics.behind))
        try:
            await consumer.run(
                worker,
                settings,
                stop,
                metrics,
                max_records=settings.batch_max,
                fetch_min_bytes=settings.projector_fetch_min_bytes,
                fetch_wait_ms=settings.projector_fetch_wait_ms,
            )
        finally:
            stop.set()
            await marks
            await store.close()
            await client.aclose()

    await run_worker("projector", settings, body)
