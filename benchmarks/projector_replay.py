"""The live projector on the pipeline's own messages: CPU per order of the projector and Redis.

    EXCHANGE_PORT_OFFSET=<n> .venv/bin/python -m benchmarks.projector_replay --dump F --events N
    EXCHANGE_PORT_OFFSET=<n> .venv/bin/python -m benchmarks.projector_replay --replay F

``--dump`` saves the first ``--events`` messages of the test store exactly as the relay sends
them (the outbox query: stream key and value) - after ``benchmarks.pipeline`` they are its
workload, with the command API's bookkeeping events (client order ids, batches, idempotent
answers) that ``benchmarks/projections.py``'s simulated flow has not. ``--replay`` publishes
them to a fresh topic keyed like the relay, runs ``python -m workers.projector`` on it into a
fresh key prefix until every partition's checkpoint reached its last message, and prints the
projector's CPU after its start-up (from its first checkpoint) and Redis's per order
(placements in the file) and per message, and apart the CPU of the AOF rewrites Redis forked
meanwhile (how many depends on what the AOF held before). A shared machine changes the wall
time much more than these CPU figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psutil
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from benchmarks.projections import PARTITIONS, _drop_prefix, _redis_cpu_s, _spawn
from cli.profiles import PROFILES
from event_store.connection import connect_raw
from event_store.outbox import OFF_EVENTS_TOPIC, fetch_outbox, partition_of
from projections.keys import PROJECTIONS, Control
from projections.writer import Checkpoint
from tests.integration.projections.kafka_feed import delete_topic, new_topic

_HEAD = struct.Struct("<iI")
PLACEMENTS = (b'"type":"OrderPlaced"', b'"type":"OrderPlacedInBatch"')


async def dump(path: Path, events: int) -> int:
    """Save the first ``events`` outbox messages (key, value); how many."""
    conn = await connect_raw(PROFILES["test"].database_url, autocommit=True)
    try:
        async with conn.cursor() as cur:
            after, count = 0, 0
            with path.open("wb") as out:
                while True:
                    rows = await fetch_outbox(cur, after, min(20_000, events - count))
                    if not rows:
                        break
                    for position, key, _symbol, _settle, value in rows:
                        out.write(_HEAD.pack(len(key), len(value)) + key + value)
                        after, count = position, count + 1
    finally:
        conn.close()
    return count


def load(path: Path) -> list[tuple[bytes, bytes]]:
    """The (key, value) messages of a dump."""
    raw, messages, at = path.read_bytes(), [], 0
    while at < len(raw):
        klen, vlen = _HEAD.unpack_from(raw, at)
        at += _HEAD.size
        messages.append((raw[at : at + klen], raw[at + klen : at + klen + vlen]))
        at += klen + vlen
    return messages


def on_events_topic(messages: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The messages the relay publishes on the events topic (keyed by stream id)."""
    return [(key, value) for key, value in messages if not key.startswith(OFF_EVENTS_TOPIC)]


async def publish(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    """Every message on the relay's partition for its key, acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, partition=partition_of(key, PARTITIONS))
            for key, value in messages
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def publish_paced(
    bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]], rate: int
) -> None:
    """Every message as :func:`publish` does, ``rate`` messages a second (in 10 ms steps): the
    projector sees them arrive as a live one does, in small fetches."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    try:
        step, started = max(rate // 100, 1), time.perf_counter()
        for index in range(0, len(messages), step):
            futures = [
                await producer.send(topic, value, key=key, partition=partition_of(key, PARTITIONS))
                for key, value in messages[index : index + step]
            ]
            await asyncio.gather(*futures)
            ahead = started + (index + step) / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
    finally:
        await producer.stop()


async def _commandstats(client: aioredis.Redis) -> dict[str, tuple[int, int]]:
    stats = await client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
        for name, v in stats.items()
    }


async def replay(path: Path, rate: int = 0) -> dict[str, Any]:
    """Run the projector over the dump's messages that the relay puts on the events topic (not
    those of ``OFF_EVENTS_TOPIC``'s streams); its figures. ``rate``: publish them at that many
    messages a second while the projector runs (live-sized batches), not all before it starts."""
    messages = on_events_topic(load(path))
    orders = sum(1 for _, v in messages if any(p in v[:200] for p in PLACEMENTS))
    lasts: dict[int, int] = {}
    for key, value in messages:
        lasts[partition_of(key, PARTITIONS)] = orjson.loads(value)["position"]
    env = PROFILES["test"].service_env()
    bootstrap = env["EXCHANGE_KAFKA_BOOTSTRAP"]
    client = aioredis.from_url(PROFILES["test"].redis_url)
    topic = await new_topic(bootstrap, PARTITIONS)
    control = Control(f"bench{uuid.uuid4().hex[:6]}")
    try:
        if not rate:
            await publish(bootstrap, topic, messages)
        env = {
            **os.environ,
            **env,
            "EXCHANGE_EVENTS_TOPIC": topic,
            "EXCHANGE_PROJECTION_PREFIX": control.prefix,
            "EXCHANGE_PROJECTOR_GROUP": f"bench-{control.prefix}",
            "EXCHANGE_OPS_PORT": "0",
        }
        redis_before, started = await _redis_cpu_s(client), time.perf_counter()
        rewrites_before = await _rewrite_cpu(client)
        stats_before = await _commandstats(client)
        process = _spawn(env)
        try:
            feeding = asyncio.ensure_future(
                publish_paced(bootstrap, topic, messages, rate) if rate else asyncio.sleep(0)
            )
            startup_s = await _wait(client, control, lasts, psutil.Process(process.pid))
            await feeding
            seconds = time.perf_counter() - started
            projector_s = _cpu_s(psutil.Process(process.pid)) - startup_s
        finally:
            process.terminate()
            process.wait(timeout=20)
        redis_s = await _redis_cpu_s(client) - redis_before
        stats = await _commandstats(client)
        rewrites = [a - b for a, b in zip(await _rewrite_cpu(client), rewrites_before, strict=True)]
    finally:
        await delete_topic(bootstrap, topic)
        await _drop_prefix(client, control.prefix)
        await client.aclose()
    return {
        "messages": len(messages),
        "orders": orders,
        "seconds": round(seconds, 2),
        "projector_cpu_s": round(projector_s, 2),
        "projector_startup_cpu_s": round(startup_s, 2),
        "redis_cpu_s": round(redis_s, 2),
        "projector_us_per_order": round(projector_s / orders * 1e6, 1),
        "redis_us_per_order": round(redis_s / orders * 1e6, 1),
        "aof_rewrites": int(rewrites[0]),
        "aof_rewrite_us_per_order": round(rewrites[1] / orders * 1e6, 1),
        "projector_us_per_message": round(projector_s / len(messages) * 1e6, 1),
        "load": [round(x, 2) for x in os.getloadavg()],
        "redis_calls_per_order": {
            name: round((calls - stats_before.get(name, (0, 0))[0]) / orders, 3)
            for name, (calls, _) in sorted(stats.items())
            if calls - stats_before.get(name, (0, 0))[0] > orders // 100
        },
        "redis_usec_per_order": {
            name: round((usec - stats_before.get(name, (0, 0))[1]) / orders, 2)
            for name, (calls, usec) in sorted(stats.items())
            if calls - stats_before.get(name, (0, 0))[0] > orders // 100
        },
    }


async def _rewrite_cpu(client: aioredis.Redis) -> tuple[float, float]:
    """AOF rewrites done so far and the CPU seconds of Redis's children (the rewrites run in
    forked children: on the same cores, not in ``used_cpu_user``)."""
    info = {**await client.info("persistence"), **await client.info("cpu")}
    children = float(info["used_cpu_user_children"]) + float(info["used_cpu_sys_children"])
    return float(info["aof_rewrites"]), children


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def _wait(
    client: aioredis.Redis, control: Control, lasts: dict[int, int], process: psutil.Process
) -> float:
    """Until every projection's checkpoint of every partition reached its last message; the
    projector's CPU seconds when its first checkpoint showed (imports and start-up)."""
    keys = [
        f"{control.space(name, 1)}:ck:{partition}" for name in PROJECTIONS for partition in lasts
    ]
    wanted = [lasts[p] for _ in PROJECTIONS for p in lasts]
    startup = None
    for _ in range(60_000):
        done = [Checkpoint.decode(r).position for r in await client.mget(keys)]
        if startup is None and any(done):
            startup = _cpu_s(process)
        if all(d >= w for d, w in zip(done, wanted, strict=True)):
            return startup or 0.0
        await asyncio.sleep(0.02)
    raise TimeoutError("the projector did not finish")


def main() -> None:
    """Dump or replay."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", type=Path)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--replay", type=Path)
    parser.add_argument(
        "--rate", type=int, default=0, help="publish at this many messages/s while it runs"
    )
    args = parser.parse_args()
    if args.dump:
        print(orjson.dumps({"dumped": asyncio.run(dump(args.dump, args.events))}).decode())
    if args.replay:
        print(orjson.dumps(asyncio.run(replay(args.replay, args.rate))).decode())


if __name__ == "__main__":
    main()
