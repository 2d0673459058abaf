"""``exchange rebuild --verify``'s comparison: both generations read key by key and compared.

    .venv/bin/python -m benchmarks.rebuild_compare --orders 50000

A seeded flow (``projections.simulation.random_flow(seed=1)``) is applied by the live writer
into a fresh key prefix (generation 1) and replayed by a :class:`Rebuild` into generation 2;
then ``Rebuild.compare()`` is timed (the generations are equal: it reads every key of both).
The test stack's Redis; the prefix is deleted afterwards. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import orjson
import redis.asyncio as aioredis

from cli.profiles import PROFILES
from event_store.outbox import partition_of
from projections.keys import PROJECTIONS, Control
from projections.rebuild import Rebuild
from projections.simulation import SimEvent, random_flow
from projections.writer import ProjectionWriter

PARTITIONS = 4


def _partition(stream: str) -> int:
    return partition_of(stream.encode(), PARTITIONS)


async def _measure(orders: int) -> dict[str, float]:
    client = aioredis.from_url(os.environ["EXCHANGE_REDIS_URL"])
    control = Control(f"bench{uuid.uuid4().hex[:8]}")
    try:
        events = random_flow(seed=1, orders=orders).events
        live = ProjectionWriter(client, control)
        by_partition: dict[int, list[SimEvent]] = {p: [] for p in range(PARTITIONS)}
        for event in events:
            by_partition[_partition(event.stream_id)].append(event)
        for partition, mine in by_partition.items():
            await live.claim(partition)
            await live.apply(partition, mine, len(mine))
        job = Rebuild(client, control, PROJECTIONS, PARTITIONS, _partition)
        await job.start()
        await job.apply(events)
        keys = await client.dbsize()
        cpu, wall = time.process_time(), time.perf_counter()
        differences = await job.compare()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assert differences == [], differences
        compared = sum([1 async for _ in client.scan_iter(match=f"{control.prefix}:*")])
        return {"events": len(events), "keys": compared, "redis_keys": keys,
                "compare_s": round(wall, 3), "compare_cpu_s": round(cpu, 3),
                "cpu_us_per_key": round(cpu / compared * 1e6, 1)}  # fmt: skip
    finally:
        batch = [k async for k in client.scan_iter(match=f"{control.prefix}:*", count=2000)]
        for start in range(0, len(batch), 2000):
            await client.unlink(*batch[start : start + 2000])
        await client.aclose()


def main() -> None:
    """Print the figures of one comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000)
    args = parser.parse_args()
    for key, value in PROFILES["test"].service_env().items():
        os.environ.setdefault(key, value)
    print(orjson.dumps(asyncio.run(_measure(args.orders))).decode())


if __name__ == "__main__":
    main()
