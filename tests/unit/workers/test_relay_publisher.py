"""The relay's publisher: rows to producer batches per (topic, partition), full batches sent
as they fill, nothing lost, reordered or sent twice (aiokafka's real batch builder; the
producer's broker side stubbed: what it is handed is what is checked)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from event_store.outbox import OutboxRow
from workers.relay import Publisher


class _Producer:
    """What the publisher uses of ``AIOKafkaProducer``: batches of ``batch_size`` bytes."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes]]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)

    async def send_batch(self, builder: BatchBuilder, topic: str, partition: int) -> Any:
        batch = DefaultRecordBatch(bytes(builder._build()))  # (what the sender sends)
        self.sent.append((topic, partition, [(r.key, r.value) for r in batch]))
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def _rows(count: int) -> list[OutboxRow]:
    rows: list[OutboxRow] = []
    for i in range(count):
        value = b'{"position":%d,"pad":"%s"}' % (i, b"x" * 300)
        if i % 3 == 0:
            rows.append((i, b"order-%d" % i, "ACME", None, value))
        elif i % 3 == 1:
            rows.append((i, b"order-%d" % i, None, b"%d" % (i % 7), value))
        else:
            rows.append((i, b"batch-%d" % i, "BOLT", None, value))  # (off the events topic)
    return rows


async def test_every_route_of_every_row_is_sent_once_in_order_as_batches_fill() -> None:
    producer = _Producer(batch_size=4096)  # (~10 messages a batch: many fill up)
    publisher = Publisher(producer, "events", "orders", "settlement")
    await publisher.start()
    rows = _rows(600)

    futures = await publisher.publish(rows[:300])
    futures += await publisher.publish(rows[300:])

    assert len(futures) == len(producer.sent) > 3 * 3 * 2
    received: dict[str, list[tuple[bytes, bytes]]] = {"events": [], "orders": [], "settlement": []}
    for topic, _, messages in producer.sent:
        received[topic].extend(messages)
    expected_events = [(k, v) for _, k, _, _, v in rows if not k.startswith(b"batch-")]
    expected_orders = [(s.encode(), v) for _, _, s, _, v in rows if s is not None]
    expected_settlement = [(u, v) for _, _, _, u, v in rows if u is not None]
    for topic, expected in (
        ("events", expected_events),
        ("orders", expected_orders),
        ("settlement", expected_settlement),
    ):
        assert sorted(received[topic]) == sorted(expected)  # each once
        by_key: dict[bytes, list[bytes]] = {}
        for key, value in received[topic]:
            by_key.setdefault(key, []).append(value)
        for key, values in by_key.items():  # in order per key (one partition per key)
            assert values == [v for k, v in expected if k == key]


async def test_an_event_larger_than_a_producer_batch_goes_in_a_batch_of_its_own() -> None:
    producer = _Producer(batch_size=512)
    publisher = Publisher(producer, "events", "orders", "settlement")
    await publisher.start()
    small = (1, b"order-1", None, None, b"{}")
    large = (2, b"order-1", None, None, b"x" * 2000)

    await publisher.publish([small, large, small])

    assert [messages for _, _, messages in producer.sent] == [
        [(b"order-1", b"{}")],
        [(b"order-1", b"x" * 2000)],
        [(b"order-1", b"{}")],
    ]
