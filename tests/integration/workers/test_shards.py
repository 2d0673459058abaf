"""Engine shards on a private database: snapshots, replay, and the fence against zombies.

These drive :class:`MatchingWorker` directly (no Kafka) on a fresh database of their own, so a
second worker on the same partition can be arranged deterministically.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from itertools import count
from typing import Any

import pytest

from cli.databases import private_database
from domain import streams
from domain.instrument import Instrument
from domain.order_requests import CancelRequested, OrderPlaced
from event_store.mariadb import MariaDbEventStore
from event_store.model import NO_STREAM, NewEvent, RecordedEvent, StreamAppend
from event_store.outbox import order_route, partition_of
from workers.consumer import Fenced
from workers.instruments import Instruments
from workers.matching.shard import load_shard, replay, restored_shard
from workers.matching.worker import MatchingWorker

pytestmark = pytest.mark.integration

PARTITIONS = 4
SYMBOL = "ZOMB"
PARTITION = partition_of(SYMBOL.encode(), PARTITIONS)
_ids = count(1)


@pytest.fixture(scope="module")
def shard_db_url() -> Iterator[str]:
    """A migrated, empty database for this module."""
    with private_database("shards") as url:
        yield url


@pytest.fixture
async def store(shard_db_url: str) -> AsyncIterator[MariaDbEventStore]:
    """The private store."""
    opened = MariaDbEventStore.from_url(shard_db_url)
    yield opened
    await opened.close()


def worker(store: MariaDbEventStore, **snapshots: float) -> MatchingWorker:
    """A matching worker on the private store (snapshots only when asked, or as ``snapshots``
    says: ``snapshot_every_inputs``, ``snapshot_every_s``, ``snapshot_after_scan``)."""
    every: dict[str, Any] = {"snapshot_every_inputs": 10**9, "snapshot_every_s": 10**9}
    return MatchingWorker(
        store, group="matching", topic="orders", partitions=PARTITIONS, **(every | snapshots)
    )


async def list_instrument(store: MariaDbEventStore) -> None:
    """List the test symbol once, as the command API would."""
    if await store.stream_version(streams.instrument(SYMBOL)):
        return
    data = {**Instrument.create(SYMBOL).to_dict(), "at": 1}
    await store.append(
        StreamAppend(streams.instrument(SYMBOL), [NewEvent("InstrumentListed", data)], NO_STREAM)
    )


async def orders(store: MariaDbEventStore, n: int, price: int = 1000) -> list[RecordedEvent]:
    """``n`` crossing limit orders placed (without holds: the engine does not look at them)."""
    placed = []
    for i in range(n):
        order_id, side = next(_ids), ("buy", "sell")[i % 2]
        request = OrderPlaced(SYMBOL, order_id, 100 + i % 3, side, "limit", price + i % 2, 2,
                              "GTC", False, None, None, None, 10 + order_id)  # fmt: skip
        event = NewEvent(request.event_type, request.to_dict(), order_route(SYMBOL))
        result = await store.append(StreamAppend(streams.order(order_id), [event], NO_STREAM))
        placed += await store.read_all(result.first_position - 1, 1)
    return placed


async def cancels(store: MariaDbEventStore, placed: list[RecordedEvent]) -> list[RecordedEvent]:
    """A cancel request for each placed order."""
    requested = []
    for event in placed:
        data = event.data
        cancel = CancelRequested(SYMBOL, data["order_id"], data["user_id"], data["at"] + 1)
        result = await store.append(
            StreamAppend(
                event.stream_id,
                [NewEvent(cancel.event_type, cancel.to_dict(), order_route(SYMBOL))],
            )
        )
        requested += await store.read_all(result.first_position - 1, 1)
    return requested


async def test_a_shard_restored_from_its_snapshot_hashes_equal_to_a_full_replay(
    store: MariaDbEventStore,
) -> None:
    await list_instrument(store)
    live = worker(store)
    await live.assign(PARTITION)
    await live.apply(PARTITION, await orders(store, 20), 1)
    await store.save_snapshot(live.shards[PARTITION].snapshot())
    await live.apply(PARTITION, await orders(store, 15, price=1003), 2)
    batch = await orders(store, 6, price=1001)
    await live.apply(PARTITION, batch + await cancels(store, batch[:3]), 3)

    instruments = Instruments(store)
    fast = await load_shard(store, instruments, PARTITION, PARTITIONS)
    full = await load_shard(store, instruments, PARTITION, PARTITIONS, use_snapshot=False)

    assert fast.from_snapshot is not None and full.from_snapshot is None
    expected = live.shards[PARTITION].engine.state_hash()
    assert fast.engine.state_hash() == full.engine.state_hash() == expected
    assert fast.position == full.position == live.shards[PARTITION].position


async def test_one_replay_feeds_shards_of_every_partition_and_start_as_separate_loads_do(
    store: MariaDbEventStore,
) -> None:
    await list_instrument(store)
    live = worker(store)
    await live.assign(PARTITION)
    await live.apply(PARTITION, await orders(store, 10, price=1013), 1)
    await store.save_snapshot(live.shards[PARTITION].snapshot())
    await live.apply(PARTITION, await orders(store, 6, price=1014), 2)
    instruments = Instruments(store)
    shards = [
        await restored_shard(store, partition, use_snapshot=use)
        for partition in range(PARTITIONS)
        for use in (False, True)
    ]
    read_to: list[int] = []

    await replay(store, instruments, PARTITIONS, shards, read_to.append)

    for (shard, _), use in zip(shards, [False, True] * PARTITIONS, strict=True):
        alone = await load_shard(store, instruments, shard.partition, PARTITIONS, use_snapshot=use)
        assert (shard.engine.state_hash(), shard.position) == (
            alone.engine.state_hash(), alone.position
        )  # fmt: skip
    assert read_to and read_to[-1] == live.shards[PARTITION].position


async def test_a_due_snapshot_is_saved_once_its_batch_is_durable_and_restores_the_shard(
    store: MariaDbEventStore,
) -> None:
    await list_instrument(store)
    live = worker(store, snapshot_every_inputs=10)
    await live.assign(PARTITION)

    await live.start(PARTITION, await orders(store, 12, price=1005), 1)
    await live.start(PARTITION, await orders(store, 4, price=1007), 2)
    await live.flush(PARTITION)

    shard = live.shards[PARTITION]
    snapshot = await store.load_snapshot(shard.stream_id)
    assert snapshot is not None and snapshot.version == shard.version - 1
    restored = await load_shard(store, Instruments(store), PARTITION, PARTITIONS)
    assert restored.from_snapshot == snapshot.version
    assert restored.engine.state_hash() == shard.engine.state_hash()


async def test_a_load_that_read_far_through_the_store_saves_a_snapshot_the_next_starts_from(
    store: MariaDbEventStore,
) -> None:
    await list_instrument(store)
    live = worker(store)  # (never snapshots)
    await live.assign(PARTITION)
    await live.apply(PARTITION, await orders(store, 8, price=1009), 1)
    restarted = worker(store, snapshot_after_scan=8)

    await restarted.assign(PARTITION)
    await restarted.flush(PARTITION)  # (waits for the snapshots being saved)

    shard = restarted.shards[PARTITION]
    assert shard.scanned >= 8
    snapshot = await store.load_snapshot(shard.stream_id)
    assert snapshot is not None and snapshot.version == shard.version
    again = await load_shard(store, Instruments(store), PARTITION, PARTITIONS)
    assert (again.from_snapshot, again.scanned) == (shard.version, 0)
    assert again.engine.state_hash() == live.shards[PARTITION].engine.state_hash()


async def test_a_partition_gone_idle_snapshots_what_it_applied_once_a_snapshot_is_due(
    store: MariaDbEventStore,
) -> None:
    await list_instrument(store)
    live = worker(store, snapshot_every_s=0.5)
    await live.assign(PARTITION)
    await live.start(PARTITION, await orders(store, 4, price=1011), 1)  # sealed: not due yet
    await asyncio.sleep(0.6)

    await live.flush(PARTITION)  # what the loop calls when its fetch came back empty

    shard = live.shards[PARTITION]
    snapshot = await store.load_snapshot(shard.stream_id)
    assert snapshot is not None and snapshot.version == shard.version
    assert snapshot.state["position"] == shard.position and shard.inputs_since_snapshot == 0


async def test_a_zombie_that_lost_its_partition_cannot_append_for_it(
    store: MariaDbEventStore,
) -> None:
    await list_instrument(store)
    zombie, successor = worker(store), worker(store)
    await zombie.assign(PARTITION)
    await successor.assign(PARTITION)  # the partition moved while the zombie was paused
    taken = await orders(store, 4)
    await successor.apply(PARTITION, taken, 10)
    before = await store.last_position()

    with pytest.raises(Fenced):
        await zombie.apply(PARTITION, taken, 10)

    assert await store.last_position() == before
    assert PARTITION not in zombie.shards  # its engine ran ahead of the store: dropped
    resumed = await zombie.assign(PARTITION)
    assert resumed.position == taken[-1].position  # reloaded: it would skip what was applied
    decided = await asyncio.gather(*(store.read_stream(e.stream_id) for e in taken))
    decisions = [sum(e.type in ("OrderAccepted", "OrderRejected") for e in s) for s in decided]
    assert decisions == [1] * len(taken)


async def test_batches_started_back_to_back_are_appended_in_order_each_once(
    store: MariaDbEventStore,
) -> None:
    await list_instrument(store)
    live = worker(store)
    await live.assign(PARTITION)
    first, second = await orders(store, 6), await orders(store, 6, price=1002)
    version = live.shards[PARTITION].version

    await live.start(PARTITION, first, 20)
    await live.start(PARTITION, second, 21)
    await live.flush(PARTITION)

    stream = await store.read_stream(streams.matching(PARTITION), version + 1)
    assert [(e.data["last_position"], e.data["kafka_offset"]) for e in stream] == [
        (first[-1].position, 20),
        (second[-1].position, 21),
    ]
    reloaded = await load_shard(store, Instruments(store), PARTITION, PARTITIONS)
    assert reloaded.engine.state_hash() == live.shards[PARTITION].engine.state_hash()


async def test_batches_decided_while_an_append_commits_go_in_as_one_append_after_it(
    store: MariaDbEventStore,
) -> None:
    await list_instrument(store)
    live = worker(store)
    await live.assign(PARTITION)
    batches = [await orders(store, 5, price=1000 + i) for i in range(3)]
    version, durable_at_assign = live.shards[PARTITION].version, live.durable_offset(PARTITION)

    for offset, batch in enumerate(batches, start=40):  # no round trip between the starts
        await live.start(PARTITION, batch, offset)
    durable_before_flush = live.durable_offset(PARTITION)
    await live.flush(PARTITION)

    stream = await store.read_stream(streams.matching(PARTITION), version + 1)
    assert [
        (e.data["last_position"], e.data["kafka_offset"], e.data["inputs"]) for e in stream
    ] == [
        (batches[0][-1].position, 40, 5),
        (batches[2][-1].position, 42, 10),
    ]
    assert durable_before_flush == durable_at_assign  # none of the three durable yet
    assert live.durable_offset(PARTITION) == 42
    decided = await asyncio.gather(*(store.read_stream(e.stream_id) for b in batches for e in b))
    assert [sum(e.type in ("OrderAccepted", "OrderRejected") for e in s) for s in decided] == [
        1
    ] * 15
    reloaded = await load_shard(store, Instruments(store), PARTITION, PARTITIONS)
    assert reloaded.engine.state_hash() == live.shards[PARTITION].engine.state_hash()


async def test_a_batch_started_on_top_of_a_fenced_one_is_never_appended(
    store: MariaDbEventStore,
) -> None:
    await list_instrument(store)
    zombie, successor = worker(store), worker(store)
    await zombie.assign(PARTITION)
    await successor.assign(PARTITION)
    taken, later = await orders(store, 4), await orders(store, 4, price=1004)
    await successor.apply(PARTITION, taken, 30)
    before = await store.last_position()

    await zombie.start(PARTITION, taken, 30)  # submitted: fenced in the store
    with pytest.raises(Fenced):
        # decided on top of it (expecting the version the successor made): the fence reaches
        # this start if the append failed already, else the flush
        await zombie.start(PARTITION, later, 31)
        await zombie.flush(PARTITION)

    assert await store.last_position() == before
    assert PARTITION not in zombie.shards
    decided = await asyncio.gather(*(store.read_stream(e.stream_id) for e in later))
    assert all(len(s) == 1 for s in decided)  # only the order itself: no engine output
