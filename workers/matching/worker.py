"""The matching worker: orders-topic inputs through the engine, outputs + position in one append.

For each batch of one partition it runs every input through that partition's engine and appends
every resulting event to its order's stream (a trade as the two orders' ``OrderFilled``), a
refused batch's ``BatchRejected`` to its batch stream, and ``MatchingInputConsumed`` to
``matching-<p>`` with the version it loaded as the expected version: **one** transaction. A worker
that lost the partition (another appended) gets ``WrongExpectedVersion`` there and is fenced; the
consumer loop then reloads the shard from the store. The event shapes: ``workers/README.md``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from domain import streams
from domain.events import Event
from domain.order_events import TradeExecuted
from domain.rejections import BatchRejected
from event_store.errors import WrongExpectedVersion
from event_store.model import NewEvent, RecordedEvent, StreamAppend
from event_store.protocol import EventStore
from workers.consumer import Fenced, Resume
from workers.instruments import Instruments
from workers.matching.shard import (
    INPUT_CONSUMED,
    Shard,
    admit,
    load_shard,
    to_command,
)

log = logging.getLogger("matching")

ACTOR: Final = "matching"
ANY: Final = -1


class MatchingWorker:
    """A :class:`~workers.consumer.PartitionWorker` holding one engine shard per partition."""

    def __init__(
        self,
        store: EventStore,
        *,
        group: str,
        topic: str,
        partitions: int,
        snapshot_every_inputs: int = 50_000,
        snapshot_every_s: float = 60.0,
    ) -> None:
        self.group = group
        self.topic = topic
        self.shards: dict[int, Shard] = {}
        self._store = store
        self._partitions = partitions
        self._instruments = Instruments(store)
        self._snapshot_every_inputs = snapshot_every_inputs
        self._snapshot_every_s = snapshot_every_s
        self._snapshot_at: dict[int, float] = {}
        self._applying: set[int] = set()

    async def assign(self, partition: int) -> Resume:
        """Load the partition's engine: newest snapshot + the stored inputs after it."""
        started = time.monotonic()
        shard = await load_shard(self._store, self._instruments, partition, self._partitions)
        self.shards[partition] = shard
        self._snapshot_at[partition] = time.monotonic()
        log.info(
            "shard loaded",
            extra={
                "partition": partition,
                "position": shard.position,
                "version": shard.version,
                "books": len(shard.engine.books_by_symbol),
                "state_hash": shard.engine.state_hash(),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return Resume(shard.position, shard.kafka_offset)

    def state(self) -> dict[str, Any]:
        """Each owned shard's input position and engine hash, read at one instant."""
        return {
            "shards": {
                str(p): {
                    "position": shard.position,
                    "version": shard.version,
                    "state_hash": shard.engine.state_hash(),
                }
                for p, shard in sorted(self.shards.items())
                if p not in self._applying
            },
            "busy": sorted(self._applying),
        }

    async def revoke(self, partition: int) -> None:
        """Drop the partition's engine (another worker owns it now)."""
        self.shards.pop(partition, None)

    async def apply(self, partition: int, events: list[RecordedEvent], next_offset: int) -> None:
        """Run the inputs through the engine; append outputs and the position atomically."""
        self._applying.add(partition)
        try:
            await self._apply(partition, events, next_offset)
        finally:
            self._applying.discard(partition)

    async def _apply(self, partition: int, events: list[RecordedEvent], next_offset: int) -> None:
        shard = self.shards[partition]
        by_stream: dict[str, list[NewEvent]] = {}
        inputs = 0
        for event in events:
            command = to_command(event)
            if command is None:
                continue
            await admit(shard.engine, self._instruments, command)
            outputs = shard.engine.process(command)
            inputs += 1
            meta = {
                "correlation_id": event.metadata.get("correlation_id"),
                "causation_id": str(event.event_id),
                "actor": ACTOR,
            }
            _route(outputs, meta, by_stream)
        last = events[-1].position
        consumed = {
            "partition": partition,
            "last_position": last,
            "kafka_offset": next_offset,
            "inputs": inputs,
            "sequence": shard.engine.sequence,
        }
        # The inputs' own versions are committed ones of their order streams: with them the
        # store's writer plans these ANY appends without looking the streams up under its lock.
        self._store.note_versions({e.stream_id: e.stream_version for e in events})
        appends = [StreamAppend(s, evs, ANY) for s, evs in by_stream.items()]
        appends.append(
            StreamAppend(
                shard.stream_id,
                [NewEvent(INPUT_CONSUMED, consumed, {"actor": ACTOR})],
                shard.version,
            )
        )
        try:
            await self._store.append(*appends)
        except WrongExpectedVersion as exc:
            self.shards.pop(partition, None)
            if exc.stream_id == shard.stream_id:
                raise Fenced(f"{shard.stream_id} moved on to version {exc.actual}") from exc
            raise
        except BaseException:
            self.shards.pop(partition, None)  # the engine ran ahead of the store: reload it
            raise
        shard.version += 1
        shard.position, shard.kafka_offset = last, next_offset
        shard.inputs_since_snapshot += inputs
        await self._maybe_snapshot(shard)

    async def _maybe_snapshot(self, shard: Shard) -> None:
        now = time.monotonic()
        due_by_time = now - self._snapshot_at.get(shard.partition, now) >= self._snapshot_every_s
        if shard.inputs_since_snapshot < self._snapshot_every_inputs and not (
            due_by_time and shard.inputs_since_snapshot
        ):
            return
        await self._store.save_snapshot(shard.snapshot())
        shard.inputs_since_snapshot = 0
        self._snapshot_at[shard.partition] = now
        log.info(
            "snapshot saved",
            extra={"partition": shard.partition, "version": shard.version, "at": shard.position},
        )


def _route(
    outputs: list[Event], meta: dict[str, Any], by_stream: dict[str, list[NewEvent]]
) -> None:
    """Each engine event to its order's stream; a trade as both orders' fills."""
    for output in outputs:
        if type(output) is TradeExecuted:
            for fill in output.fills():
                _add(by_stream, streams.order(fill.order_id), fill, meta)
        elif type(output) is BatchRejected:
            _add(by_stream, streams.batch(output.batch_id), output, meta)
        else:
            order_id: Any = getattr(output, "order_id")  # noqa: B009 - every other output has one
            _add(by_stream, streams.order(order_id), output, meta)


def _add(
    by_stream: dict[str, list[NewEvent]], stream_id: str, event: Event, meta: dict[str, Any]
) -> None:
    found = by_stream.get(stream_id)
    if found is None:
        found = by_stream[stream_id] = []
    found.append(NewEvent(event.event_type, event.to_dict(), meta))
