"""The store's multi-stream reads touch only the index entries they return.

A trader's account stream reaches tens of thousands of events in a long run. Reading its tail,
its version or its newest snapshot must be a dive into the ``(stream_id, stream_version)`` key,
not a walk of the whole stream: the walk made the command API's and settlement's reads, and the
writer's version reads under the sequence lock, cost more with every order (found in the 1M
pipeline run: ~280 index entries tested per order). Counted with MariaDB's own handler
counters (global: the test stack's processes poll but read no rows while the tests run).
"""

from __future__ import annotations

import pytest

from event_store import NO_STREAM, MariaDbEventStore, NewEvent, Snapshot, StreamAppend
from event_store.connection import ReadPool
from tests.integration.event_store.conftest import global_status

pytestmark = pytest.mark.integration

LONG = 4000
"""Events in the long stream (a walk would read at least this many index entries)."""
SNAPSHOTS = 600
WALK_BOUND = 400
"""Index entries a read may touch here (rows returned + dives + the other processes' noise)."""


async def entries_read(pool: ReadPool) -> int:
    return await global_status(pool, "Handler_read_next")


async def test_tails_versions_and_snapshots_of_long_streams_are_dives(
    event_store_url: str, stream_prefix: str, status: ReadPool
) -> None:
    store = MariaDbEventStore.from_url(event_store_url)
    long_a, long_b = f"{stream_prefix}account-a", f"{stream_prefix}account-b"
    short = f"{stream_prefix}order-1"
    try:
        for stream_id in (long_a, long_b):
            await store.append(
                StreamAppend(stream_id, [NewEvent("E", {"n": n}) for n in range(LONG)], NO_STREAM)
            )
        await store.append(StreamAppend(short, [NewEvent("E", {"n": 0})], NO_STREAM))
        for version in range(1, SNAPSHOTS + 1):
            await store.save_snapshot(Snapshot(long_a, version, {"v": version}, "S", 1))

        before = await entries_read(status)
        tails = await store.read_stream_tails({long_a: LONG - 2, long_b: LONG, short: 1})
        assert [e.stream_version for e in tails[long_a]] == [LONG - 2, LONG - 1, LONG]
        assert [e.stream_version for e in tails[long_b]] == [LONG]
        assert len(tails[short]) == 1
        after_tails = await entries_read(status)
        assert after_tails - before < WALK_BOUND

        recorded = await store.read_streams({long_a: LONG - 1, long_b: LONG + 1})
        assert [e.stream_version for e in recorded[long_a]] == [LONG - 1, LONG]
        assert recorded[long_b] == []
        after_streams = await entries_read(status)
        assert after_streams - after_tails < WALK_BOUND

        reader = MariaDbEventStore.from_url(event_store_url)  # (another process: no versions)
        try:
            await reader.prefetch_versions([long_a, long_b, short])  # the writer's version read
        finally:
            await reader.close()
        after_versions = await entries_read(status)
        assert after_versions - after_streams < WALK_BOUND

        snapshots = await store.load_snapshots([long_a, short])
        assert snapshots[long_a].version == SNAPSHOTS
        assert short not in snapshots
        assert await entries_read(status) - after_versions < WALK_BOUND
    finally:
        await store.close()


async def test_reads_of_more_streams_than_one_statement_takes(
    event_store_url: str, stream_prefix: str
) -> None:
    """Past ``STREAMS_PER_READ`` streams the read is split; every stream still gets its tail."""
    store = MariaDbEventStore.from_url(event_store_url)
    ids = [f"{stream_prefix}s{n}" for n in range(1_200)]
    try:
        await store.append(
            *(
                StreamAppend(s, [NewEvent("E", {"n": 1}), NewEvent("E", {"n": 2})], NO_STREAM)
                for s in ids
            )
        )
        tails = await store.read_stream_tails({s: 2 for s in ids})
        assert all([e.stream_version for e in tails[s]] == [2] for s in ids)
        full = await store.read_streams({s: 1 for s in ids})
        assert all([e.stream_version for e in full[s]] == [1, 2] for s in ids)
    finally:
        await store.close()
