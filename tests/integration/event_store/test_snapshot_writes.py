"""A snapshot's state goes to MariaDB as a prepared statement's parameter, never escaped into
SQL text: a matching shard's state is megabytes, and escaping 1.5 MB of JSON cost the client
~40 ms of CPU and MariaDB ~120 ms of parsing per save (~10 % of the matching worker's samples
under load), against ~4 and ~25 prepared. Counted with MariaDB's global statement counters."""

from __future__ import annotations

import pytest

from event_store import MariaDbEventStore, Snapshot
from event_store.connection import ReadPool
from tests.integration.event_store.conftest import global_status

pytestmark = pytest.mark.integration


async def test_a_large_snapshot_is_saved_as_a_prepared_statement(
    event_store_url: str, stream_prefix: str, status: ReadPool
) -> None:
    store = MariaDbEventStore.from_url(event_store_url)
    shard = f"{stream_prefix}matching-0"
    state = {"orders": [[n, f"{n}.50", 'it\'s \\ a "book"'] for n in range(40_000)]}
    try:
        before = await global_status(status, "Com_stmt_execute")
        await store.save_snapshot(Snapshot(shard, 9, state, "BookState", 1))
        after = await global_status(status, "Com_stmt_execute")

        assert after - before >= 1
        assert await store.load_snapshot(shard) == Snapshot(shard, 9, state, "BookState", 1)
    finally:
        await store.close()
