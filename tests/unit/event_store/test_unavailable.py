"""An unreachable MariaDB gives a typed error, never a hang or a driver exception."""

from __future__ import annotations

import socket

import pytest

from event_store import (
    Checkpoint,
    EventStoreUnavailable,
    MariaDbEventStore,
    NewEvent,
    Snapshot,
    StreamAppend,
)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_appends_and_reads_fail_with_event_store_unavailable_when_mariadb_is_down() -> None:
    url = f"mysql+asyncmy://exchange:exchange@127.0.0.1:{_closed_port()}/nowhere"
    store = MariaDbEventStore.from_url(url)
    try:
        with pytest.raises(EventStoreUnavailable):
            await store.append(StreamAppend("s", [NewEvent("E", {})]))
        with pytest.raises(EventStoreUnavailable):
            await store.read_all()
        with pytest.raises(EventStoreUnavailable):
            await store.save_checkpoint(Checkpoint("consumer", 1))
        with pytest.raises(EventStoreUnavailable):
            await store.save_snapshot(Snapshot("s", 1, {"big": "x" * 1000}))
    finally:
        await store.close()
