"""One engine shard: the matching engine of one orders partition, rebuilt from the store alone.

The durable state of partition ``p`` is the ``matching-<p>`` stream: each batch the worker
applied appended one ``MatchingInputConsumed`` (the last input position, the Kafka offset after
it), and every so often a snapshot of the engine at that stream version. Loading a shard =
the newest snapshot + replaying the inputs after it up to the last consumed position, read from
the store (not Kafka), so the books equal what the live worker had, to the hash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from domain import streams
from domain.commands import Command
from domain.events import event_from_dict
from domain.matching import MatchingEngine
from domain.matching.snapshot import state_of
from domain.order_requests import (
    AmendRequested,
    BatchPlaced,
    CancelRequested,
    OrderPlaced,
    SessionClosed,
)
from event_store.model import RecordedEvent, Snapshot
from event_store.outbox import ORDER_SYMBOL, partition_of
from event_store.protocol import EventStore
from workers.instruments import Instruments

INPUT_CONSUMED: Final = "MatchingInputConsumed"
SNAPSHOT_TYPE: Final = "matching.Engine"
READ_CHUNK: Final = 20_000


@dataclass(slots=True)
class Shard:
    """The engine of one partition and where its durable state stands."""

    partition: int
    engine: MatchingEngine
    version: int = 0
    """Version of ``matching-<p>``: the expected version of the next append (the fence)."""
    position: int = 0
    """The last input position applied."""
    kafka_offset: int | None = None
    inputs_since_snapshot: int = 0
    from_snapshot: int | None = None
    """The snapshot version the engine was restored from (``None``: replayed from 0)."""
    scanned: int = 0
    """Store positions the load read through to replay its inputs (every partition's events
    lie between them: an idle partition's snapshot falls far behind the store)."""

    @property
    def stream_id(self) -> str:
        """The partition's consumed-input stream."""
        return streams.matching(self.partition)

    def snapshot(self) -> Snapshot:
        """The engine at this shard's version, for the snapshots table."""
        # The engine's canonical snapshot as data (what ``json.loads(engine.snapshot())``
        # gives), without encoding it to JSON and parsing it back: the store encodes it once.
        state = {
            "position": self.position,
            "kafka_offset": self.kafka_offset,
            "engine": state_of(self.engine),
        }
        return Snapshot(self.stream_id, self.version, state, SNAPSHOT_TYPE)


def engine_command(event: RecordedEvent) -> Command:
    """The engine command a stored engine input stands for."""
    return request_command(event.type, event.data, event.position)


def request_command(event_type: str, data: dict[str, Any], position: int) -> Command:
    """The engine command of the request stored as ``event_type`` with (upcast) ``data``: the
    reference (the domain's ``event_from_dict`` and ``to_command``)."""
    request = event_from_dict(event_type, data)
    if not isinstance(
        request, OrderPlaced | CancelRequested | AmendRequested | BatchPlaced | SessionClosed
    ):
        raise TypeError(f"event {position} ({event_type}) is not an engine input")
    return request.to_command()


async def admit(engine: MatchingEngine, instruments: Instruments, command: Command) -> None:
    """Open the book of every symbol the command names that the engine does not list yet."""
    for symbol in _symbols(command):
        if symbol not in engine.books_by_symbol:
            instrument = await instruments.get(symbol)
            if instrument is not None:  # an unknown symbol is the engine's to reject
                engine.add_instrument(instrument)


def _symbols(command: Any) -> tuple[str, ...]:
    orders = getattr(command, "orders", None)
    if orders is not None:
        return tuple(sorted({leg.symbol for leg in orders}))
    symbol = getattr(command, "symbol", None)
    return (symbol,) if symbol is not None else ()


async def load_shard(
    store: EventStore,
    instruments: Instruments,
    partition: int,
    partitions: int,
    *,
    up_to: int | None = None,
    use_snapshot: bool = True,
) -> Shard:
    """The shard as the store holds it: newest snapshot + the inputs consumed after it.

    ``up_to`` stops at that input position instead of the last consumed one (``replay
    verify``); ``use_snapshot=False`` replays every input from position 0.
    """
    shard, target = await restored_shard(store, partition, up_to=up_to, use_snapshot=use_snapshot)
    await replay(store, instruments, partitions, [(shard, target)])
    return shard


async def restored_shard(
    store: EventStore, partition: int, *, up_to: int | None = None, use_snapshot: bool = True
) -> tuple[Shard, int]:
    """The shard at its newest snapshot (or empty), with its version and Kafka offset, and the
    input position to replay it to (:func:`load_shard` without the replay)."""
    stream_id = streams.matching(partition)
    version = await store.stream_version(stream_id)
    shard = Shard(partition, MatchingEngine())
    if not version:
        return shard, 0
    last = (await store.read_stream(stream_id, version, limit=1))[0].data
    target = int(last["last_position"]) if up_to is None else up_to
    snapshot = await store.load_snapshot(stream_id) if use_snapshot else None
    if (
        snapshot is not None
        and snapshot.type == SNAPSHOT_TYPE
        and snapshot.version <= version
        and int(snapshot.state["position"]) <= target
    ):
        shard.engine = MatchingEngine.restore(json.dumps(snapshot.state["engine"]).encode())
        shard.position = int(snapshot.state["position"])
        shard.from_snapshot = snapshot.version
    shard.scanned = max(0, target - shard.position)
    shard.version, shard.kafka_offset = version, last.get("kafka_offset")
    return shard, target


async def replay(
    store: EventStore,
    instruments: Instruments,
    partitions: int,
    targets: Sequence[tuple[Shard, int]],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Feed each shard the stored inputs of its partition after its position up to its target,
    all in one read of the store (``progress``: told each chunk's last position)."""
    todo = [(shard, shard.position, target) for shard, target in targets if shard.position < target]
    position = min((after for _, after, _ in todo), default=0)
    end = max((target for _, _, target in todo), default=0)
    while position < end:
        batch = await store.read_all(position, min(READ_CHUNK, end - position))
        if not batch:
            break
        for event in batch:
            symbol = event.metadata.get(ORDER_SYMBOL)
            if symbol is None:
                continue
            partition = partition_of(str(symbol).encode(), partitions)
            for shard, after, target in todo:
                if shard.partition == partition and after < event.position <= target:
                    command = engine_command(event)  # (one per engine: engines keep them)
                    await admit(shard.engine, instruments, command)
                    shard.engine.process(command)
                    shard.inputs_since_snapshot += 1
        position = batch[-1].position
        if progress is not None:
            progress(position)
    for shard, target in targets:
        shard.position = max(shard.position, target)
