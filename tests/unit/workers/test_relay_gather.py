"""The relay's reader paces its outbox SELECTs: a short read waits the gather time, an empty one
the poll interval, a full one nothing (a relay behind never waits)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from common.settings import RelaySettings
from event_store.outbox import OutboxRow
from workers import relay
from workers.relay import Relay, pause_after


def _settings(**overrides: Any) -> RelaySettings:
    fields: dict[str, Any] = {
        "relay_batch_size": 3,
        "relay_poll_interval_s": 0.05,
        "relay_gather_s": 0.004,
    }
    return RelaySettings(_env_file=None, **(fields | overrides))  # type: ignore[call-arg]


def test_a_short_read_waits_the_gather_time_an_empty_one_the_poll_interval() -> None:
    settings = _settings()

    assert pause_after(0, settings) == 0.05
    assert pause_after(1, settings) == 0.004
    assert pause_after(2, settings) == 0.004


def test_a_full_read_is_followed_at_once() -> None:
    assert pause_after(3, _settings()) == 0.0


def test_a_zero_gather_time_reads_again_at_once_after_a_short_read() -> None:
    assert pause_after(1, _settings(relay_gather_s=0)) == 0.0


def test_the_gather_time_and_poll_interval_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXCHANGE_RELAY_GATHER_S", "0.012")
    monkeypatch.setenv("EXCHANGE_RELAY_POLL_INTERVAL_S", "0.2")

    settings = RelaySettings()

    assert settings.relay_gather_s == 0.012
    assert settings.relay_poll_interval_s == 0.2


class _Stop(Exception):
    pass


class _Connection:
    def cursor(self) -> Any:
        return _Cursor()


class _Cursor:
    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Publisher:
    def __init__(self) -> None:
        self.published: list[list[int]] = []

    async def publish(self, rows: list[OutboxRow]) -> list[asyncio.Future[Any]]:
        self.published.append([row[0] for row in rows])
        return []


def _row(position: int) -> OutboxRow:
    return (position, b"order-1", None, None, b"{}")


async def test_the_reader_waits_only_after_short_and_empty_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = [[_row(1), _row(2), _row(3)], [_row(4)], [], [_row(5), _row(6), _row(7)], [_row(8)]]
    asked_after: list[int] = []
    events: list[str] = []

    async def fetch(_cursor: Any, after: int, limit: int) -> list[OutboxRow]:
        asked_after.append(after)
        if not reads:
            raise _Stop
        rows = reads.pop(0)
        events.append(f"read {len(rows)}")
        return rows

    async def sleep(seconds: float) -> None:
        events.append(f"wait {seconds}")

    monkeypatch.setattr(relay, "fetch_outbox", fetch)
    monkeypatch.setattr(asyncio, "sleep", sleep)  # (the reader's only pause)
    publisher = _Publisher()
    in_flight: asyncio.Queue[Any] = asyncio.Queue()

    with pytest.raises(_Stop):
        await Relay(_settings())._read(_Connection(), publisher, in_flight)  # type: ignore[arg-type]

    assert events == [
        "read 3",
        "read 1",
        "wait 0.004",
        "read 0",
        "wait 0.05",
        "read 3",
        "read 1",
        "wait 0.004",
    ]
    assert asked_after == [0, 3, 4, 4, 7, 8]
    assert publisher.published == [[1, 2, 3], [4], [5, 6, 7], [8]]
    assert in_flight.qsize() == 4
