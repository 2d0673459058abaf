"""Concurrent tail reads share statements and each caller still gets exactly its part."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from command_api.tail_reads import TailReads
from event_store.memory import InMemoryEventStore
from event_store.model import NewEvent, StoredData, StreamAppend


class CountingStore(InMemoryEventStore):
    """Counts ``read_stream_tails`` statements; fails them on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.statements: list[dict[str, int]] = []
        self.failure: Exception | None = None

    async def read_stream_tails(
        self, from_versions: Mapping[str, int]
    ) -> dict[str, list[StoredData]]:
        self.statements.append(dict(from_versions))
        if self.failure is not None:
            raise self.failure
        return await super().read_stream_tails(from_versions)


async def _with_events(store: InMemoryEventStore, stream_id: str, count: int) -> None:
    events = [NewEvent("Noted", {"n": n}) for n in range(count)]
    await store.append(StreamAppend(stream_id, events, -1))


async def test_reads_of_one_tick_go_in_one_statement_each_with_its_own_part() -> None:
    store = CountingStore()
    await _with_events(store, "order-1", 3)
    await _with_events(store, "order-2", 2)
    reads = TailReads(store, lanes=1)

    first, later, other, missing = await asyncio.gather(
        reads.read("order-1", 1), reads.read("order-1", 3), reads.read("order-2", 2),
        reads.read("order-9", 1),
    )  # fmt: skip

    assert [e.stream_version for e in first] == [1, 2, 3]
    assert [e.stream_version for e in later] == [3]
    assert [e.data for e in other] == [{"n": 1}]
    assert missing == []
    assert store.statements == [{"order-1": 1, "order-2": 2, "order-9": 1}]


async def test_a_read_sees_what_was_committed_before_it_was_asked() -> None:
    store = CountingStore()
    reads = TailReads(store, lanes=1)
    assert await reads.read("order-1", 1) == []

    await _with_events(store, "order-1", 1)

    assert [e.stream_version for e in await reads.read("order-1", 1)] == [1]


async def test_a_failed_statement_fails_its_callers_and_the_next_read_works() -> None:
    store = CountingStore()
    await _with_events(store, "order-1", 1)
    reads = TailReads(store)
    store.failure = ConnectionError("MariaDB went away")

    with pytest.raises(ConnectionError):
        await reads.read("order-1", 1)
    store.failure = None

    assert len(await reads.read("order-1", 1)) == 1


async def test_a_batch_holds_at_most_max_streams() -> None:
    store = CountingStore()
    reads = TailReads(store, lanes=1, max_streams=2)

    await asyncio.gather(*(reads.read(f"order-{n}", 1) for n in range(5)))

    assert [len(statement) for statement in store.statements] == [2, 2, 1]
