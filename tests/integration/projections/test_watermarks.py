"""The projector's watermark rounds on the real Redis: a partition the consumer loop saw behind
its high water is not raised, and a round with only such partitions reads nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from projections import writer as writer_module
from projections.keys import Control
from projections.simulation import Exchange, random_flow
from projections.writer import RAISED_TRUSTED_S, ProjectionWriter
from workers.consumer import ConsumerMetrics
from workers.projector.worker import BEHIND_TRUSTED_S, raise_watermarks

pytestmark = pytest.mark.integration

TOPIC = "events"
RELAYED = 10**9


class _Relay:
    """The relay's checkpoint, and how often a round read it."""

    def __init__(self, position: int) -> None:
        self.position = position
        self.reads = 0

    async def load_checkpoint(self, _consumer: str) -> int:
        self.reads += 1
        return self.position


class _Ends:
    """Kafka's end offsets: each partition's is where the writer's checkpoint stands."""

    def __init__(self, writer: ProjectionWriter) -> None:
        self.writer = writer
        self.requests = 0

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        self.requests += 1
        found: dict[TopicPartition, int] = {}
        for tp in tps:
            checkpoint = self.writer.checkpoint(tp.partition)
            found[tp] = checkpoint.offset or 0 if checkpoint is not None else 0
        return found


@pytest.fixture(scope="module")
def flow() -> Exchange:
    return random_flow(seed=5, orders=100)


async def _round(
    writer: ProjectionWriter, behind: dict[int, float], relayed: int = RELAYED
) -> tuple[_Relay, _Ends]:
    relay, ends = _Relay(relayed), _Ends(writer)
    kafka: Any = ends
    store: Any = relay
    await raise_watermarks(writer, store, kafka, TOPIC, "relay", behind)
    return relay, ends


async def test_a_partition_seen_behind_is_raised_only_once_at_its_end_or_stale(
    redis_client: aioredis.Redis, control: Control, flow: Exchange
) -> None:
    writer = ProjectionWriter(redis_client, control)
    for partition in (0, 1):
        await writer.claim(partition)
        await writer.apply(partition, flow.events[:20], 20)
    metrics = ConsumerMetrics(CollectorRegistry(), "projector")
    metrics.lag(0, 5)
    metrics.lag(1, 3)

    relay, ends = await _round(writer, metrics.behind)
    assert (relay.reads, ends.requests) == (0, 0)
    assert await redis_client.get(control.pos(0)) != str(RELAYED).encode()

    metrics.lag(1, 0)  # partition 1 caught up: raised; 0 still behind
    relay, ends = await _round(writer, metrics.behind)
    assert (relay.reads, ends.requests) == (1, 1)
    assert await redis_client.get(control.pos(1)) == str(RELAYED).encode()
    assert await redis_client.get(control.pos(0)) != str(RELAYED).encode()

    metrics.behind[0] = time.monotonic() - BEHIND_TRUSTED_S - 1  # no batch since: not trusted
    await _round(writer, metrics.behind)
    assert await redis_client.get(control.pos(0)) == str(RELAYED).encode()


async def _script_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_a_partition_already_raised_to_the_relays_position_is_not_raised_again(
    redis_client: aioredis.Redis, control: Control, flow: Exchange
) -> None:
    writer = ProjectionWriter(redis_client, control)
    await writer.claim(0)
    await writer.apply(0, flow.events[:20], 20)
    await _round(writer, {})
    assert await redis_client.get(control.pos(0)) == str(RELAYED).encode()

    before = await _script_calls(redis_client)
    relay, ends = await _round(writer, {})  # the relay's checkpoint has not moved since

    assert (relay.reads, ends.requests) == (1, 0)
    assert await _script_calls(redis_client) == before
    assert await redis_client.get(control.pos(0)) == str(RELAYED).encode()

    relay, ends = await _round(writer, {}, RELAYED + 5)  # the relay moved: raised again
    assert (relay.reads, ends.requests) == (1, 1)
    assert await redis_client.get(control.pos(0)) == str(RELAYED + 5).encode()


async def test_a_reclaimed_partition_is_raised_again(
    redis_client: aioredis.Redis, control: Control, flow: Exchange
) -> None:
    writer = ProjectionWriter(redis_client, control)
    await writer.claim(0)
    await writer.apply(0, flow.events[:20], 20)
    await _round(writer, {})
    await redis_client.delete(control.pos(0))  # (lost, as a Redis restart without its AOF may)

    await writer.claim(0)
    await _round(writer, {})

    assert await redis_client.get(control.pos(0)) == str(RELAYED).encode()


async def test_a_raise_is_repeated_once_it_is_no_longer_trusted(
    redis_client: aioredis.Redis, control: Control, flow: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = ProjectionWriter(redis_client, control)
    await writer.claim(0)
    await writer.apply(0, flow.events[:20], 20)
    await _round(writer, {})
    await redis_client.delete(control.pos(0))  # (lost, as a Redis restart without its AOF may)
    later = time.monotonic() + RAISED_TRUSTED_S + 1
    monkeypatch.setattr(writer_module, "monotonic", lambda: later)

    await _round(writer, {})

    assert await redis_client.get(control.pos(0)) == str(RELAYED).encode()
