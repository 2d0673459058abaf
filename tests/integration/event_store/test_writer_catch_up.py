"""A writer's version cache against another process's appends between its batches.

Each store here stands for a process (its own writer, its own connections). The writer plans on
cached versions; when the other appended in between, its claim of the sequence fails, and the
careful path catches the cache up with the streams appended since its last commit, under the
sequence lock: a stale expected version must still be refused, the right one accepted, and the
streams it did not touch keep their cached versions.
"""

from __future__ import annotations

import pytest

from event_store import NO_STREAM, MariaDbEventStore, NewEvent, StreamAppend, WrongExpectedVersion

pytestmark = pytest.mark.integration


def one() -> list[NewEvent]:
    return [NewEvent("A", {"n": 1})]


async def test_versions_another_process_appended_between_batches_are_caught_up(
    event_store_url: str, stream_prefix: str
) -> None:
    ours = MariaDbEventStore.from_url(event_store_url)
    theirs = MariaDbEventStore.from_url(event_store_url)
    shared, own = f"{stream_prefix}shared", f"{stream_prefix}own"
    try:
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
    finally:
        await ours.close()
        await theirs.close()
