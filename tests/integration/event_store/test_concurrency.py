"""Positions are gap-free and in commit order under concurrent writers.

Ten writers (each its own store, so its own writer connection, as ten processes would have)
append 1,000 times each to overlapping streams while a reader tails ``read_all``: the reader
must see every position exactly once, in order, with no gap, and each stream's versions must
be contiguous.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import pytest

from event_store import ANY, MariaDbEventStore, NewEvent, StreamAppend, WrongExpectedVersion

pytestmark = pytest.mark.integration

WRITERS = 10
APPENDS_PER_WRITER = 1_000
IN_FLIGHT_PER_WRITER = 25
STREAMS = 40


async def _writer(store: MariaDbEventStore, index: int, streams: list[str]) -> int:
    """Appends ``APPENDS_PER_WRITER`` times; returns how many events it wrote."""
    rng = random.Random(index)
    written = 0
    gate = asyncio.Semaphore(IN_FLIGHT_PER_WRITER)

    async def one(n: int) -> int:
        async with gate:
            first, second = rng.sample(streams, 2)
            if n % 10 == 0:  # an atomic two-stream append
                appends = [
                    StreamAppend(first, [NewEvent("Moved", {"w": index, "n": n})], ANY),
                    StreamAppend(second, [NewEvent("Moved", {"w": index, "n": n})], ANY),
                ]
                await store.append(*appends)
                return 2
            if n % 7 == 0:  # optimistic: read the version, then expect it, retry on conflict
                while True:
                    version = await store.stream_version(first)
                    try:
                        await store.append(
                            StreamAppend(first, [NewEvent("Checked", {"w": index})], version)
                        )
                        return 1
                    except WrongExpectedVersion:
                        continue
            count = 1 + n % 3
            events = [NewEvent("Appended", {"w": index, "n": n, "i": i}) for i in range(count)]
            await store.append(StreamAppend(first, events, ANY))
            return count

    for count in await asyncio.gather(*(one(n) for n in range(APPENDS_PER_WRITER))):
        written += count
    return written


async def test_a_tailing_reader_sees_every_position_once_in_order_without_gaps(
    event_store_url: str, stream_prefix: str
) -> None:
    streams = [f"{stream_prefix}{i}" for i in range(STREAMS)]
    reader = MariaDbEventStore.from_url(event_store_url)
    writers = [MariaDbEventStore.from_url(event_store_url) for _ in range(WRITERS)]
    start = await reader.last_position()
    seen: list[tuple[int, str, int]] = []
    done = asyncio.Event()

    async def tail() -> None:
        after = start
        while True:
            finished = done.is_set()
            batch = await reader.read_all(after_position=after, limit=500)
            for event in batch:
                assert event.position == after + 1, f"gap or reorder after {after}"
                after = event.position
                seen.append((event.position, event.stream_id, event.stream_version))
            if finished and not batch:
                return

    try:
        tailer = asyncio.create_task(tail())
        totals = await asyncio.gather(*(_writer(w, i, streams) for i, w in enumerate(writers)))
        done.set()
        await tailer

        assert len(seen) == sum(totals)
        assert [p for p, _, _ in seen] == list(range(start + 1, start + 1 + sum(totals)))
        versions: dict[str, list[int]] = defaultdict(list)
        for _, stream, version in seen:
            versions[stream].append(version)
        for stream, numbers in versions.items():
            assert numbers == list(range(1, len(numbers) + 1)), stream
    finally:
        for store in [reader, *writers]:
            await store.close()
