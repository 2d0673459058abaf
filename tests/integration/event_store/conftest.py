"""Fixtures of the event store's integration tests.

They run against a database of their own beside the test stack's (``<name>_es_<pid>``),
created by the Alembic migration at the start of every session and dropped at its end, so they
neither see nor disturb the events of the running test stack, nor another test session's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.databases import private_database
from event_store import InMemoryEventStore, MariaDbEventStore, NewEvent, Upcasters
from event_store.connection import ReadPool
from event_store.protocol import EventStore

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def event_store_url() -> Iterator[str]:
    """A migrated, empty database of this test session, for the event store tests."""
    with private_database("es") as url:
        yield url


@pytest.fixture
def stream_prefix() -> str:
    """A prefix that keeps each test's streams apart from every other test's."""
    return f"t{uuid.uuid4().hex[:10]}-"


@pytest.fixture
async def status(event_store_url: str) -> AsyncIterator[ReadPool]:
    """A connection of its own for reading MariaDB's global counters."""
    pool = ReadPool(event_store_url, 1)
    yield pool
    await pool.close()


async def global_status(pool: ReadPool, name: str) -> int:
    """One of MariaDB's global status counters (``SHOW GLOBAL STATUS``)."""
    rows = await pool.fetch("SHOW GLOBAL STATUS LIKE %s", (name,))
    return int(rows[0][1])


StoreFactory = Callable[[Upcasters | None], EventStore]


@pytest.fixture(params=["memory", pytest.param("mariadb", marks=pytest.mark.integration)])
async def store_factory(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Builds stores of one implementation (closed after the test), for the contract suite."""
    made: list[EventStore] = []
    url = request.getfixturevalue("event_store_url") if request.param == "mariadb" else None

    def make(upcasters: Upcasters | None = None) -> EventStore:
        store: EventStore
        if url is None:
            store = InMemoryEventStore(upcasters)
        else:
            store = MariaDbEventStore.from_url(url, upcasters)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> EventStore:
    """A store of the implementation under test, without upcasters."""
    return store_factory(None)


def events(*types: str, **data: Any) -> list[NewEvent]:
    """One event of each type, numbered, with a correlation id in its metadata."""
    return [NewEvent(t, {"n": i, **data}, {"correlation_id": "c1"}) for i, t in enumerate(types)]
