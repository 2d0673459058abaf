"""The consumer loop resumes a partition from the offset its worker gives, even when batches
were fetched while the rebalance listener was still loading that partition.

Found by the chaos suite (docs/chaos.md): the listener loads partitions one after the other
while the fetch loop runs; a batch of a partition fetched before its seek and applied after it
moved the partition's position past the inputs the seek re-delivered, so they were skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from common.settings import InfraSettings
from event_store.model import RecordedEvent
from tests.integration.workers.conftest import TOPIC_PARTITIONS, message
from workers.consumer import ConsumerMetrics, Resume, run

pytestmark = pytest.mark.integration

PARTITIONS = TOPIC_PARTITIONS
SLOW = 1
"""The partition whose state takes long to load."""


class Recorder:
    """A worker that records what it applies; loading ``SLOW`` takes seconds, applying a
    batch of the other partition takes a while (so the loop is busy when the seek happens)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.group = f"test-resume-{uuid.uuid4().hex[:8]}"
        self.applied: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}

    async def assign(self, partition: int) -> Resume:
        if partition == SLOW:
            await asyncio.sleep(3)
        return Resume(0, 0)

    async def revoke(self, partition: int) -> None:
        return None

    async def apply(self, partition: int, events: list[RecordedEvent], next_offset: int) -> None:
        if partition != SLOW:
            await asyncio.sleep(0.4)
        self.applied[partition] += [e.position for e in events]


async def produce(
    topic: str, sent: dict[int, list[int]], positions: Iterator[int], seconds: float
) -> None:
    """Messages on both partitions every 20 ms, positions increasing."""
    producer = AIOKafkaProducer(bootstrap_servers=InfraSettings().kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for _ in range(int(seconds / 0.02)):
            for partition in range(PARTITIONS):
                position = next(positions)
                await producer.send_and_wait(topic, message(position), partition=partition)
                sent[partition].append(position)
            await asyncio.sleep(0.02)
    finally:
        await producer.stop()


async def test_batches_fetched_while_a_partition_loads_are_not_applied_past_its_seek(
    topic: str,
) -> None:
    worker = Recorder(topic)
    sent: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}
    stop = asyncio.Event()
    metrics = ConsumerMetrics(CollectorRegistry(), worker.group)
    positions = itertools.count(1)
    await produce(topic, sent, positions, 0.5)  # a backlog before the worker joins

    consuming = asyncio.create_task(run(worker, InfraSettings(), stop, metrics))
    await produce(topic, sent, positions, 8)
    for _ in range(1200):
        if all(worker.applied[p][-1:] == sent[p][-1:] for p in range(PARTITIONS)):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await consuming

    skipped = {p: sorted(set(sent[p]) - set(worker.applied[p])) for p in range(PARTITIONS)}
    assert skipped == {p: [] for p in range(PARTITIONS)}
    assert worker.applied == sent, {p: (len(worker.applied[p]), len(sent[p])) for p in sent}
