"""The Kafka offsets the consumer loop commits: only those of batches already durable."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition

from workers.consumer_progress import Offsets

TP = TopicPartition("orders", 0)


class FakeConsumer:
    """What ``Offsets`` uses of an ``AIOKafkaConsumer``: its assignment and ``commit``."""

    def __init__(self) -> None:
        self.committed: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.append(dict(offsets))


def offsets() -> tuple[Offsets, FakeConsumer]:
    consumer = FakeConsumer()
    made: Any = consumer
    return Offsets(made), consumer


async def test_a_started_batch_is_committed_once_the_next_one_started() -> None:
    tracked, consumer = offsets()

    tracked.started(TP, 100)
    await tracked.commit()
    tracked.started(TP, 200)
    await tracked.commit()

    assert consumer.committed == [{TP: 100}]
    assert not tracked.due(idle=False)
    assert tracked.due(idle=True)


async def test_a_flushed_partition_commits_what_it_started_last() -> None:
    tracked, consumer = offsets()
    tracked.started(TP, 100)
    tracked.started(TP, 200)

    tracked.flushed(TP)
    await tracked.commit()

    assert consumer.committed == [{TP: 200}]


async def test_messages_applied_before_ride_on_the_batch_in_flight() -> None:
    tracked, consumer = offsets()
    tracked.started(TP, 100)

    tracked.caught_up(TP, 150)
    await tracked.commit()
    tracked.flushed(TP)
    await tracked.commit()

    assert consumer.committed == [{TP: 150}]


async def test_a_partition_resumed_from_its_durable_state_drops_what_was_started() -> None:
    tracked, consumer = offsets()
    tracked.started(TP, 300)

    tracked.forget(TP)
    tracked.done(TP, 120)
    tracked.started(TP, 180)
    tracked.flushed(TP)
    await tracked.commit()

    assert consumer.committed == [{TP: 180}]


async def test_a_worker_that_reports_its_durable_offset_has_only_that_committed() -> None:
    consumer = FakeConsumer()
    made: Any = consumer
    durable: dict[int, int | None] = {0: None}
    tracked = Offsets(made, durable.get)

    tracked.started(TP, 100)
    tracked.started(TP, 200)  # returned while the batch before 100 still commits
    await tracked.commit()
    durable[0] = 100
    tracked.started(TP, 300)
    await tracked.commit()
    tracked.flushed(TP)
    await tracked.commit()

    assert consumer.committed == [{TP: 100}, {TP: 300}]
