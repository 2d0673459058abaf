"""The sync bridge never leaves a caller waiting on a store that was closed under it.

eventsourcing's concurrency suite closes the recorder while its reader threads are still in a
call; a caller stuck on the stopped loop kept pytest from ever exiting.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from eventsourcing import persistence as es

from cli.databases import private_database
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
