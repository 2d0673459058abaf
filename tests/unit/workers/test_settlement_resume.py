"""Where settlement partitions resume, and the one-time move of legacy checkpoints to its topic."""

from __future__ import annotations

from domain import streams
from event_store.memory import InMemoryEventStore
from event_store.model import NewEvent, StreamAppend
from event_store.outbox import SETTLEMENT_INPUTS
from workers.settlement_resume import INPUT_CONSUMED, checkpoint
from workers.settlement_worker import _SETTLED, SettlementWorker

TOPIC = "exchange.settlement"


def _worker(store: InMemoryEventStore, partitions: int = 3) -> SettlementWorker:
    return SettlementWorker(store, group="settlement", topic=TOPIC, partitions=partitions)


async def _legacy(store: InMemoryEventStore, partition: int, *positions: int) -> None:
    for version, position in enumerate(positions):
        data = {"partition": partition, "last_position": position, "kafka_offset": 10 + version}
        event = NewEvent(INPUT_CONSUMED, data, {"actor": "settlement"})
        await store.append(StreamAppend(streams.settlement(partition), [event], version))


def test_the_relay_routes_exactly_the_inputs_settlement_books() -> None:
    assert frozenset(SETTLEMENT_INPUTS) == _SETTLED


async def test_a_fresh_store_resumes_every_partition_from_the_topics_start() -> None:
    store = InMemoryEventStore()

    resume = await _worker(store).assign(1)

    assert (resume.position, resume.offset) == (0, None)
    assert await store.stream_ids("settlement-") == []


async def test_a_checkpoint_on_the_settlement_topic_is_resumed_from() -> None:
    store = InMemoryEventStore()
    first = StreamAppend(streams.settlement(2), [checkpoint(TOPIC, 2, 55, 9)], 0)
    await store.append(first)

    resume = await _worker(store).assign(2)

    assert (resume.position, resume.offset) == (55, 9)


async def test_legacy_checkpoints_move_to_the_topics_start_at_the_highest_booked_position() -> None:
    store = InMemoryEventStore()
    await _legacy(store, 0, 40, 70)
    await _legacy(store, 1, 90)

    worker = _worker(store, partitions=3)
    resumes = [await worker.assign(p) for p in range(3)]

    assert [(r.position, r.offset) for r in resumes] == [(90, None)] * 3
    for partition in range(3):
        stream = streams.settlement(partition)
        last = (await store.read_stream(stream))[-1].data
        assert last == checkpoint(TOPIC, partition, 90, None).data
    assert await store.stream_version(streams.settlement(0)) == 3  # moved once, not per assign
