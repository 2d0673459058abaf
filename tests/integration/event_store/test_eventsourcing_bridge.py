"""The sync bridge never leaves a caller waiting on a store that was closed under it, nor a
connection checked out.

eventsourcing's concurrency suite closes the recorder while its reader threads are still in a
call; a caller stuck on the stopped loop kept pytest from ever exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import random
import threading
import time
import warnings
from collections.abc import Iterator

import pytest
from eventsourcing import persistence as es
from sqlalchemy import exc as sa_exc

from cli.databases import private_database
from event_store.eventsourcing import sql
from event_store.eventsourcing.bridge import StoreThread


@pytest.fixture(scope="module")
def bridge_url() -> Iterator[str]:
    with private_database("esbridge") as url:
        yield url


def test_a_call_in_flight_when_the_store_closes_fails_instead_of_waiting_forever(
    bridge_url: str,
) -> None:
    store = StoreThread(bridge_url)
    outcome: list[BaseException | str] = []
    started = threading.Event()

    async def long_call() -> str:
        started.set()
        await asyncio.sleep(60)
        return "finished"

    def caller() -> None:
        try:
            outcome.append(store.run(long_call()))
        except es.InterfaceError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=caller, daemon=True)
    thread.start()
    assert started.wait(10)

    store.close()
    thread.join(10)

    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], es.InterfaceError)


def test_a_call_after_close_is_refused(bridge_url: str) -> None:
    store = StoreThread(bridge_url)
    store.close()

    async def nothing() -> None:
        return None

    with pytest.raises(es.InterfaceError):
        store.run(nothing())


def test_reads_in_flight_when_the_store_closes_give_their_connections_back(
    bridge_url: str,
) -> None:
    # Cancelled before the engine was disposed, a read cut while it checked a connection out
    # or in left it to the collector ("non-checked-in connection": SAWarnings in test runs).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for seed in range(15):
            _close_under_readers(bridge_url, random.Random(seed))
        gc.collect()

    leaked = [str(w.message) for w in caught if issubclass(w.category, sa_exc.SAWarning)]
    assert leaked == []


def _close_under_readers(url: str, rng: random.Random) -> None:
    """Close a store while 24 threads keep reading through it (each until refused)."""
    store = StoreThread(url)
    pauses = [rng.choice((0, 0, 0.01, 0.05)) for _ in range(64)]

    def reader() -> None:
        with contextlib.suppress(es.InterfaceError):
            for pause in itertools.cycle(pauses):
                store.run(sql.fetch(store.engine, "SELECT SLEEP(%s)", [pause]))

    readers = [threading.Thread(target=reader, daemon=True) for _ in range(24)]
    for thread in readers:
        thread.start()
    time.sleep(rng.uniform(0.05, 0.5))
    store.close()
    for thread in readers:
        thread.join(30)
    assert not any(thread.is_alive() for thread in readers)
