"""The contract's additions for writers that number their own events and track their inputs
(the eventsourcing adapter): ``StreamAppend.at_version``, ``Checkpoint.must_advance`` and
pre-encoded ``orjson.Fragment`` data, run against both stores like the rest of the contract;
and the audit's symbol scan, which leaves those applications' streams out.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from event_store import (
    ANY,
    NO_STREAM,
    Checkpoint,
    CheckpointConflict,
    NewEvent,
    StreamAppend,
    WrongExpectedVersion,
)
from event_store.audit import AuditReader, symbol_lifecycle
from event_store.mariadb import MariaDbEventStore
from event_store.model import FOREIGN_STREAM_PREFIX
from event_store.protocol import EventStore


def one(event_type: str = "A") -> list[NewEvent]:
    return [NewEvent(event_type, {"n": 1})]


async def test_an_append_at_a_version_takes_it_and_leaves_the_versions_below_free(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}s"

    result = await store.append(StreamAppend(stream, one() + one("B"), at_version=3))

    assert result.stream_versions == {stream: 4}
    assert [(e.stream_version, e.type) for e in await store.read_stream(stream)] == [
        (3, "A"),
        (4, "B"),
    ]
    assert [e.stream_version for e in await store.read_stream(stream, from_version=4)] == [4]
    assert await store.stream_version(stream) == 4
    following = await store.append(StreamAppend(stream, one("C"), at_version=5))
    assert following.stream_versions == {stream: 5}


async def test_an_append_at_a_version_the_stream_has_reached_conflicts_and_appends_nothing(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}s"
    await store.append(StreamAppend(stream, one() + one(), at_version=1))
    before = await store.last_position()

    for version in (1, 2):
        with pytest.raises(WrongExpectedVersion) as caught:
            await store.append(StreamAppend(stream, one(), at_version=version))
        assert caught.value.actual == 2

    with pytest.raises(WrongExpectedVersion):
        await store.append(StreamAppend(stream, one(), expected_version=1, at_version=3))
    assert await store.last_position() == before
    assert await store.stream_version(stream) == 2


async def test_concurrent_appends_at_the_same_version_let_exactly_one_win(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}s"
    await store.append(StreamAppend(stream, one(), NO_STREAM))

    outcomes = await asyncio.gather(
        *(store.append(StreamAppend(stream, one(), at_version=2)) for _ in range(20)),
        return_exceptions=True,
    )

    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(isinstance(o, WrongExpectedVersion) for o in outcomes if isinstance(o, Exception))
    assert await store.stream_version(stream) == 2


async def test_a_must_advance_checkpoint_refuses_a_position_it_has_reached(
    store: EventStore, stream_prefix: str
) -> None:
    consumer, stream = f"{stream_prefix}follower", f"{stream_prefix}s"
    await store.append(
        StreamAppend(stream, one(), NO_STREAM), checkpoint=Checkpoint(consumer, 5, True)
    )
    before = await store.last_position()

    for position in (5, 4):
        with pytest.raises(CheckpointConflict) as caught:
            await store.append(
                StreamAppend(stream, one(), ANY), checkpoint=Checkpoint(consumer, position, True)
            )
        assert caught.value.saved == 5
    with pytest.raises(CheckpointConflict):
        await store.save_checkpoint(Checkpoint(consumer, 5, must_advance=True))

    assert await store.last_position() == before
    assert await store.load_checkpoint(consumer) == 5
    await store.save_checkpoint(Checkpoint(consumer, 9, must_advance=True))
    assert await store.load_checkpoint(consumer) == 9


async def test_concurrent_must_advance_checkpoints_at_one_position_let_exactly_one_win(
    store: EventStore, stream_prefix: str
) -> None:
    consumer = f"{stream_prefix}follower"

    outcomes = await asyncio.gather(
        *(
            store.append(
                StreamAppend(f"{stream_prefix}{i}", one(), NO_STREAM),
                checkpoint=Checkpoint(consumer, 3, must_advance=True),
            )
            for i in range(10)
        ),
        *(store.save_checkpoint(Checkpoint(consumer, 3, must_advance=True)) for _ in range(5)),
        return_exceptions=True,
    )

    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(isinstance(o, CheckpointConflict) for o in outcomes if isinstance(o, Exception))
    written = [await store.stream_version(f"{stream_prefix}{i}") for i in range(10)]
    assert sum(written) <= 1


async def test_pre_encoded_data_is_stored_as_given(store: EventStore, stream_prefix: str) -> None:
    stream = f"{stream_prefix}s"
    encoded = b'{"b": 1, "a": [2, 3]}'

    await store.append(StreamAppend(stream, [NewEvent("A", orjson.Fragment(encoded))]))

    [recorded] = await store.read_stream(stream)
    assert recorded.data == orjson.loads(encoded)


@pytest.mark.integration
async def test_a_symbols_audit_leaves_out_eventsourcing_streams_that_name_it(
    event_store_url: str, stream_prefix: str
) -> None:
    symbol = stream_prefix.upper().rstrip("-")
    store = MariaDbEventStore.from_url(event_store_url)
    reader = AuditReader.from_url(event_store_url)
    try:
        await store.append(StreamAppend(f"instrument-{symbol}", [NewEvent("InstrumentListed", {})]))
        foreign = f"{FOREIGN_STREAM_PREFIX}watchlists:{stream_prefix}"
        await store.append(StreamAppend(foreign, [NewEvent("m:Added", {"symbol": symbol})]))
        await store.append(StreamAppend(f"{stream_prefix}x", [NewEvent("A", {"symbol": symbol})]))

        found = [e.stream_id async for e in await symbol_lifecycle(reader, symbol)]
    finally:
        await reader.close()
        await store.close()

    assert found == [f"instrument-{symbol}", f"{stream_prefix}x"]
