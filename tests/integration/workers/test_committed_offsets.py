"""A partition resumed from its worker's durable state has that state's offset committed for
its group, even when nothing new arrives after it.

Found by the chaos suite: after a MariaDB restart a pipelined matching batch failed although its
commit had gone in; the loop reloaded the partition and sought it to the durable offset, but
nothing marked that offset done, so the group's committed offset stayed behind, the pipeline
looked undrained forever (``exchange check``'s backlog counts committed offsets) and the drain
wait timed out. The same held for any worker restarted with nothing new to read.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from common.settings import InfraSettings
from event_store.model import RecordedEvent
from tests.integration.workers.conftest import TOPIC_PARTITIONS, message
from workers.consumer import ConsumerMetrics, Resume, run

pytestmark = pytest.mark.integration

SENT = 5


class CaughtUp:
    """A worker whose store says every message of the topic is applied already."""

    def __init__(self, topic: str, ends: dict[int, int]) -> None:
        self.topic = topic
        self.group = f"test-offsets-{uuid.uuid4().hex[:8]}"
        self.ends = ends
        self.applied: list[int] = []

    async def assign(self, partition: int) -> Resume:
        return Resume(10**9, self.ends[partition])

    async def revoke(self, partition: int) -> None:
        return None

    async def apply(self, partition: int, events: list[RecordedEvent], next_offset: int) -> None:
        self.applied += [e.position for e in events]


async def committed(topic: str, group: str, partitions: int) -> dict[int, int | None]:
    reader = AIOKafkaConsumer(
        bootstrap_servers=InfraSettings().kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await reader.start()
    try:
        return {p: await reader.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        await reader.stop()


async def test_a_resumed_partition_commits_its_durable_offset_with_nothing_new(topic: str) -> None:
    bootstrap = InfraSettings().kafka_bootstrap
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for position in range(1, SENT + 1):
            partition = position % TOPIC_PARTITIONS
            await producer.send_and_wait(topic, message(position), partition=partition)
    finally:
        await producer.stop()
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await probe.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(TOPIC_PARTITIONS)]
        ends = {tp.partition: offset for tp, offset in (await probe.end_offsets(parts)).items()}
    finally:
        await probe.stop()
    worker = CaughtUp(topic, ends)
    stop = asyncio.Event()
    consuming = asyncio.create_task(
        run(worker, InfraSettings(), stop, ConsumerMetrics(CollectorRegistry(), worker.group))
    )
    found: dict[int, int | None] = {}
    try:
        for _ in range(300):
            await asyncio.sleep(0.1)
            found = await committed(topic, worker.group, TOPIC_PARTITIONS)
            if found == ends:
                break
    finally:
        stop.set()
        await consuming

    assert found == ends
    assert worker.applied == []
