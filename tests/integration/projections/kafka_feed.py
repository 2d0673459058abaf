"""Feeding simulated events through a Kafka topic of their own, keyed like the relay does."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from event_store.outbox import partition_of
from projections.simulation import Relayable, message_of


async def new_topic(bootstrap: str, partitions: int) -> str:
    """A fresh topic (deleted by :func:`delete_topic`)."""
    name = f"test.projector.{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def delete_topic(bootstrap: str, name: str) -> None:
    """Delete a topic made by :func:`new_topic`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([name])
    finally:
        await admin.close()


async def publish(bootstrap: str, topic: str, partitions: int, events: Sequence[Relayable]) -> None:
    """Every event keyed by its stream, on the relay's partition, acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        batches: dict[int, Any] = {}
        futures = []
        for event in events:
            key = event.stream_id.encode()
            partition = partition_of(key, partitions)
            batch = batches.get(partition) or producer.create_batch()
            if batch.append(key=key, value=message_of(event), timestamp=None) is None:
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=message_of(event), timestamp=None)
            batches[partition] = batch
        for partition, batch in batches.items():
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        for future in futures:
            await future
    finally:
        await producer.stop()
