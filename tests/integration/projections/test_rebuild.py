"""Blue/green rebuilds against the real Redis: swap while the live projector keeps applying."""

from __future__ import annotations

import re

import orjson
import pytest
import redis.asyncio as aioredis

from event_store.outbox import partition_of
from projections.keys import PROJECTIONS, Control
from projections.rebuild import Rebuild
from projections.records import decode_order
from projections.simulation import SimEvent, random_flow
from projections.writer import Fenced, ProjectionWriter
from tests.integration.projections.conftest import delete_prefix, dump

pytestmark = pytest.mark.integration

PARTITIONS = 4
SKIP = (":ck:", ":mdseq:", ":epoch:", ":pos:", ":gen:", ":rebuild:")


def _without_gen(found: dict[str, object]) -> dict[str, object]:
    return {re.sub(r"^([a-z]+)\d+:", r"\1:", key): value for key, value in found.items()}


def _part(stream: str) -> int:
    return partition_of(stream.encode(), PARTITIONS)


async def _live_apply(writer: ProjectionWriter, events: list[SimEvent], offset: int) -> None:
    """Apply per partition; a fenced partition is claimed again (as the consumer loop does)
    and continues from its checkpoint."""
    for partition in range(PARTITIONS):
        mine = [e for e in events if _part(e.stream_id) == partition]
        if not mine:
            continue
        try:
            await writer.apply(partition, mine, offset)
        except Fenced:
            resume = await writer.claim(partition)
            await writer.apply(partition, [e for e in mine if e.position > resume.position], offset)


async def test_a_swapped_rebuild_continues_live_and_equals_a_fresh_projection(
    redis_client: aioredis.Redis, control: Control
) -> None:
    events = random_flow(seed=3, orders=800).events
    first, middle = len(events) // 3, 2 * len(events) // 3
    live = ProjectionWriter(redis_client, control)
    for partition in range(PARTITIONS):
        await live.claim(partition)
    await _live_apply(live, events[:first], 1)

    job = Rebuild(redis_client, control, PROJECTIONS, PARTITIONS, _part)
    await job.start()
    await job.apply(events[:middle])  # the rebuild gets ahead of live...
    await _live_apply(live, events[first:middle], 2)  # ...live catches up meanwhile
    assert await job.swap()
    await _live_apply(live, events[middle:], 3)  # fenced once, then writes the new generation

    fresh = Control(control.prefix + "f")
    try:
        writer = ProjectionWriter(redis_client, fresh)
        await writer.claim(0)
        await writer.apply(0, events, 3)
        expected = await dump(redis_client, fresh.prefix + ":", SKIP)
    finally:
        await delete_prefix(redis_client, fresh.prefix)
    rebuilt = await dump(redis_client, control.prefix + ":", SKIP)
    assert {
        k.replace("2:", "1:", 1): v for k, v in rebuilt.items() if "1:" not in k[:12]
    } == expected


async def test_verify_finds_a_tampered_key(redis_client: aioredis.Redis, control: Control) -> None:
    events = random_flow(seed=4, orders=200).events
    live = ProjectionWriter(redis_client, control)
    await live.claim(0)
    for partition in range(1, PARTITIONS):
        await live.claim(partition)
    await _live_apply(live, events, 1)
    job = Rebuild(redis_client, control, PROJECTIONS, PARTITIONS, _part)
    await job.start()
    await job.apply(events)
    assert await job.live_state() == "same"
    assert await job.compare() == []

    some_order = next(e for e in events if e.type == "OrderPlaced").data["order_id"]
    await redis_client.set(f"{control.space('orders', 1)}:o:{some_order}", b"{}")

    # (its lifecycle entries, in the document, are gone with it: they differ too)
    differences = await job.compare()
    assert [d.key for d in differences] == [f"orders::o:{some_order}", f"orders::oe:{some_order}"]
    shown, rebuilt = differences[0].live, differences[0].rebuilt
    assert isinstance(shown, dict) and isinstance(rebuilt, dict)
    assert (shown["order_id"], rebuilt["order_id"]) == (None, some_order)


async def test_verify_reads_an_order_stored_in_the_object_form_as_its_compact_rebuild(
    redis_client: aioredis.Redis, control: Control
) -> None:
    events = random_flow(seed=5, orders=50).events
    live = ProjectionWriter(redis_client, control)
    for partition in range(PARTITIONS):
        await live.claim(partition)
    await _live_apply(live, events, 1)
    job = Rebuild(redis_client, control, PROJECTIONS, PARTITIONS, _part)
    await job.start()
    await job.apply(events)
    some_order = next(e for e in events if e.type == "OrderPlaced").data["order_id"]
    key = f"{control.space('orders', 1)}:o:{some_order}"
    stored = await redis_client.get(key)
    assert stored is not None
    state = decode_order(stored)
    lifecycle = [orjson.dumps(entry) for entry in state.pop("lifecycle")]

    # (as a projector before records.py: the object form, its lifecycle in a list beside it)
    await redis_client.set(key, orjson.dumps(state))
    await redis_client.rpush(f"{control.space('orders', 1)}:oe:{some_order}", *lifecycle)

    assert await job.compare() == []
