"""eventsourcing's own recorder test suites, run on the exchange's MariaDB store.

The classes of ``eventsourcing.tests.persistence`` are subclassed as they are: only the setup
changes (a private database, emptied before every test, as the suites expect notification ids
to start at 1) and ``create_recorder``. ``optional_test_insert_subscribe`` is run too, since the
module supports subscriptions, and so is the non-interleaving case.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import ClassVar

import pytest
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.tests import persistence as suites
from eventsourcing.utils import Environment
from sqlalchemy.engine import make_url

from cli.databases import private_database
from event_store import eventsourcing as module
from event_store.connection import DB_ERRORS, connect_raw
from event_store.eventsourcing.recorders import (
    ExchangeAggregateRecorder,
    ExchangeApplicationRecorder,
    ExchangeProcessRecorder,
    ExchangeTrackingRecorder,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def eventsourcing_url() -> Iterator[str]:
    """A migrated database of this module's own: the suites empty it before every test."""
    with private_database("esp") as url:
        yield url


@pytest.fixture(scope="class", autouse=True)
def _database(request: pytest.FixtureRequest, eventsourcing_url: str) -> None:
    request.cls.database_url = eventsourcing_url


def empty_store(url: str) -> None:
    """No events, snapshots or checkpoints, and the sequence back at 0.

    The library's concurrency tests close a recorder while its threads are still in a call; a
    connection cancelled mid-read can be left open inside its transaction, and its metadata lock
    would make the next TRUNCATE wait forever (seen once: the suite hung). So the connections an
    earlier test left on this module's private database are killed first, and a TRUNCATE that
    still waits fails after 30 s instead of hanging the run.
    """
    asyncio.run(_empty_store(url))


async def _empty_store(url: str) -> None:
    name = make_url(url).database
    conn = await connect_raw(make_url(url).set(database=""), autocommit=True)
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT id FROM information_schema.processlist"
                " WHERE db = %s AND id <> CONNECTION_ID()",
                (name,),
            )
            for (thread_id,) in await cur.fetchall():
                with contextlib.suppress(*DB_ERRORS):  # (it may have ended meanwhile)
                    await cur.execute(f"KILL CONNECTION {int(thread_id)}")
            await cur.execute("SET SESSION lock_wait_timeout = 30")
            for table in ("events", "snapshots", "checkpoints"):
                await cur.execute(f"TRUNCATE TABLE `{name}`.{table}")
            await cur.execute(f"UPDATE `{name}`.event_sequence SET last_position = 0")
    finally:
        conn.close()


def environment(url: str, name: str = "") -> Environment:
    """What an application on the exchange's store has in its environment."""
    return Environment(
        name,
        {
            "PERSISTENCE_MODULE": module.__name__,
            module.Factory.DATABASE_URL: url,
        },
    )


class OnTheExchangeStore:
    """Setup shared by the suites: an empty store and a factory of the module."""

    database_url: ClassVar[str]

    def setUp(self) -> None:
        empty_store(self.database_url)
        self.factory = module.Factory(environment(self.database_url))
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        self.factory.close()


class TestAggregateRecorder(OnTheExchangeStore, suites.AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.factory.aggregate_recorder()


class TestSnapshotRecorder(OnTheExchangeStore, suites.AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.factory.aggregate_recorder("snapshots")


class TestApplicationRecorder(
    OnTheExchangeStore, suites.ApplicationRecorderTestCase[ApplicationRecorder]
):
    def create_recorder(self) -> ApplicationRecorder:
        return self.factory.application_recorder()

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestNonInterleavingNotificationIds(
    OnTheExchangeStore, suites.NonInterleavingNotificationIDsBaseCase
):
    def create_recorder(self) -> ApplicationRecorder:
        return self.factory.application_recorder()


class TestTrackingRecorder(OnTheExchangeStore, suites.TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return self.factory.tracking_recorder()


class TestProcessRecorder(OnTheExchangeStore, suites.ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()


class CustomTrackingRecorder(ExchangeTrackingRecorder):
    """A view's own tracking recorder, as a projection would declare it."""


class TestInfrastructureFactory(suites.InfrastructureFactoryTestCase[module.Factory]):
    database_url: ClassVar[str]

    def setUp(self) -> None:
        self.env = environment(self.database_url, "TestCase")
        super().setUp()

    def expected_factory_class(self) -> type[module.Factory]:
        return module.Factory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return ExchangeAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return ExchangeApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return ExchangeTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return CustomTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return ExchangeProcessRecorder
