"""The audit tests' story, told twice: to a database of its own and to the running test stack.

``store``: the command API's and the workers' events are appended directly (the exact classes of
``domain/``) to a fresh database beside the test stack's (``<name>_audit_<pid>``), so nothing
else writes there. ``http``: orders go through the running command API, and the test stack's
matching and settlement workers answer (stand-ins take their place where they are not deployed).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy.engine import make_url

from cli.profiles import PROFILES
from cli.stack import migrate
from cli.supervisor import Supervisor
from event_store import MariaDbEventStore
from event_store.audit import AuditReader
from event_store.connection import connect_raw
from tests.integration.audit.scenario import HttpDriver, Pacer, Scenario, StoreDriver, tell
from tests.integration.audit.stand_in import StandInWorkers


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
def audit_database_url() -> Iterator[str]:
    """A migrated, empty database of this session for the directly told story."""
    base = make_url(os.environ["EXCHANGE_DATABASE_URL"])
    name = f"{base.database}_audit_{os.getpid()}"
    url = base.set(database=name).render_as_string(hide_password=False)
    with ThreadPoolExecutor(1) as pool:  # Alembic's env.py runs its own event loop
        pool.submit(_fresh_database, url).result()
    yield url
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_run_sql, url, f"DROP DATABASE IF EXISTS `{name}`").result()


def workers_deployed() -> bool:
    """Whether the test stack runs its own matching and settlement workers."""
    supervisor = Supervisor(PROFILES["test"])
    states = supervisor.states() if supervisor.running() else {}
    return all(states.get(name) == "RUNNING" for name in ("matching", "settlement"))


@pytest.fixture(scope="session", params=["store", "http"])
async def scenario(request: pytest.FixtureRequest) -> AsyncIterator[Scenario]:
    """The story, told one way; its reader stays open for the tests."""
    if request.param == "store":
        url = request.getfixturevalue("audit_database_url")
    else:
        url = os.environ["EXCHANGE_DATABASE_URL"]
    store = MariaDbEventStore.from_url(url)
    reader = AuditReader.from_url(url)
    try:
        stand_in = None
        if request.param == "store" or not workers_deployed():
            stand_in = lambda symbol: StandInWorkers(store, reader, symbol)  # noqa: E731
        pacer = Pacer(reader, stand_in)
        if request.param == "store":
            ids = await tell(StoreDriver(store), pacer, reader)
        else:
            base = os.environ["EXCHANGE_COMMAND_API_URL"]
            async with httpx.AsyncClient(base_url=base, timeout=15) as api:
                ids = await tell(HttpDriver(api), pacer, reader)
        yield Scenario(request.param, url, reader, **ids)
    finally:
        await store.close()
        await reader.close()
