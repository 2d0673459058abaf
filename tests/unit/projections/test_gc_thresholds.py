"""The projector's collector thresholds against a live-sized fetch (``writer.tune_gc``)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from aiokafka.structs import ConsumerRecord

from benchmarks.projector_pure import NoRedis
from common.settings import ProjectorSettings
from event_store.outbox import fold_input_from_message
from projections.changes import Arg
from projections.keys import Control
from projections.simulation import message_of, random_flow
from projections.writer import ProjectionWriter, tune_gc


class _Unsent(ProjectionWriter):
    async def _send(self, body: list[Arg]) -> None:
        return None


def test_a_live_fetch_decoded_and_applied_runs_no_collection() -> None:
    """A fetch of ``batch_max`` records, decoded and applied as the consumer loop does, holds
    ~60k tracked objects at its peak (each record, its ``__dict__``, each decoded event): at
    a first-generation threshold of 50,000 the collector traversed them mid-batch, ~0.6 s of
    the projector's CPU in every ~13 s of it (5-6 %, ``gc.callbacks``, the replay)."""
    fetch = ProjectorSettings().batch_max
    values = [message_of(event) for event in random_flow(11, fetch // 4).events][:fetch]
    assert len(values) == fetch
    writer = _Unsent(NoRedis(), Control("gc"))  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    started: list[int] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(info["generation"])

    thresholds = gc.get_threshold()
    try:
        loop.run_until_complete(writer.claim(0))
        tune_gc()
        gc.callbacks.append(seen)
        records = [
            ConsumerRecord("events", 0, offset, 0, 0, b"k", value, None, 1, len(value), ())
            for offset, value in enumerate(values)
        ]
        events = [fold_input_from_message(record.value) for record in records]
        loop.run_until_complete(writer.apply(0, events, len(records)))
    finally:
        if seen in gc.callbacks:
            gc.callbacks.remove(seen)
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        loop.close()
    assert started == []
