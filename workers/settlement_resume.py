"""Where a settlement partition resumes: its last ``SettlementInputConsumed`` on ``settlement-<p>``.

A checkpoint names the topic it was taken on (``topic``): its ``last_position`` and
``kafka_offset`` describe that topic's partition. Before the settlement topic the worker consumed
the events topic keyed by stream, and its checkpoints (no ``topic``) describe other partitions:
the settlement topic's partition ``p`` holds other inputs than the events topic's partition ``p``.

:func:`move_to_topic` moves such a store once, in one append: every ``settlement-<p>`` stream
(the legacy ones and one per partition of the new topic) gets a checkpoint on the new topic at
the highest legacy position (Kafka offset: the topic's start). That is exact when the old worker
was drained when the layout changed (every input then in the store booked, as between test runs
or after a drained shutdown): every input at or below that position is booked, every later one
reaches the settlement topic through the new relay. The append is fenced per stream like any
checkpoint, so two workers moving at once, or an old worker still writing, cannot both win.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from domain import streams
from event_store.errors import WrongExpectedVersion
from event_store.model import NewEvent, StreamAppend
from event_store.protocol import EventStore

log = logging.getLogger("settlement")

INPUT_CONSUMED: Final = "SettlementInputConsumed"
ACTOR: Final = "settlement"
_PREFIX: Final = streams.settlement(0).removesuffix("0")


async def last_checkpoint(store: EventStore, partition: int) -> tuple[int, dict[str, Any] | None]:
    """``settlement-<p>``'s version and its last checkpoint's data (``None``: no checkpoint)."""
    stream_id = streams.settlement(partition)
    version = await store.stream_version(stream_id)
    if not version:
        return 0, None
    return version, (await store.read_stream(stream_id, version, limit=1))[0].data


def checkpoint(topic: str, partition: int, position: int, offset: int | None) -> NewEvent:
    """The ``SettlementInputConsumed`` that says partition ``partition`` of ``topic`` stands at
    ``position`` (store) and ``offset`` (Kafka: the next message; ``None``: the start)."""
    data = {"topic": topic, "partition": partition, "last_position": position}
    data["kafka_offset"] = offset
    return NewEvent(INPUT_CONSUMED, data, {"actor": ACTOR})


async def move_to_topic(store: EventStore, topic: str, partitions: int) -> None:
    """Move checkpoints taken on another topic to ``topic`` (see the module); no-op if none."""
    legacy: dict[str, tuple[int, int]] = {}
    for stream_id in await store.stream_ids(_PREFIX):
        suffix = stream_id.removeprefix(_PREFIX)
        if not suffix.isdigit():
            continue
        version, data = await last_checkpoint(store, int(suffix))
        if data is not None and data.get("topic") != topic:
            legacy[stream_id] = (version, int(data["last_position"]))
    if not legacy:
        return
    floor = max(position for _, position in legacy.values())
    expected = {s: v for s, (v, _) in legacy.items()}
    for partition in range(partitions):
        stream_id = streams.settlement(partition)
        if stream_id not in expected and not await store.stream_version(stream_id):
            expected[stream_id] = 0
    appends = [
        StreamAppend(s, [checkpoint(topic, int(s.removeprefix(_PREFIX)), floor, None)], v)
        for s, v in sorted(expected.items())
    ]
    try:
        await store.append(*appends)
    except WrongExpectedVersion:
        log.info("settlement checkpoints moved by another worker meanwhile")
        return
    log.info(
        "settlement checkpoints moved to the settlement topic",
        extra={"topic": topic, "floor": floor, "streams": sorted(expected)},
    )
