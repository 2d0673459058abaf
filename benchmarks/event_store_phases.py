"""The measured phases of ``benchmarks/event_store.py``: naive inserts, group commit, relay."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from common.settings import RelaySettings
from event_store import MariaDbEventStore, NewEvent, StreamAppend
from event_store.connection import connect_raw
from event_store.outbox import order_route
from workers.relay import Relay

Tick = Callable[[int], None]

NAIVE_TABLE = """
CREATE TABLE IF NOT EXISTS naive_events (
    position BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    stream_id VARCHAR(200) NOT NULL,
    stream_version INT UNSIGNED NOT NULL,
    event_id UUID NOT NULL,
    type VARCHAR(200) NOT NULL,
    schema_version SMALLINT UNSIGNED NOT NULL,
    data LONGTEXT NOT NULL,
    metadata LONGTEXT NOT NULL,
    recorded_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY uq_naive_stream_version (stream_id, stream_version),
    UNIQUE KEY uq_naive_event_id (event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
"""


@dataclass(frozen=True, slots=True)
class Figures:
    """Events per second and append latency of one phase."""

    events: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def events_per_s(self) -> float:
        """Throughput."""
        return self.events / self.seconds if self.seconds else 0.0


def _figures(latencies: list[float], seconds: float) -> Figures:
    ordered = sorted(latencies)
    if not ordered:
        return Figures(0, seconds, 0.0, 0.0)
    return Figures(
        len(ordered),
        seconds,
        ordered[len(ordered) // 2] * 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    )


def order_event(task: int, n: int) -> NewEvent:
    """A realistic order event: a few fields of data, the usual metadata; every other one is
    routed to the orders topic too (so the relay sends 1.5 messages per event)."""
    return NewEvent(
        "OrderAccepted",
        {
            "order_id": f"o-{task}-{n}",
            "symbol": "ACME",
            "side": "buy" if n % 2 else "sell",
            "price": 10_125 + n % 50,
            "quantity": 10,
            "time_in_force": "GTC",
        },
        {
            "correlation_id": f"c-{task}-{n}",
            "causation_id": f"cmd-{task}-{n}",
            "actor": "u-1",
            **(order_route("ACME") if n % 2 else {}),
        },
    )


async def _closed_loop(
    tasks: int, seconds: float, one: Callable[[int, int], Awaitable[None]], tick: Tick
) -> Figures:
    """``tasks`` tasks each repeat ``one(task, n)``, waiting for it, until time is up."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def run(task: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await one(task, n)
            latencies.append(time.perf_counter() - started)
            n += 1
            if n % 64 == 0:
                tick(64)

    started = time.perf_counter()
    await asyncio.gather(*(run(t) for t in range(tasks)))
    return _figures(latencies, time.perf_counter() - started)


async def naive(url: str, tasks: int, seconds: float, tick: Tick) -> Figures:
    """(a) Each task on its own connection, one autocommit INSERT per event."""
    setup = await connect_raw(url, autocommit=True)
    async with setup.cursor() as cur:
        await cur.execute(NAIVE_TABLE)
        await cur.execute("TRUNCATE TABLE naive_events")
    setup.close()
    connections = [await connect_raw(url, autocommit=True) for _ in range(tasks)]
    cursors = [c.cursor() for c in connections]
    sql = (
        "INSERT INTO naive_events (stream_id, stream_version, event_id, type, schema_version,"
        " data, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )

    async def one(task: int, n: int) -> None:
        event = order_event(task, n)
        await cursors[task].execute(
            sql,
            (
                f"naive-{task}",
                n + 1,
                str(event.event_id),
                event.type,
                event.schema_version,
                orjson.dumps(event.data).decode(),
                orjson.dumps(event.metadata).decode(),
            ),
        )

    try:
        return await _closed_loop(tasks, seconds, one, tick)
    finally:
        for conn in connections:
            conn.close()


async def group_commit(url: str, tasks: int, seconds: float, tick: Tick) -> Figures:
    """(b)/(c) Each task appends one event to its own stream, with its expected version."""
    store = MariaDbEventStore.from_url(url)
    run_id = uuid.uuid4().hex[:8]

    async def one(task: int, n: int) -> None:
        await store.append(StreamAppend(f"bench-{run_id}-{task}", [order_event(task, n)], n))

    try:
        return await _closed_loop(tasks, seconds, one, tick)
    finally:
        await store.close()


async def relay(url: str, bootstrap: str, topics: tuple[str, str], tick: Tick) -> Figures:
    """(d) The relay from checkpoint 0 to the end of the store, acknowledged by Kafka."""
    settings = RelaySettings(
        database_url=url,
        kafka_bootstrap=bootstrap,
        events_topic=topics[0],
        orders_topic=topics[1],
        relay_name=f"bench-{uuid.uuid4().hex[:8]}",
    )
    store = MariaDbEventStore.from_url(url)
    end = await store.last_position()
    await store.close()
    relay = Relay(settings)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(relay.run(stop))
    reported = 0
    while relay.checkpoint < end and not task.done():
        await asyncio.sleep(0.02)
        tick(relay.checkpoint - reported)
        reported = relay.checkpoint
    seconds = time.perf_counter() - started
    stop.set()
    await task
    return Figures(end, seconds, 0.0, 0.0)
