"""The relay, SIGKILLed mid-backlog several times, still delivers every event, in order per key.

The relay runs as a real process (``python -m workers.relay``) on topics made for this test.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from aiokafka import ConsumerRecord

from cli.stack import ensure_topics
from common.settings import InfraSettings
from event_store import ANY, Checkpoint, MariaDbEventStore, NewEvent, StreamAppend
from event_store.outbox import order_route
from tests.integration.event_store.conftest import ROOT
from tests.integration.event_store.kafka_topics import (
    delete_topics,
    read_to_end,
    unique_topic,
)

pytestmark = pytest.mark.integration

BACKLOG_APPENDS = 30_000  # two events each
KILLS = 4
SYMBOLS = ["ACME", "BOLT", "CRUX", "DYNE", "EPIC"]


async def _fill_backlog(store: MariaDbEventStore, prefix: str) -> None:
    rng = random.Random(7)
    gate = asyncio.Semaphore(256)

    async def one(n: int) -> None:
        stream = f"{prefix}order-{rng.randrange(3000)}"
        symbol = SYMBOLS[hash(stream) % len(SYMBOLS)]
        routed = {"correlation_id": str(n), **(order_route(symbol) if n % 2 else {})}
        events = [NewEvent("OrderEvent", {"n": n, "i": i}, routed) for i in range(2)]
        async with gate:
            await store.append(StreamAppend(stream, events, ANY))

    await asyncio.gather(*(one(n) for n in range(BACKLOG_APPENDS)))


def _relay(env: dict[str, str], log: Path) -> asyncio.Future[asyncio.subprocess.Process]:
    return asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "workers.relay",
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=asyncio.subprocess.STDOUT,
        )
    )


async def _relay_killed_until_done(
    store: MariaDbEventStore, env: dict[str, str], log: Path, relay_name: str, end: int
) -> int:
    """SIGKILL the relay as soon as it makes progress, ``KILLS`` times or until the backlog is
    through; then let one finish the backlog and stop it. Returns the kills mid-backlog."""
    kills_mid_backlog, starts = 0, 0
    processes: list[asyncio.subprocess.Process] = []
    try:
        while kills_mid_backlog < KILLS:
            before = await store.load_checkpoint(relay_name)
            if before >= end:
                break
            process = await _relay(env, log)
            processes.append(process)
            starts += 1
            await _checkpoint_passes(store, relay_name, before, process, timeout_s=60)
            await asyncio.sleep(random.uniform(0.0, 0.1))
            process.send_signal(signal.SIGKILL)
            await process.wait()
            kills_mid_backlog += await store.load_checkpoint(relay_name) < end

        process = await _relay(env, log)
        processes.append(process)
        await _checkpoint_passes(store, relay_name, end - 1, process, timeout_s=120)
        await _started(log, starts + 1)
        process.send_signal(signal.SIGTERM)
        if await process.wait() != 0:
            pytest.fail((await asyncio.to_thread(log.read_text))[-2000:])
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    return kills_mid_backlog


async def _checkpoint_passes(
    store: MariaDbEventStore,
    relay_name: str,
    position: int,
    process: asyncio.subprocess.Process,
    timeout_s: float,
) -> None:
    """Wait until the relay's saved checkpoint is beyond ``position``."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await store.load_checkpoint(relay_name) > position:
                return
            assert process.returncode is None, "the relay exited on its own"
            await asyncio.sleep(0.02)


async def _started(log: Path, times: int) -> None:
    """Wait until the relay has logged its start ``times`` times (its signal handlers are set)."""
    async with asyncio.timeout(30):
        while True:
            if (await asyncio.to_thread(log.read_text)).count('"relay started"') >= times:
                return
            await asyncio.sleep(0.05)


def _first_occurrences_in_order(records: list[ConsumerRecord[bytes, bytes]]) -> None:
    """Per key, the first delivery of each event comes in position order."""
    seen: set[int] = set()
    last_by_key: dict[bytes, int] = {}
    partition_of: dict[bytes, int] = {}
    for record in records:
        assert record.key is not None and record.value is not None
        position = orjson.loads(record.value)["position"]
        assert partition_of.setdefault(record.key, record.partition) == record.partition
        if position in seen:
            continue
        seen.add(position)
        assert position > last_by_key.get(record.key, 0), f"reordered key {record.key!r}"
        last_by_key[record.key] = position


@pytest.fixture
async def topics() -> AsyncIterator[tuple[str, str]]:
    """A fresh events topic (4 partitions) and orders topic (3), deleted afterwards."""
    bootstrap = os.environ["EXCHANGE_KAFKA_BOOTSTRAP"]
    names = (unique_topic("events"), unique_topic("orders"))
    await ensure_topics(
        bootstrap,
        InfraSettings(
            events_topic=names[0], events_partitions=4, orders_topic=names[1], orders_partitions=3
        ),
    )
    yield names
    await delete_topics(bootstrap, list(names))


async def test_a_relay_killed_mid_backlog_delivers_every_event_in_order_per_key(
    event_store_url: str, stream_prefix: str, tmp_path: Path, topics: tuple[str, str]
) -> None:
    bootstrap = os.environ["EXCHANGE_KAFKA_BOOTSTRAP"]
    events_topic, orders_topic = topics
    relay_name = f"relay-{uuid.uuid4().hex[:8]}"
    store = MariaDbEventStore.from_url(event_store_url)
    try:
        start = await store.last_position()
        await store.save_checkpoint(Checkpoint(relay_name, start))
        await _fill_backlog(store, stream_prefix)
        end = await store.last_position()
        stored = await _stored(store, start, end)
        env = {
            **os.environ,
            "EXCHANGE_DATABASE_URL": event_store_url,
            "EXCHANGE_KAFKA_BOOTSTRAP": bootstrap,
            "EXCHANGE_EVENTS_TOPIC": events_topic,
            "EXCHANGE_ORDERS_TOPIC": orders_topic,
            "EXCHANGE_RELAY_NAME": relay_name,
            # Small reads: many checkpoints to be killed between, and a backlog that outlasts
            # the kills (at 200 rows a read a relay once finished it in three lifetimes).
            "EXCHANGE_RELAY_BATCH_SIZE": "50",
        }
        log = tmp_path / "relay.log"

        kills_mid_backlog = await _relay_killed_until_done(store, env, log, relay_name, end)
    finally:
        await store.close()

    assert kills_mid_backlog >= KILLS - 1, "the relay finished the backlog before the kills"
    delivered = await read_to_end(bootstrap, events_topic)
    values = [orjson.loads(r.value or b"") for r in delivered]
    assert {(v["stream_id"], v["stream_version"]) for v in values} == set(stored)
    assert all(r.key == v["stream_id"].encode() for r, v in zip(delivered, values, strict=True))
    _first_occurrences_in_order(delivered)

    routed = await read_to_end(bootstrap, orders_topic)
    expected_routed = {p for p, symbol in stored.values() if symbol is not None}
    assert {orjson.loads(r.value or b"")["position"] for r in routed} == expected_routed
    assert all(r.key == stored_symbol(r, stored) for r in routed)
    _first_occurrences_in_order(routed)


async def _stored(
    store: MariaDbEventStore, start: int, end: int
) -> dict[tuple[str, int], tuple[int, str | None]]:
    """(stream, version) → (position, order symbol) of the store's events in (start, end]."""
    stored: dict[tuple[str, int], tuple[int, str | None]] = {}
    after = start
    while after < end:
        batch = await store.read_all(after, 5000)
        for e in batch:
            stored[(e.stream_id, e.stream_version)] = (e.position, e.metadata.get("order_symbol"))
        after = batch[-1].position
    return stored


def stored_symbol(
    record: ConsumerRecord[bytes, bytes], stored: dict[tuple[str, int], tuple[int, str | None]]
) -> bytes:
    value = orjson.loads(record.value or b"")
    symbol = stored[(value["stream_id"], value["stream_version"])][1]
    return (symbol or "").encode()
