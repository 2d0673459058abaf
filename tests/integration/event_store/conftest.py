"""Fixtures of the event store's integration tests.

They run against a database of their own beside the test stack's (``<name>_es_<pid>``),
created by the Alembic migration at the start of every session and dropped at its end, so they
neither see nor disturb the events of the running test stack, nor another test session's.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from cli.stack import migrate
from event_store import InMemoryEventStore, MariaDbEventStore, Upcasters
from event_store.connection import connect_raw
from event_store.protocol import EventStore

ROOT = Path(__file__).resolve().parents[3]


def _run_sql(url: str, *statements: str) -> None:
    async def run() -> None:
        conn = await connect_raw(make_url(url).set(database=""), autocommit=True)
        try:
            async with conn.cursor() as cur:
                for statement in statements:
                    await cur.execute(statement)
        finally:
            conn.close()

    asyncio.run(run())


def _fresh_database(url: str) -> None:
    name = make_url(url).database
    _run_sql(
        url,
        f"DROP DATABASE IF EXISTS `{name}`",
        f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
    )
    migrate(url)


@pytest.fixture(scope="session")
def event_store_url() -> Iterator[str]:
    """A migrated, empty database of this test session, for the event store tests."""
    base = make_url(os.environ["EXCHANGE_DATABASE_URL"])
    name = f"{base.database}_es_{os.getpid()}"
    url = base.set(database=name).render_as_string(hide_password=False)
    # Alembic's env.py runs its own event loop: give it a thread without one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_fresh_database, url).result()
    yield url
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_run_sql, url, f"DROP DATABASE IF EXISTS `{name}`").result()


@pytest.fixture
def stream_prefix() -> str:
    """A prefix that keeps each test's streams apart from every other test's."""
    return f"t{uuid.uuid4().hex[:10]}-"


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
