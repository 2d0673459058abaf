"""The matching worker: orders-topic inputs through the engine, outputs + position in one append.

For each batch of one partition it runs every input through that partition's engine and appends
every resulting event to its order's stream (a trade as the two orders' ``OrderFilled``), a
refused batch's ``BatchRejected`` to its batch stream, and ``MatchingInputConsumed`` to
``matching-<p>`` with the version it loaded as the expected version: **one** transaction. A worker
that lost the partition (another appended) gets ``WrongExpectedVersion`` there and is fenced; the
consumer loop then reloads the shard from the store. The event shapes: ``workers/README.md``;
the inputs are decoded and the outputs encoded by :mod:`workers.matching.codec`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from event_store.errors import WrongExpectedVersion
from event_store.model import RecordedEvent
from event_store.protocol import EventStore
from event_store.upcasting import Upcasters
from workers.consumer import Fenced, Resume
from workers.instruments import Instruments
from workers.matching.codec import (
    ACTOR,
    EngineInput,
    OutputRows,
    encoded_event,
    input_from_event,
    input_from_message,
    metadata_of,
)
from workers.matching.shard import INPUT_CONSUMED, Shard, admit, load_shard

log = logging.getLogger("matching")


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
        upcasters: Upcasters | None = None,
    ) -> None:
        self.group = group
        self.topic = topic
        self.shards: dict[int, Shard] = {}
        self._store = store
        self._partitions = partitions
        self._instruments = Instruments(store)
        self._upcasters = upcasters or Upcasters()
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

    def decode(self, value: bytes) -> EngineInput:
        """An orders-topic message as an engine input (the consumer loop's decoder for us)."""
        return input_from_message(value, self._upcasters)

    async def apply(
        self, partition: int, events: Sequence[EngineInput | RecordedEvent], next_offset: int
    ) -> None:
        """Run the inputs through the engine; append outputs and the position atomically."""
        self._applying.add(partition)
        try:
            inputs = [e if isinstance(e, EngineInput) else input_from_event(e) for e in events]
            await self._apply(partition, inputs, next_offset)
        finally:
            self._applying.discard(partition)

    async def _apply(self, partition: int, inputs: list[EngineInput], next_offset: int) -> None:
        shard = self.shards[partition]
        engine = shard.engine
        rows = OutputRows()
        applied = 0
        for item in inputs:
            command = item.command
            if command is None:
                continue
            await admit(engine, self._instruments, command)
            outputs = engine.process(command)
            applied += 1
            if outputs:
                rows.add(outputs, metadata_of(item.correlation_id, item.event_id))
        last = inputs[-1].position
        consumed = {
            "partition": partition,
            "last_position": last,
            "kafka_offset": next_offset,
            "inputs": applied,
            "sequence": engine.sequence,
        }
        # The inputs' own versions are committed ones of their order streams: with them the
        # store's writer plans these ANY appends without looking the streams up under its lock.
        self._store.note_versions({i.stream_id: i.stream_version for i in inputs})
        checkpoint = encoded_event(INPUT_CONSUMED, consumed, {"actor": ACTOR})
        try:
            await self._store.append_encoded(
                rows.append(shard.stream_id, shard.version, checkpoint)
            )
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
        shard.inputs_since_snapshot += applied
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
