"""Projection benchmark: rebuild from the store, the two ways of writing a batch, and the live
projector from Kafka (test stack's MariaDB, Kafka and Redis).

    .venv/bin/python -m benchmarks.projections                  # 1,000,000 events
    .venv/bin/python -m benchmarks.projections --events 200000 --live-events 100000

The standard workload: ``projections.simulation.random_flow(seed=1)`` - 12 funded traders on
two symbols placing limit (GTC/DAY/IOC) and market orders, cancels and amends, matched by the
domain's engine and settled by the domain's accounts: the events the real pipeline stores
(~6 per order: placement, hold, acceptance, fills, settlements, fees, releases). It is stored
once in ``<test database>_projbench`` and reused.

Phases: (1) ``rebuild``: the store replayed page by page (the next page read while one is
applied) into a fresh key prefix with ``exchange rebuild``'s reader, no swap; (2) ``fold + Lua``
vs ``fold + MULTI/EXEC`` on the same events in memory: the batch folded into net changes, then sent
as one script call, or as a MULTI/EXEC of plain commands (plus one small script per book level,
trade list and candle, which plain commands cannot merge); (3) ``live``: the events published
to a fresh topic keyed like the relay, consumed by ``python -m workers.projector``, timed from
its first checkpoint to its last. The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import orjson
import redis.asyncio as aioredis
from rich.console import Console
from sqlalchemy.engine import make_url

from cli.profiles import PROFILES, ROOT
from cli.rebuild import StoreReader, pages
from cli.stack import migrate
from event_store.connection import connect_raw
from event_store.mariadb import MariaDbEventStore
from event_store.model import RecordedEvent
from event_store.outbox import partition_of
from event_store.sql import INSERT_EVENTS
from projections.changes import Arg, commands
from projections.keys import PROJECTIONS, Control
from projections.rebuild import Rebuild
from projections.simulation import SimEvent, random_flow
from projections.writer import ProjectionWriter, tune_gc
from tests.integration.projections.kafka_feed import delete_topic, new_topic, publish

console = Console(stderr=True)
PARTITIONS = 4
PAGE = 10_000


def _load() -> str:
    return os.getloadavg().__repr__()


async def _store_url(events: int) -> str:
    """The bench database, filled with ``events`` events of the standard workload."""
    url = make_url(PROFILES["test"].database_url)
    url = url.set(database=f"{url.database}_projbench")
    text = url.render_as_string(hide_password=False)
    store = MariaDbEventStore.from_url(text)
    try:
        if await store.last_position() >= events:
            return text
    except Exception:  # noqa: BLE001 - absent or half-made database: build it below
        pass
    finally:
        await store.close()
    conn = await connect_raw(url.set(database=""), autocommit=True)
    async with conn.cursor() as cur:
        await cur.execute(f"DROP DATABASE IF EXISTS `{url.database}`")
        await cur.execute(f"CREATE DATABASE `{url.database}` COLLATE utf8mb4_bin")
    conn.close()
    await asyncio.to_thread(migrate, text)
    with console.status(f"simulating {events:,} events of the standard workload"):
        flow = random_flow(seed=1, orders=events // 6 + 1000).events[:events]
    await _insert(text, flow)
    return text


async def _insert(url: str, flow: list[SimEvent]) -> None:
    conn = await connect_raw(make_url(url), autocommit=False)
    meta = orjson.dumps({"correlation_id": "bench", "actor": "bench"}).decode()
    with console.status(f"storing {len(flow):,} events"):
        async with conn.cursor() as cur:
            for start in range(0, len(flow), 5000):
                rows = [
                    (e.position, e.stream_id, e.stream_version, str(uuid.UUID(int=e.position)),
                     e.type, 1, orjson.dumps(e.data).decode(), meta)
                    for e in flow[start : start + 5000]
                ]  # fmt: skip
                await cur.executemany(INSERT_EVENTS, rows)
            await cur.execute("UPDATE event_sequence SET last_position = %s", (len(flow),))
        await conn.commit()
    conn.close()


async def _redis_cpu_s(client: aioredis.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _rebuild(
    url: str, client: aioredis.Redis, events: int
) -> tuple[float, list[Any], dict[str, float]]:
    """Replay the store into a fresh prefix; (events/s, the first 200k events read, CPU µs per
    event of this process - reading the store, folding, encoding - and of Redis)."""
    control = Control(f"bench{uuid.uuid4().hex[:6]}")
    job = Rebuild(
        client, control, PROJECTIONS, PARTITIONS, lambda s: partition_of(s.encode(), PARTITIONS)
    )
    reader = StoreReader(url)
    kept: list[Any] = []
    tune_gc()  # (as ``exchange rebuild`` does)
    try:
        await job.start()
        redis_cpu = await _redis_cpu_s(client)
        started, cpu = time.perf_counter(), time.process_time()
        async for page in pages(reader, 0):
            await job.apply(page)
            if len(kept) < 200_000:
                kept += page
            if job.position >= events:
                break
        seconds = time.perf_counter() - started
        done = max(job.position, 1)
        costs = {
            "rebuild_python_cpu_us": round((time.process_time() - cpu) / done * 1e6, 1),
            "rebuild_redis_cpu_us": round((await _redis_cpu_s(client) - redis_cpu) / done * 1e6, 1),
        }
    finally:
        reader.close()
        await _drop_prefix(client, control.prefix)
    return job.position / seconds, kept, costs


class MultiExecWriter(ProjectionWriter):
    """The same folded changes sent as MULTI/EXEC (no fencing: a comparison, not a mode)."""

    L2 = """local q = redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
if q <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]); redis.call('ZREM', KEYS[1], ARGV[1])
else redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1]) end"""
    TRADES = """redis.call('ZADD', KEYS[1], unpack(ARGV, 2))
local n = redis.call('ZCARD', KEYS[1]) local cap = tonumber(ARGV[1])
if n > cap then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - cap - 1) end"""
    CANDLE = """local key, N = ARGV[1] .. ARGV[2], tonumber
local cur = redis.call('HMGET', key, 'oi', 'ci', 'h', 'l')
if not cur[1] then
  redis.call('HSET', key, 'oi', ARGV[3], 'o', ARGV[4], 'ci', ARGV[5], 'c', ARGV[6],
    'h', ARGV[7], 'l', ARGV[8], 'v', ARGV[9], 'n', ARGV[10])
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[2]) return end
if N(ARGV[3]) < N(cur[1]) then redis.call('HSET', key, 'oi', ARGV[3], 'o', ARGV[4]) end
if N(ARGV[5]) > N(cur[2]) then redis.call('HSET', key, 'ci', ARGV[5], 'c', ARGV[6]) end
if N(ARGV[7]) > N(cur[3]) then redis.call('HSET', key, 'h', ARGV[7]) end
if N(ARGV[8]) < N(cur[4]) then redis.call('HSET', key, 'l', ARGV[8]) end
redis.call('HINCRBY', key, 'v', ARGV[9]) redis.call('HINCRBY', key, 'n', ARGV[10])"""

    def __init__(self, client: aioredis.Redis, control: Control) -> None:
        super().__init__(client, control, live=False)
        self._client = client
        self._shas: dict[str, str] = {}

    async def _send(self, body: list[Arg]) -> None:
        if not self._shas:
            for name in ("L2", "TRADES", "CANDLE"):
                self._shas[name] = await self._client.script_load(getattr(self, name))
        pipe = self._client.pipeline(transaction=True)
        checkpoints, ops = _split(body)
        for op in ops:
            command = op[0]
            if command == "L2":
                pipe.evalsha(self._shas["L2"], 2, op[1], op[2], op[5], op[6])
            elif command == "TRADES":
                pipe.evalsha(self._shas["TRADES"], 1, op[1], op[3], *op[4:])
            elif command == "CANDLE":
                pipe.evalsha(self._shas["CANDLE"], 1, op[1], op[2], *op[3:])
            else:
                pipe.execute_command(*op)
        for key, _, value in checkpoints:
            pipe.set(key, value)
        await pipe.execute()


def _split(body: list[Arg]) -> tuple[list[list[Arg]], list[list[Arg]]]:
    """The checkpoints (key, expected, new) and the commands of an apply script's arguments."""
    index = 8 + 2 * int(body[7])
    count = int(body[index])
    flat = body[index + 1 : index + 1 + 3 * count]
    checkpoints = [flat[i : i + 3] for i in range(0, len(flat), 3)]
    return checkpoints, commands(body[index + 1 + 3 * count :])


async def _writer_rate(writer: ProjectionWriter, events: list[Any]) -> float:
    await writer.claim(0)
    started = time.perf_counter()
    for start in range(0, len(events), 5000):
        await writer.apply(0, events[start : start + 5000], None)
    return len(events) / (time.perf_counter() - started)


async def _compare_modes(client: aioredis.Redis, events: list[Any]) -> dict[str, float]:
    """fold + one Lua script vs fold + MULTI/EXEC, alternated twice on the same events."""
    rates: dict[str, list[float]] = {"fold_lua_events_per_s": [], "fold_multi_events_per_s": []}
    for _ in range(2):
        for name in rates:
            control = Control(f"bench{uuid.uuid4().hex[:6]}")
            writer = (
                ProjectionWriter(client, control, live=False)
                if name == "fold_lua_events_per_s"
                else MultiExecWriter(client, control)
            )
            rates[name].append(await _writer_rate(writer, events))
            await _drop_prefix(client, control.prefix)
    return {name: round(max(values)) for name, values in rates.items()}


async def _drop_prefix(client: aioredis.Redis, prefix: str) -> None:
    batch = []
    async for key in client.scan_iter(match=f"{prefix}:*", count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            await client.unlink(*batch)
            batch = []
    if batch:
        await client.unlink(*batch)


async def _live(client: aioredis.Redis, events: list[RecordedEvent]) -> float:
    """Publish ``events`` to a fresh topic; the projector's events/s from first to last batch."""
    env = PROFILES["test"].service_env()
    bootstrap = env["EXCHANGE_KAFKA_BOOTSTRAP"]
    topic = await new_topic(bootstrap, PARTITIONS)
    control = Control(f"bench{uuid.uuid4().hex[:6]}")
    lasts = {partition_of(e.stream_id.encode(), PARTITIONS): e.position for e in events}
    keys = [f"{control.space('accounts', 1)}:ck:{p}" for p in lasts]
    try:
        with console.status(f"publishing {len(events):,} events"):
            await publish(bootstrap, topic, PARTITIONS, events)
        process = _spawn(
            {
                **os.environ,
                **env,
                "EXCHANGE_EVENTS_TOPIC": topic,
                "EXCHANGE_PROJECTION_PREFIX": control.prefix,
                "EXCHANGE_PROJECTOR_GROUP": f"bench-{control.prefix}",
                "EXCHANGE_OPS_PORT": "0",
            }
        )
        try:
            first, applied = await _watch(client, keys, lasts)
        finally:
            process.terminate()
            process.wait(timeout=20)
        return applied / (time.perf_counter() - first) if first else 0.0
    finally:
        await delete_topic(bootstrap, topic)
        await _drop_prefix(client, control.prefix)


def _spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python -m workers.projector`` with ``env``."""
    return subprocess.Popen(
        [sys.executable, "-m", "workers.projector"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _checkpointed(raw: bytes | str | None) -> int:
    """The position in a projector checkpoint value (``<position>:...``), 0 if none yet."""
    if not raw:
        return 0
    text = raw.decode() if isinstance(raw, bytes) else raw
    return int(text.split(":")[0])


async def _watch(
    client: aioredis.Redis, keys: list[str], lasts: dict[int, int]
) -> tuple[float, int]:
    """Wait for the first checkpoint, then for the last; (time of the first, events since)."""
    first, at_first = 0.0, 0
    total = sum(1 for _ in lasts)
    for _ in range(12_000):
        raw = await client.mget(keys)
        done = [_checkpointed(r) for r in raw]
        if any(done) and not first:
            first, at_first = time.perf_counter(), min(done)
        if all(d >= lasts[p] for d, p in zip(done, lasts, strict=True)) and total:
            return first, max(lasts.values()) - at_first
        await asyncio.sleep(0.02)
    raise TimeoutError("the projector did not finish")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--live-events", type=int, default=300_000)
    args = parser.parse_args()
    url = await _store_url(args.events)
    client = aioredis.from_url(PROFILES["test"].redis_url)
    figures: dict[str, Any] = {"events": args.events, "load_before": _load()}
    try:
        with console.status("rebuilding from the store"):
            rebuild_rate, sample, costs = await _rebuild(url, client, args.events)
        figures["rebuild_events_per_s"] = round(rebuild_rate)
        figures |= costs
        console.print(f"rebuild: {rebuild_rate:,.0f} events/s")
        with console.status("fold + Lua vs fold + MULTI/EXEC"):
            figures |= await _compare_modes(client, sample)
        console.print(f"writers: {figures}")
        live_events = (await _read(url, args.live_events)) if args.live_events else []
        figures["live_events"] = len(live_events)
        figures["live_events_per_s"] = round(await _live(client, live_events)) if live_events else 0
        console.print(f"live: {figures['live_events_per_s']:,} events/s")
    finally:
        await client.aclose()
    figures["load_after"] = _load()
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")


async def _read(url: str, count: int) -> list[RecordedEvent]:
    store = MariaDbEventStore.from_url(url)
    events: list[RecordedEvent] = []
    try:
        while len(events) < count:
            page = await store.read_all(events[-1].position if events else 0, PAGE)
            if not page:
                break
            events += page
    finally:
        await store.close()
    return events[:count]


if __name__ == "__main__":
    asyncio.run(main())
