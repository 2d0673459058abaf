"""The event store contract, part two: snapshots, checkpoints, refused appends and version
prefetching, on both recorders (in-memory and MariaDB). Part one is ``test_contract.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from event_store import (
    ANY,
    NO_STREAM,
    Checkpoint,
    NewEvent,
    Snapshot,
    StreamAppend,
    Upcasters,
    WrongExpectedVersion,
)
from event_store.connection import connect_raw
from event_store.mariadb import MariaDbEventStore
from event_store.memory import InMemoryEventStore
from event_store.planning import encode_append
from event_store.protocol import EventStore
from tests.integration.event_store.conftest import StoreFactory, events


async def test_the_newest_snapshot_is_loaded_and_never_overwritten_by_an_older_one(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}book"
    assert await store.load_snapshot(stream) is None

    await store.save_snapshot(Snapshot(stream, 3, {"bids": [[100, 5]]}))
    await store.save_snapshot(Snapshot(stream, 7, {"bids": [[101, 2]]}))
    await store.save_snapshot(Snapshot(stream, 5, {"bids": []}))

    loaded = await store.load_snapshot(stream)
    assert loaded == Snapshot(stream, 7, {"bids": [[101, 2]]})


async def test_a_snapshot_keeps_every_character_and_its_size(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}shard"
    awkward = 'it\'s "quoted" \\ back\\slashed; -- \x00 nul, \n, ü, 株, 🙂, %s ? %(x)s'
    state = {"note": awkward, "orders": [[i, f"{i}.25", awkward[: i % 40]] for i in range(30_000)]}

    await store.save_snapshot(Snapshot(stream, 2, state, "BookState", 3))

    assert await store.load_snapshot(stream) == Snapshot(stream, 2, state, "BookState", 3)


async def test_many_streams_load_their_newest_snapshots_at_once(
    store_factory: StoreFactory, stream_prefix: str
) -> None:
    upcasters = Upcasters()
    upcasters.register("BookState", 1, lambda s: {"levels": s["bids"]})
    store = store_factory(upcasters)
    a, b, none = (f"{stream_prefix}{name}" for name in ("a", "b", "none"))
    await store.save_snapshot(Snapshot(a, 3, {"bids": [1]}, "BookState", 1))
    await store.save_snapshot(Snapshot(a, 9, {"bids": [2]}, "BookState", 1))
    await store.save_snapshot(Snapshot(b, 4, {"n": 4}))

    loaded = await store.load_snapshots([a, b, none])

    assert loaded == {
        a: Snapshot(a, 9, {"levels": [2]}, "BookState", 2),
        b: Snapshot(b, 4, {"n": 4}),
    }
    assert await store.load_snapshots([]) == {}


async def test_snapshots_are_upcast_on_load(
    store_factory: StoreFactory, stream_prefix: str
) -> None:
    upcasters = Upcasters()
    upcasters.register("BookState", 1, lambda s: {"levels": s["bids"]})
    store = store_factory(upcasters)
    stream = f"{stream_prefix}book"
    await store.save_snapshot(Snapshot(stream, 1, {"bids": [1]}, "BookState", 1))

    assert await store.load_snapshot(stream) == Snapshot(stream, 1, {"levels": [1]}, "BookState", 2)


async def test_a_checkpoint_is_saved_with_the_append_and_not_on_conflict(
    store: EventStore, stream_prefix: str
) -> None:
    consumer = f"{stream_prefix}engine"
    stream = f"{stream_prefix}s"
    assert await store.load_checkpoint(consumer) == 0

    await store.append(
        StreamAppend(stream, events("A"), NO_STREAM), checkpoint=Checkpoint(consumer, 41)
    )
    with pytest.raises(WrongExpectedVersion):
        await store.append(
            StreamAppend(stream, events("B"), NO_STREAM), checkpoint=Checkpoint(consumer, 42)
        )

    assert await store.load_checkpoint(consumer) == 41
    await store.save_checkpoint(Checkpoint(consumer, 50))
    assert await store.load_checkpoint(consumer) == 50


async def test_an_invalid_append_is_refused_before_it_reaches_the_store(
    store: EventStore, stream_prefix: str
) -> None:
    with pytest.raises(ValueError):
        await store.append()
    with pytest.raises(ValueError):
        StreamAppend(f"{stream_prefix}s", [])
    same = NewEvent("A", {}, event_id=uuid.uuid4())
    with pytest.raises(ValueError):
        await store.append(StreamAppend(f"{stream_prefix}s", [same, same]))
    with pytest.raises(TypeError):
        await store.append(StreamAppend(f"{stream_prefix}s", [NewEvent("A", {"x": object()})]))


async def test_prefetched_versions_change_nothing_about_an_append(
    store: EventStore, stream_prefix: str
) -> None:
    known, fresh = f"{stream_prefix}order-1", f"{stream_prefix}order-2"
    await store.append(StreamAppend(known, events("A", "B"), NO_STREAM))

    await store.prefetch_versions([known, fresh, known])
    result = await store.append(
        StreamAppend(known, events("C"), ANY), StreamAppend(fresh, events("D"), ANY)
    )

    assert result.stream_versions == {known: 3, fresh: 1}
    assert [e.stream_version for e in await store.read_stream(known)] == [1, 2, 3]


@pytest.mark.integration
async def test_versions_prefetched_before_another_writer_appended_still_append_in_sequence(
    event_store_url: str, stream_prefix: str
) -> None:
    ours, theirs = (MariaDbEventStore.from_url(event_store_url) for _ in range(2))
    try:
        stream = f"{stream_prefix}order-1"
        await theirs.append(StreamAppend(stream, events("OrderPlaced"), NO_STREAM))
        await ours.append(StreamAppend(f"{stream_prefix}other", events("A"), NO_STREAM))
        await ours.prefetch_versions([stream])  # version 1, noted in our writer's cache

        await theirs.append(StreamAppend(stream, events("CancelRequested"), 1))
        result = await ours.append(StreamAppend(stream, events("OrderAccepted"), ANY))

        assert result.stream_versions == {stream: 3}
        stored = await ours.read_stream(stream)
        assert [(e.stream_version, e.type) for e in stored] == [
            (1, "OrderPlaced"),
            (2, "CancelRequested"),
            (3, "OrderAccepted"),
        ]
    finally:
        await ours.close()
        await theirs.close()


@contextlib.asynccontextmanager
async def appends_held(store: EventStore, request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Appends to ``store`` wait meanwhile: the in-memory store's lock is held, or MariaDB's
    sequence row by another connection (as another process's append would)."""
    if isinstance(store, InMemoryEventStore):
        async with store._lock:
            yield
        return
    holder = await connect_raw(request.getfixturevalue("event_store_url"), autocommit=False)
    try:
        async with holder.cursor() as cur:
            await cur.execute("SELECT last_position FROM event_sequence WHERE id = 1 FOR UPDATE")
        yield
    finally:
        await holder.rollback()
        holder.close()


async def waiting_for_a_lock(store: EventStore, request: pytest.FixtureRequest) -> None:
    """Until an append of ``store`` waits for the sequence row (MariaDB; the in-memory store's
    waits for its lock as soon as it runs)."""
    await asyncio.sleep(0)
    if isinstance(store, InMemoryEventStore):
        return
    watcher = await connect_raw(request.getfixturevalue("event_store_url"), autocommit=True)
    try:
        async with watcher.cursor() as cur:
            while True:
                await cur.execute(
                    "SELECT COUNT(*) FROM information_schema.INNODB_TRX t"
                    " JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id"
                    " WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()"
                )
                ((waiting,),) = await cur.fetchall()
                if waiting:
                    return
                await asyncio.sleep(0.01)
    finally:
        watcher.close()


async def test_after_a_conflict_known_versions_tell_the_moved_stream_even_while_appends_wait(
    store: EventStore, stream_prefix: str, request: pytest.FixtureRequest
) -> None:
    """What the settlement worker rebooks after a conflict relies on: the stream that moved is
    known at its new version and the others at the version expected, also while another
    append of the store waits for the store's lock (the MariaDB store's careful path)."""
    still, moved, new = (f"{stream_prefix}account-{n}" for n in (1, 2, 3))
    await store.append(StreamAppend(still, events("A"), NO_STREAM))
    await store.append(StreamAppend(moved, events("A", "B"), NO_STREAM))
    with pytest.raises(WrongExpectedVersion):
        await store.append(StreamAppend(still, events("C"), 1), StreamAppend(moved, events("C"), 1))

    async with appends_held(store, request):
        # A stream the store knows no version of, expected at ANY: planned under the lock.
        waiting = store.submit_encoded(encode_append([StreamAppend(new, events("D"), ANY)], None))
        await waiting_for_a_lock(store, request)
        assert not waiting.done()
        assert (store.known_version(still), store.known_version(moved)) == (1, 2)
    assert (await waiting).stream_versions == {new: 1}
    assert (store.known_version(still), store.known_version(moved), store.known_version(new)) == (
        1,
        2,
        1,
    )
