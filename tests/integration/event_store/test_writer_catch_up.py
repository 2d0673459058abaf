"""A writer's version cache against another process's appends between its batches.

Each store here stands for a process (its own writer, its own connections). The writer plans on
cached versions; when the other appended in between, its claim of the sequence fails, and the
careful path catches the cache up with the streams appended since its last commit, under the
sequence lock: a stale expected version must still be refused, the right one accepted, and the
streams it did not touch keep their cached versions.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from event_store import (
    NO_STREAM,
    MariaDbEventStore,
    NewEvent,
    StreamAppend,
    WrongExpectedVersion,
    table_plan,
    writer,
)
from event_store.planning import encode_append

pytestmark = pytest.mark.integration


def one() -> list[NewEvent]:
    return [NewEvent("A", {"n": 1})]


Stores = tuple[MariaDbEventStore, MariaDbEventStore]


@pytest.fixture
async def stores(event_store_url: str) -> AsyncIterator[Stores]:
    """Two stores standing for two processes: ours (under test) and theirs."""
    ours = MariaDbEventStore.from_url(event_store_url)
    theirs = MariaDbEventStore.from_url(event_store_url)
    try:
        yield ours, theirs
    finally:
        await ours.close()
        await theirs.close()


@dataclass
class Call:
    args: tuple[Any, ...]
    result: Any = None


def spy(monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str) -> list[Call]:
    """Record each call of the function ``module.name`` (async or not): its arguments (as it
    starts), then its result."""
    calls: list[Call] = []
    real = getattr(module, name)

    async def recording(*args: Any) -> Any:
        call = Call(args)
        calls.append(call)
        call.result = await real(*args)
        return call.result

    def recording_sync(*args: Any) -> Any:
        call = Call(args)
        calls.append(call)
        call.result = real(*args)
        return call.result

    wrapper = recording if inspect.iscoroutinefunction(real) else recording_sync
    monkeypatch.setattr(module, name, wrapper)
    return calls


async def test_versions_another_process_appended_between_batches_are_caught_up(
    stores: Stores, stream_prefix: str
) -> None:
    ours, theirs = stores
    shared, own = f"{stream_prefix}shared", f"{stream_prefix}own"
    await ours.append(StreamAppend(shared, one(), NO_STREAM))
    await ours.append(StreamAppend(own, one(), NO_STREAM))
    for round_ in range(3):  # the first claim fails, the next go straight to the careful path
        version = 2 * round_ + 1
        await theirs.append(StreamAppend(shared, one(), version))
        with pytest.raises(WrongExpectedVersion):
            await ours.append(StreamAppend(shared, one(), version))
        result = await ours.append(
            StreamAppend(shared, one(), version + 1), StreamAppend(own, one(), round_ + 1)
        )
        assert result.stream_versions == {shared: version + 2, own: round_ + 2}
    with pytest.raises(WrongExpectedVersion):
        await ours.append(StreamAppend(own, one(), 3))
    assert [e.stream_version for e in await ours.read_stream(shared)] == list(range(1, 8))


async def _careful(ours: MariaDbEventStore, theirs: MariaDbEventStore, stream: str) -> None:
    """Make ours's next batch take the careful path: theirs appends after ours's last commit,
    so ours's claim of the sequence fails."""
    await theirs.append(StreamAppend(stream, one(), NO_STREAM))


async def _old_unseen_then_careful(stores: Stores, p: str) -> None:
    """Theirs appends ``{p}old`` (ours never sees it), ours ``{p}own``; then ours's next batch
    takes the careful path."""
    ours, theirs = stores
    await theirs.append(StreamAppend(f"{p}old", one(), NO_STREAM))
    await ours.append(StreamAppend(f"{p}own", one(), NO_STREAM))
    await _careful(ours, theirs, f"{p}between")


async def test_the_careful_path_plans_streams_expected_new_without_looking_them_up(
    stores: Stores, stream_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy(monkeypatch, table_plan, "stream_versions_sql")  # (stream ids,)
    ours = stores[0]
    p = stream_prefix
    await _old_unseen_then_careful(stores, p)
    calls.clear()

    result = await ours.append(
        StreamAppend(f"{p}new", one(), NO_STREAM), StreamAppend(f"{p}old", one(), 1)
    )

    assert result.stream_versions == {f"{p}new": 1, f"{p}old": 2}
    assert [s for c in calls for s in c.args[0]] == [f"{p}old"]  # (not the new one)
    assert [e.stream_version for e in await ours.read_stream(f"{p}new")] == [1]


async def test_a_stream_assumed_new_on_the_careful_path_that_exists_is_refused_not_cached(
    stores: Stores, stream_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans = spy(monkeypatch, writer, "plan_from_table")  # (its last argument: ``checked``)
    ours, theirs = stores
    p = stream_prefix
    taken, other, own = f"{p}taken", f"{p}other", f"{p}own"
    await theirs.append(StreamAppend(taken, one(), NO_STREAM))
    await theirs.append(StreamAppend(other, one(), NO_STREAM))
    await ours.append(StreamAppend(own, one(), NO_STREAM))  # (ours knows neither of theirs)
    await _careful(ours, theirs, f"{p}between")

    plans.clear()
    with pytest.raises(WrongExpectedVersion):  # (the unique key, then the versions read)
        await ours.append(StreamAppend(taken, one(), NO_STREAM))
    assert [plan.args[-1] for plan in plans] == [False, True]
    await _careful(ours, theirs, f"{p}between2")
    with pytest.raises(WrongExpectedVersion):  # (refused for ``own``: ``other`` untouched)
        await ours.append(StreamAppend(other, one(), NO_STREAM), StreamAppend(own, one(), 5))
    result = await ours.append(StreamAppend(taken, one(), 1), StreamAppend(other, one(), 1))

    assert result.stream_versions == {taken: 2, other: 2}
    assert [e.stream_version for e in await ours.read_stream(other)] == [1, 2]
    assert [e.stream_version for e in await ours.read_stream(taken)] == [1, 2]


async def test_a_writer_that_names_its_streams_catches_up_only_those_and_reads_the_others(
    event_store_url: str, stream_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    catch_ups = spy(monkeypatch, table_plan, "latest_versions")  # (what was caught up)
    monkeypatch.setattr(writer, "PROBE_FAST_EVERY", 1)  # (every batch tries the fast path)
    p = stream_prefix
    mine, other = f"{p}mine_a", f"{p}other-b"
    ours = MariaDbEventStore.from_url(event_store_url, appends_to=(f"{p}mine_",))
    theirs = MariaDbEventStore.from_url(event_store_url)
    try:
        await ours.append(
            StreamAppend(mine, one(), NO_STREAM), StreamAppend(other, one(), NO_STREAM)
        )
        await theirs.append(StreamAppend(mine, one(), 1), StreamAppend(other, one(), 1))
        await theirs.append(
            StreamAppend(f"{p}mineXnoise", one(), NO_STREAM)
        )  # (``_`` is no wildcard)

        catch_ups.clear()
        with pytest.raises(WrongExpectedVersion):  # (caught up: ``mine`` is a tracked stream)
            await ours.append(StreamAppend(mine, one(), 1))
        assert [c.result for c in catch_ups] == [{mine: 2}]  # (not ``other`` nor the noise)
        # Nobody appended since: the claim would succeed, but ``other``'s cached version (1) is
        # stale, so it is read from the table rather than planned on (no false conflict).
        result = await ours.append(StreamAppend(other, one(), 2))
        assert result.stream_versions == {other: 3}
        with pytest.raises(WrongExpectedVersion):
            await ours.append(StreamAppend(other, one(), 2))
        result = await ours.append(StreamAppend(mine, one(), 2), StreamAppend(other, one(), 3))
        assert result.stream_versions == {mine: 3, other: 4}
        assert [e.stream_version for e in await ours.read_stream(other)] == [1, 2, 3, 4]
    finally:
        await ours.close()
        await theirs.close()


async def test_a_fresh_append_s_conflict_is_answered_without_looking_its_ids_up(
    event_store_url: str, stream_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy(monkeypatch, writer, "recorded_event_ids")  # (cursor, event ids)
    store = MariaDbEventStore.from_url(event_store_url)
    stream = f"{stream_prefix}s"
    try:
        await store.append(StreamAppend(stream, one(), NO_STREAM))
        stale = [StreamAppend(stream, one(), NO_STREAM)]
        with pytest.raises(WrongExpectedVersion):  # (its ids may be a retry's: looked up)
            await store.append_encoded(encode_append(stale, None))
        checked = [i for c in calls for i in c.args[1]]
        fresh = [StreamAppend(stream, one(), NO_STREAM)]  # (new ids, as the command API's)
        with pytest.raises(WrongExpectedVersion):
            await store.append_encoded(encode_append(fresh, None, fresh=True))
        assert len(checked) == 1
        assert [i for c in calls for i in c.args[1]] == checked  # (the fresh one was not)
    finally:
        await store.close()


async def test_the_careful_path_reads_under_the_lock_in_one_round_trip_and_commits_in_one(
    stores: Stores, stream_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = spy(monkeypatch, table_plan, "run_statements")  # (cursor, statements)
    ends = spy(monkeypatch, writer, "run_statements")
    ours = stores[0]
    p = stream_prefix
    await _old_unseen_then_careful(stores, p)
    reads.clear()
    ends.clear()

    result = await ours.append(StreamAppend(f"{p}own", one(), 1), StreamAppend(f"{p}old", one(), 1))

    assert result.stream_versions == {f"{p}own": 2, f"{p}old": 2}
    [read] = reads  # the lock, the catch-up and the version ours lacks: one round trip
    assert [sql.split()[0] for sql, _ in read.args[1]] == ["SELECT"] * 3
    assert "FOR UPDATE" in read.args[1][0][0]
    [end] = ends  # the sequence moved and the commit: one round trip
    assert [sql.split()[0] for sql, _ in end.args[1]] == ["UPDATE", "COMMIT"]


async def test_a_cache_too_far_behind_to_catch_up_is_dropped_and_read_from_the_table(
    stores: Stores, stream_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table_plan, "CATCH_UP_MAX", 1)  # (theirs appends two events between)
    ours, theirs = stores
    shared, own = f"{stream_prefix}shared", f"{stream_prefix}own"
    await ours.append(StreamAppend(shared, one(), NO_STREAM), StreamAppend(own, one(), NO_STREAM))
    await theirs.append(StreamAppend(shared, [*one(), *one()], 1))

    with pytest.raises(WrongExpectedVersion):  # (ours's cached version 1 is not used)
        await ours.append(StreamAppend(shared, one(), 1))
    await theirs.append(StreamAppend(f"{stream_prefix}more", [*one(), *one()], NO_STREAM))
    result = await ours.append(StreamAppend(shared, one(), 3), StreamAppend(own, one(), 1))

    assert result.stream_versions == {shared: 4, own: 2}
    assert [e.stream_version for e in await ours.read_stream(own)] == [1, 2]
