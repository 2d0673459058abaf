"""The audit tests' story, told twice: to a database of its own and to the running test stack.

``store``: the command API's and the workers' events are appended directly (the exact classes of
``domain/``) to a fresh database beside the test stack's (``<name>_audit_<pid>``), so nothing
else writes there. ``http``: orders go through the running command API, and the test stack's
matching and settlement workers answer (stand-ins take their place where they are not deployed).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from cli.databases import private_database
from cli.profiles import PROFILES
from cli.supervisor import Supervisor
from event_store import MariaDbEventStore
from event_store.audit import AuditReader
from tests.integration.audit.scenario import HttpDriver, Pacer, Scenario, StoreDriver, tell
from tests.integration.audit.stand_in import StandInWorkers


@pytest.fixture(scope="session")
def audit_database_url() -> Iterator[str]:
    """A migrated, empty database of this session for the directly told story."""
    with private_database("audit") as url:
        yield url


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
