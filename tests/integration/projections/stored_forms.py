"""One order's history split in two around a document rewritten in an older stored form: the
writer goes on from that document, and its readers must show what a fresh projection shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from domain.instrument import Instrument
from projections import user_reads
from projections.keys import Control
from projections.reads import ReadModels
from projections.simulation import Exchange
from projections.writer import ProjectionWriter
from tests.integration.projections.conftest import delete_prefix


@dataclass(frozen=True)
class OrderHistory:
    """An order of ``flow`` with at least four events: ``at`` their indexes, ``split`` the
    index after its placement and acceptance."""

    order_id: int
    user_id: int
    instrument: Instrument
    at: list[int]
    split: int


def order_with_history(flow: Exchange) -> OrderHistory:
    seen: dict[str, list[int]] = {}
    for index, event in enumerate(flow.events):
        seen.setdefault(event.stream_id, []).append(index)
    stream, at = next((s, i) for s, i in seen.items() if s[:6] == "order-" and len(i) >= 4)
    placed = flow.events[at[0]].data
    return OrderHistory(
        int(stream[6:]), placed["user_id"], flow.instruments[placed["symbol"]], at, at[1] + 1
    )


async def resumed_and_fresh(
    redis_client: aioredis.Redis, control: Control, flow: Exchange, order: OrderHistory
) -> list[list[dict[str, Any]]]:
    """A new writer applies the rest of ``flow`` on ``control``'s documents as stored, a
    fresh projection the whole of it: the order's lifecycle as each one shows it."""
    resumed = ProjectionWriter(redis_client, control)  # (its cache empty: reads the document)
    await resumed.claim(0)
    await resumed.apply(0, flow.events[order.split :], 2)
    fresh = Control(control.prefix + "f")
    try:
        whole = ProjectionWriter(redis_client, fresh)
        await whole.claim(0)
        await whole.apply(0, flow.events, 2)
        shown = []
        for read in (control, fresh):
            models = ReadModels(redis_client, read, 1)
            found = await user_reads.order_state(models, order.user_id, order.order_id)
            assert found is not None
            shown.append(await user_reads.order_events(models, order.instrument, found, 0, 1000))
    finally:
        await delete_prefix(redis_client, fresh.prefix)
    return shown
