"""The projector process under SIGKILL: whatever batch it dies in, the read models end equal to
a projection of the same events applied once (nothing lost, nothing doubled)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid

import pytest
import redis.asyncio as aioredis

from cli.profiles import ROOT
from event_store.outbox import partition_of
from projections.keys import Control
from projections.simulation import random_flow
from projections.writer import Checkpoint, ProjectionWriter
from tests.integration.projections.conftest import delete_prefix, dump
from tests.integration.projections.kafka_feed import delete_topic, new_topic, publish

pytestmark = pytest.mark.integration

PARTITIONS = 4
SKIP = (":ck:", ":mdseq:", ":epoch:", ":pos:")


def _start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "workers.projector"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _reached(client: aioredis.Redis, control: Control, lasts: dict[int, int]) -> list[int]:
    keys = [f"{control.space('accounts', 1)}:ck:{p}" for p in lasts]
    return [Checkpoint.decode(raw).position for raw in await client.mget(keys)]


async def _done(client: aioredis.Redis, control: Control, lasts: dict[int, int]) -> bool:
    reached = await _reached(client, control, lasts)
    return all(position >= lasts[p] for p, position in zip(lasts, reached, strict=True))


async def _until_applying(client: aioredis.Redis, control: Control, lasts: dict[int, int]) -> None:
    """Wait until a fresh projector process applies a batch (its start takes a while on a
    loaded machine: a kill before that would test nothing)."""
    before = await _reached(client, control, lasts)
    for _ in range(1800):
        if await _reached(client, control, lasts) != before or await _done(client, control, lasts):
            return
        await asyncio.sleep(0.1)


async def test_killed_mid_batch_several_times_the_projection_equals_one_clean_pass(
    redis_client: aioredis.Redis,
) -> None:
    bootstrap = os.environ["EXCHANGE_KAFKA_BOOTSTRAP"]
    events = random_flow(seed=21, orders=8000).events
    topic = await new_topic(bootstrap, PARTITIONS)
    control, clean = Control(f"tk{uuid.uuid4().hex[:8]}"), Control(f"tc{uuid.uuid4().hex[:8]}")
    lasts = {partition_of(e.stream_id.encode(), PARTITIONS): e.position for e in events}
    env = {
        **os.environ,
        "EXCHANGE_EVENTS_TOPIC": topic,
        "EXCHANGE_PROJECTION_PREFIX": control.prefix,
        "EXCHANGE_PROJECTOR_GROUP": f"test-projector-{uuid.uuid4().hex[:8]}",
        "EXCHANGE_BATCH_MAX": "700",
        "EXCHANGE_OPS_PORT": "0",
    }
    rng = random.Random(5)
    try:
        await publish(bootstrap, topic, PARTITIONS, events)
        kills = 0
        for _ in range(4):
            process = _start(env)
            await _until_applying(redis_client, control, lasts)
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += not await _done(redis_client, control, lasts)
        process = _start(env)
        try:
            for _ in range(3000):
                if await _done(redis_client, control, lasts):
                    break
                await asyncio.sleep(0.1)
        finally:
            process.terminate()
            process.wait(timeout=20)
        writer = ProjectionWriter(redis_client, clean)
        await writer.claim(0)
        await writer.apply(0, events, 1)

        killed = await dump(redis_client, control.prefix, SKIP)
        expected = await dump(redis_client, clean.prefix, SKIP)
    finally:
        await delete_topic(bootstrap, topic)
        await delete_prefix(redis_client, control.prefix)
        await delete_prefix(redis_client, clean.prefix)

    assert kills >= 1, "every kill came after the end: nothing was tested"
    assert killed == expected
