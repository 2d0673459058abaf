"""The session scheduler (``python -m workers.scheduler``): ``SessionClosed`` at the close.

The engine has no clock. At the configured close (``EXCHANGE_SESSION_CLOSE_UTC``) this process
appends ``SessionClosed {symbol, at}`` to ``session-<SYMBOL>`` for every listed symbol, routed to
the orders topic like any engine input, so DAY orders expire at one place in the stream and a
replay expires them at the same place. Each close of each symbol has a deterministic event id:
restarts, retries and a second scheduler append it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Final

import uvloop

from domain import streams
from domain.order_requests import SessionClosed
from event_store.model import ANY, NewEvent, StreamAppend
from event_store.outbox import order_route
from event_store.protocol import EventStore

log = logging.getLogger("scheduler")

DAY_NS: Final = 86_400 * 10**9
_IDS: Final = uuid.UUID("6d1f1f64-8f0e-4a53-9d1c-5e55e0c0a11c")


def last_close(now_ns: int, close_of_day_ns: int) -> int:
    """The latest session close at or before ``now_ns``."""
    close = now_ns - now_ns % DAY_NS + close_of_day_ns
    return close if close <= now_ns else close - DAY_NS


def close_of_day(hhmm: str) -> int:
    """``"21:00"`` as nanoseconds after midnight (UTC)."""
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return (hours * 3600 + minutes * 60) * 10**9


async def close_sessions(store: EventStore, symbols: list[str], at: int) -> int:
    """Append ``SessionClosed`` at ``at`` for each symbol (idempotent per symbol and close)."""
    if not symbols:
        return 0
    appends = []
    for symbol in symbols:
        closed = SessionClosed(symbol, at)
        event_id = uuid.uuid5(_IDS, f"{symbol}/{at}")
        meta = {"actor": "scheduler", **order_route(symbol)}
        event = NewEvent(closed.event_type, closed.to_dict(), meta, event_id)
        appends.append(StreamAppend(streams.session(symbol), [event], ANY))
    for append in appends:  # one append each: an already recorded close returns at once
        await store.append(append)
    return len(appends)


async def listed_symbols(store: EventStore) -> list[str]:
    """Every listed symbol, from the instrument streams."""
    prefix = streams.instrument("")
    return [stream_id.removeprefix(prefix) for stream_id in await store.stream_ids(prefix)]


async def run(store: EventStore, close_hhmm: str, poll_s: float, stop: asyncio.Event) -> None:
    """Close every symbol's session once per day at the close, until ``stop``."""
    close_ns = close_of_day(close_hhmm)
    done: set[tuple[str, int]] = set()
    while not stop.is_set():
        at = last_close(time.time_ns(), close_ns)
        symbols = [s for s in await listed_symbols(store) if (s, at) not in done]
        if symbols:
            await close_sessions(store, symbols, at)
            done.update((s, at) for s in symbols)
            log.info("sessions closed", extra={"symbols": len(symbols), "at": at})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)


async def _main() -> None:
    from common.settings import SchedulerSettings
    from event_store.mariadb import MariaDbEventStore
    from workers.consumer import RETRYABLE
    from workers.service import Operations, run_worker, store_probe

    settings = SchedulerSettings()

    async def body(stop: asyncio.Event, ops: Operations) -> None:
        store = MariaDbEventStore.from_url(settings.database_url)
        ops.probes["mariadb"] = store_probe(store)
        try:
            while not stop.is_set():
                try:
                    await run(store, settings.session_close_utc, settings.scheduler_poll_s, stop)
                except RETRYABLE as exc:
                    log.warning("store unavailable; retrying", extra={"error": repr(exc)})
                    await asyncio.sleep(1)
        finally:
            await store.close()

    await run_worker("scheduler", settings, body)


if __name__ == "__main__":
    uvloop.run(_main())
