"""Kafka helpers of the relay tests: deleting topics, and reading a topic to its end."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    """Delete the topics a test made."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


def unique_topic(kind: str) -> str:
    """A topic name no other test uses."""
    return f"test.{kind}.{uuid.uuid4().hex[:12]}"


async def read_to_end(
    bootstrap: str, topic: str, timeout_s: float = 60
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of the topic, partition by partition, in offset order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            await consumer._client.force_metadata_update()  # a topic made after start
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(timeout_s):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
                for batch in batches.values():
                    records.extend(batch)
        return records
    finally:
        await consumer.stop()
