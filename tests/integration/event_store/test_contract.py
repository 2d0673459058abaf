"""The contract every event store implementation must pass (in-memory and MariaDB).

Conflicts, multi-stream atomicity, idempotent retry, read-your-own-append, reads and upcasting;
snapshots, checkpoints and version prefetching are in ``test_contract_state.py``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC

import pytest

from event_store import (
    ANY,
    NO_STREAM,
    DuplicateEventId,
    NewEvent,
    StoredData,
    StreamAppend,
    Upcasters,
    WrongExpectedVersion,
)
from event_store.planning import encode_append
from event_store.protocol import EventStore
from tests.integration.event_store.conftest import StoreFactory, events


async def test_appending_to_a_new_stream_numbers_its_versions_from_one(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}order-1"
    before = await store.last_position()

    result = await store.append(StreamAppend(stream, events("A", "B", "C"), NO_STREAM))

    assert result.first_position == before + 1
    assert result.last_position == before + 3
    assert result.stream_versions == {stream: 3}
    assert await store.stream_version(stream) == 3
    assert await store.last_position() == before + 3


async def test_a_reader_sees_its_own_append_immediately(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}acct"
    new = NewEvent(
        "Deposited", {"amount": 1000, "asset": "USD", "memo": "café ☕"}, {"actor": "u1"}
    )

    result = await store.append(StreamAppend(stream, [new], NO_STREAM))

    [recorded] = await store.read_stream(stream)
    assert recorded.position == result.last_position
    assert (recorded.stream_id, recorded.stream_version) == (stream, 1)
    assert recorded.event_id == new.event_id
    assert (recorded.type, recorded.schema_version) == ("Deposited", 1)
    assert recorded.data == {"amount": 1000, "asset": "USD", "memo": "café ☕"}
    assert recorded.metadata == {"actor": "u1"}
    assert recorded.recorded_at.tzinfo == UTC
    [same] = await store.read_all(after_position=result.last_position - 1, limit=1)
    assert same == recorded


async def test_a_stale_expected_version_raises_and_appends_nothing(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}s"
    await store.append(StreamAppend(stream, events("A", "B"), NO_STREAM))
    before = await store.last_position()

    with pytest.raises(WrongExpectedVersion) as caught:
        await store.append(StreamAppend(stream, events("C"), expected_version=1))

    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert await store.last_position() == before
    assert await store.stream_version(stream) == 2


async def test_no_stream_is_refused_for_a_stream_that_exists(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}s"
    await store.append(StreamAppend(stream, events("A"), NO_STREAM))

    with pytest.raises(WrongExpectedVersion):
        await store.append(StreamAppend(stream, events("B"), NO_STREAM))


async def test_expected_version_any_appends_whatever_the_version(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}s"
    await store.append(StreamAppend(stream, events("A"), ANY))
    result = await store.append(StreamAppend(stream, events("B"), ANY))

    assert result.stream_versions == {stream: 2}


async def test_an_append_to_several_streams_is_all_or_nothing(
    store: EventStore, stream_prefix: str
) -> None:
    buyer, seller = f"{stream_prefix}buyer", f"{stream_prefix}seller"
    await store.append(StreamAppend(seller, events("Opened"), NO_STREAM))
    before = await store.last_position()

    with pytest.raises(WrongExpectedVersion) as caught:
        await store.append(
            StreamAppend(buyer, events("Debited"), NO_STREAM),
            StreamAppend(seller, events("Credited"), expected_version=5),
        )

    assert caught.value.stream_id == seller
    assert await store.last_position() == before
    assert await store.read_stream(buyer) == []


async def test_an_append_to_several_streams_gets_contiguous_positions(
    store: EventStore, stream_prefix: str
) -> None:
    a, b = f"{stream_prefix}a", f"{stream_prefix}b"

    result = await store.append(
        StreamAppend(a, events("A1", "A2"), NO_STREAM),
        StreamAppend(b, events("B1"), NO_STREAM),
    )

    recorded = await store.read_all(after_position=result.first_position - 1, limit=3)
    assert [(e.position, e.stream_id, e.stream_version) for e in recorded] == [
        (result.first_position, a, 1),
        (result.first_position + 1, a, 2),
        (result.first_position + 2, b, 1),
    ]
    assert result.stream_versions == {a: 2, b: 1}


async def test_retrying_an_append_with_the_same_event_ids_returns_the_original_positions(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}order"
    batch = events("OrderAccepted", "FundsHeld")
    first = await store.append(StreamAppend(stream, batch, NO_STREAM))
    before = await store.last_position()

    again = await store.append(StreamAppend(stream, batch, NO_STREAM))
    with_any = await store.append(StreamAppend(stream, batch, ANY))

    assert again == first
    assert with_any == first
    assert await store.last_position() == before
    assert len(await store.read_stream(stream)) == 2


async def test_reusing_only_some_event_ids_is_refused(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}s"
    recorded = events("A")
    await store.append(StreamAppend(stream, recorded, NO_STREAM))

    with pytest.raises(DuplicateEventId):
        await store.append(StreamAppend(stream, [recorded[0], *events("B")], ANY))

    assert await store.stream_version(stream) == 1


async def test_concurrent_appends_with_the_same_expected_version_let_exactly_one_win(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}s"
    await store.append(StreamAppend(stream, events("A"), NO_STREAM))

    outcomes = await asyncio.gather(
        *(store.append(StreamAppend(stream, events("B"), 1)) for _ in range(20)),
        return_exceptions=True,
    )

    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(isinstance(o, WrongExpectedVersion) for o in outcomes if isinstance(o, Exception))
    assert await store.stream_version(stream) == 2


async def test_a_conflict_fails_only_its_own_append_among_concurrent_ones(
    store: EventStore, stream_prefix: str
) -> None:
    streams = [f"{stream_prefix}{i}" for i in range(30)]

    outcomes = await asyncio.gather(
        *(
            store.append(StreamAppend(s, events("A"), NO_STREAM if i % 3 else 7))
            for i, s in enumerate(streams)
        ),
        return_exceptions=True,
    )

    failed = [i for i, o in enumerate(outcomes) if isinstance(o, BaseException)]
    assert failed == list(range(0, 30, 3))
    assert all(isinstance(outcomes[i], WrongExpectedVersion) for i in failed)


async def test_read_stream_starts_at_the_version_asked(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}s"
    await store.append(StreamAppend(stream, events("A", "B", "C", "D"), NO_STREAM))

    tail = await store.read_stream(stream, from_version=3)
    limited = await store.read_stream(stream, from_version=2, limit=2)

    assert [e.type for e in tail] == ["C", "D"]
    assert [e.stream_version for e in limited] == [2, 3]
    assert await store.read_stream(f"{stream_prefix}missing") == []
    assert await store.stream_version(f"{stream_prefix}missing") == 0


async def test_read_streams_reads_each_stream_from_its_own_version(
    store: EventStore, stream_prefix: str
) -> None:
    first, second, absent = (f"{stream_prefix}{name}" for name in ("a", "b", "none"))
    await store.append(StreamAppend(first, events("A1", "A2", "A3"), NO_STREAM))
    await store.append(StreamAppend(second, events("B1", "B2"), NO_STREAM))
    await store.append(StreamAppend(first, events("A4"), 3))

    found = await store.read_streams({first: 3, second: 1, absent: 1})

    assert [e.type for e in found[first]] == ["A3", "A4"]
    assert [e.stream_version for e in found[second]] == [1, 2]
    assert found[absent] == []
    assert await store.read_streams({}) == {}


async def test_read_stream_tails_reads_what_read_streams_does_without_ids_metadata_or_times(
    store: EventStore, stream_prefix: str
) -> None:
    first, second, absent = (f"{stream_prefix}{name}" for name in ("a", "b", "none"))
    await store.append(StreamAppend(first, events("A1", "A2", "A3"), NO_STREAM))
    await store.append(StreamAppend(second, events("B1"), NO_STREAM))
    wanted = {first: 2, second: 1, absent: 1}

    tails = await store.read_stream_tails(wanted)

    full = await store.read_streams(wanted)
    assert tails == {
        s: [StoredData(e.position, e.stream_version, e.type, e.data) for e in found]
        for s, found in full.items()
    }
    assert [t.type for t in tails[first]] == ["A2", "A3"]
    assert await store.read_stream_tails({}) == {}


async def test_read_stream_types_reads_a_few_versions_and_types_from_a_version(
    store: EventStore, stream_prefix: str
) -> None:
    first, second, absent = (f"{stream_prefix}{name}" for name in ("a", "b", "none"))
    await store.append(StreamAppend(first, events("A1", "A2", "A3", "A4"), NO_STREAM))
    await store.append(StreamAppend(second, events("B1"), NO_STREAM))

    found = await store.read_stream_types([first, second, absent], 2, 2)

    assert found == {first: [(2, "A2"), (3, "A3")], second: [], absent: []}
    assert await store.read_stream_types([second, first], 1, 3) == {
        second: [(1, "B1")], first: [(1, "A1"), (2, "A2"), (3, "A3")]}  # fmt: skip
    assert await store.read_stream_types([first], 4, 3) == {first: [(4, "A4")]}
    assert await store.read_stream_types([], 2, 2) == {}


@pytest.mark.parametrize(
    "odd", ["quote'd", "back\\slash", "per%scent", 'dq"', "sp ace", "é-ü", "x') OR (1=1", "--"]
)
async def test_many_stream_reads_take_any_stream_id_as_it_is(
    store: EventStore, stream_prefix: str, odd: str
) -> None:
    """(MariaDB writes plain ids into the SQL text and sends the others as parameters.)"""
    plain, other = f"{stream_prefix}plain", f"{stream_prefix}{odd}"
    await store.append(StreamAppend(plain, events("P1", "P2"), NO_STREAM))
    await store.append(StreamAppend(other, events("O1", "O2", "O3"), NO_STREAM))
    await store.append(StreamAppend(f"{stream_prefix}plai", events("N1"), NO_STREAM))

    for wanted in ({plain: 2, other: 2}, {plain: 1}, {other: 3, f"{stream_prefix}pl": 1}):
        tails = await store.read_stream_tails(wanted)
        full = await store.read_streams(wanted)

        for found in (tails, full):
            assert found.keys() == wanted.keys()
            for stream_id, version in wanted.items():
                expected = await store.read_stream(stream_id, version)
                assert [e.type for e in found[stream_id]] == [e.type for e in expected]
        types = await store.read_stream_types(list(wanted), 2, 2)
        assert types.keys() == wanted.keys()
        for stream_id in wanted:
            expected = await store.read_stream(stream_id, 2, limit=2)
            assert types[stream_id] == [(e.stream_version, e.type) for e in expected]


async def test_stream_ids_lists_the_streams_of_a_prefix(
    store: EventStore, stream_prefix: str
) -> None:
    for name in ("x_1", "x_2", "y_1"):
        await store.append(StreamAppend(f"{stream_prefix}{name}", events("A"), NO_STREAM))
    await store.append(StreamAppend(f"{stream_prefix}x_1", events("B"), 1))

    listed = await store.stream_ids(f"{stream_prefix}x_")

    assert listed == [f"{stream_prefix}x_1", f"{stream_prefix}x_2"]
    assert await store.stream_ids(f"{stream_prefix}x%") == []


async def test_read_all_returns_a_batch_in_position_order(
    store: EventStore, stream_prefix: str
) -> None:
    start = await store.last_position()
    for i in range(5):
        await store.append(StreamAppend(f"{stream_prefix}{i}", events("A", "B"), NO_STREAM))

    first = await store.read_all(after_position=start, limit=4)
    rest = await store.read_all(after_position=first[-1].position, limit=100)

    assert [e.position for e in first + rest] == list(range(start + 1, start + 11))
    assert await store.read_all(after_position=start + 10) == []


async def test_old_events_are_upcast_on_read(
    store_factory: StoreFactory, stream_prefix: str
) -> None:
    upcasters = Upcasters()
    upcasters.register("OrderPlaced", 1, lambda d: {**d, "tif": "GTC"})
    upcasters.register("OrderPlaced", 2, lambda d: {"qty": d["quantity"], "tif": d["tif"]})
    store = store_factory(upcasters)
    stream = f"{stream_prefix}order"
    await store.append(
        StreamAppend(
            stream,
            [
                NewEvent("OrderPlaced", {"quantity": 5}, schema_version=1),
                NewEvent("OrderPlaced", {"quantity": 6, "tif": "IOC"}, schema_version=2),
                NewEvent("OrderPlaced", {"qty": 7, "tif": "FOK"}, schema_version=3),
                NewEvent("Other", {"quantity": 8}, schema_version=1),
            ],
            NO_STREAM,
        )
    )

    read = await store.read_stream(stream)
    tailed = await store.read_all(after_position=read[0].position - 1, limit=4)

    expected = [
        (3, {"qty": 5, "tif": "GTC"}),
        (3, {"qty": 6, "tif": "IOC"}),
        (3, {"qty": 7, "tif": "FOK"}),
        (1, {"quantity": 8}),
    ]
    assert [(e.schema_version, e.data) for e in read] == expected
    assert [(e.schema_version, e.data) for e in tailed] == expected


async def test_a_submitted_encoded_append_resolves_as_the_awaited_call_would(
    store: EventStore, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}sub"
    first = encode_append([StreamAppend(stream, events("A", "B"), NO_STREAM)], None)
    stale = encode_append([StreamAppend(stream, events("C"), NO_STREAM)], None, fresh=True)

    queued = store.submit_encoded(first)
    conflicting = store.submit_encoded(stale)

    result = await queued
    with pytest.raises(WrongExpectedVersion):
        await conflicting
    assert result.stream_versions == {stream: 2}
    assert [e.type for e in await store.read_stream(stream)] == ["A", "B"]
