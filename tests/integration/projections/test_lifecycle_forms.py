"""Lifecycle entries stored in an earlier form, in a real Redis: the writer goes on with them and
the readers show them as a fresh projection does."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from projections import user_reads
from projections.keys import Control
from projections.reads import ReadModels
from projections.records import (
    SHAPE_BITS,
    decode_order,
    encode_lifecycle,
    encode_order,
    lifecycle_entry,
)
from projections.simulation import Exchange, random_flow
from projections.writer import ProjectionWriter
from tests.integration.projections.conftest import delete_prefix

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def flow() -> Exchange:
    return random_flow(seed=11, orders=400)


def _owner_only(entry: Any, state: dict[str, Any]) -> bytes:
    """``entry`` as a projector before the documents supplied more than the owner stored it:
    ``[position, ~shape number, cause, *every value but the owner's]``."""
    shown = lifecycle_entry(entry, state)
    listed_order = {name: state[name] for name in ("symbol", "order_id", "user_id")}
    return encode_lifecycle(
        shown["position"], shown["type"], shown["data"], shown["causation_id"], listed_order
    )


async def test_a_document_with_entries_of_the_owner_only_form_reads_and_goes_on(
    redis_client: aioredis.Redis, control: Control, flow: Exchange
) -> None:
    seen: dict[str, list[int]] = {}
    for index, event in enumerate(flow.events):
        seen.setdefault(event.stream_id, []).append(index)
    stream, at = next((s, i) for s, i in seen.items() if s[:6] == "order-" and len(i) >= 4)
    order_id, split = int(stream[6:]), at[1] + 1  # (placement and acceptance applied first)
    user_id = flow.events[at[0]].data["user_id"]
    instrument = flow.instruments[flow.events[at[0]].data["symbol"]]
    writer = ProjectionWriter(redis_client, control)
    await writer.claim(0)
    await writer.apply(0, flow.events[:split], 1)
    key = writer.space("orders", 1).order(order_id)
    state = decode_order(await redis_client.get(key) or b"")
    old = [_owner_only(entry, state) for entry in state["lifecycle"]]
    assert all(~orjson.loads(raw)[1] >> SHAPE_BITS == 0 for raw in old)
    await redis_client.set(key, encode_order({**state, "lifecycle": old}))

    resumed = ProjectionWriter(redis_client, control)  # (its cache empty: reads the document)
    await resumed.claim(0)
    await resumed.apply(0, flow.events[split:], 2)

    stored = decode_order(await redis_client.get(key) or b"")
    codes = [~entry[1] >> SHAPE_BITS for entry in stored["lifecycle"]]
    assert codes[:2] == [0, 0] and all(codes[2:]) and len(codes) == len(at)
    fresh = Control(control.prefix + "f")
    try:
        whole = ProjectionWriter(redis_client, fresh)
        await whole.claim(0)
        await whole.apply(0, flow.events, 2)
        shown = []
        for read in (control, fresh):
            models = ReadModels(redis_client, read, 1)
            found = await user_reads.order_state(models, user_id, order_id)
            assert found is not None
            shown.append(await user_reads.order_events(models, instrument, found, 0, 1000))
    finally:
        await delete_prefix(redis_client, fresh.prefix)
    assert shown[0] == shown[1]
    assert [entry["position"] for entry in shown[0]] == [flow.events[i].position for i in at]
