"""Lifecycle entries stored in an earlier form, in a real Redis: the writer goes on with them and
the readers show them as a fresh projection does."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from projections.keys import Control
from projections.records import (
    SHAPE_BITS,
    decode_order,
    encode_lifecycle,
    encode_order,
    lifecycle_entry,
)
from projections.simulation import Exchange, random_flow
from projections.writer import ProjectionWriter
from tests.integration.projections.stored_forms import order_with_history, resumed_and_fresh

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
    order = order_with_history(flow)
    order_id, split, at = order.order_id, order.split, order.at
    writer = ProjectionWriter(redis_client, control)
    await writer.claim(0)
    await writer.apply(0, flow.events[:split], 1)
    key = writer.space("orders", 1).order(order_id)
    state = decode_order(await redis_client.get(key) or b"")
    old = [_owner_only(entry, state) for entry in state["lifecycle"]]
    assert all(~orjson.loads(raw)[1] >> SHAPE_BITS == 0 for raw in old)
    await redis_client.set(key, encode_order({**state, "lifecycle": old}))

    shown = await resumed_and_fresh(redis_client, control, flow, order)

    stored = decode_order(await redis_client.get(key) or b"")
    codes = [~entry[1] >> SHAPE_BITS for entry in stored["lifecycle"]]
    assert codes[:2] == [0, 0] and all(codes[2:]) and len(codes) == len(at)
    assert shown[0] == shown[1]
    assert [entry["position"] for entry in shown[0]] == [flow.events[i].position for i in at]
