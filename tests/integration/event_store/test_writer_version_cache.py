"""What the writer's version cache keeps: not the streams only ever created, and, once full, the
newest entries rather than none.

The command API's cancels and account checks ask the cache for their streams' versions
(``known_version``); every entry dropped costs them a read. Its ``client-order-*`` claims were
half the entries, for streams no append plans on again, and a full cache was cleared at once.
"""

from __future__ import annotations

import pytest

from event_store import NO_STREAM, NewEvent, StreamAppend, WrongExpectedVersion
from event_store.planning import encode_append
from event_store.writer import GroupCommitWriter

pytestmark = pytest.mark.integration


async def _create(writer: GroupCommitWriter, *stream_ids: str) -> None:
    appends = [StreamAppend(s, [NewEvent("A", {"n": 1})], NO_STREAM) for s in stream_ids]
    await writer.submit(encode_append(appends, None))


async def test_streams_only_ever_created_are_kept_out_of_the_cache_and_still_unique(
    event_store_url: str, stream_prefix: str
) -> None:
    p = stream_prefix
    writer = GroupCommitWriter(event_store_url, write_once=(f"{p}once-",))
    try:
        await _create(writer, f"{p}once-a", f"{p}order-a")
        await _create(writer, f"{p}once-b")  # (the fast path, on top of the cache)

        assert writer.known_version(f"{p}once-a") is None
        assert writer.known_version(f"{p}once-b") is None
        assert writer.known_version(f"{p}order-a") == 1
        with pytest.raises(WrongExpectedVersion):  # (planned as new: the unique key refuses it)
            await _create(writer, f"{p}once-a")
    finally:
        await writer.close()


async def test_a_full_cache_drops_its_oldest_entries_and_keeps_the_newest(
    event_store_url: str, stream_prefix: str
) -> None:
    p = stream_prefix
    ours = GroupCommitWriter(event_store_url, version_cache_size=4)
    theirs = GroupCommitWriter(event_store_url)  # (appends between ours: the careful path)
    try:
        kept_previous = []
        for i in range(8):
            await _create(ours, f"{p}ours-{i}")
            if i:
                kept_previous.append(ours.known_version(f"{p}ours-{i - 1}"))
            await _create(theirs, f"{p}theirs-{i}")

        assert kept_previous == [1] * 7  # (a clear dropped the previous one every few batches)
        assert ours.known_version(f"{p}ours-0") is None  # (still bounded: the oldest went)
        assert ours.known_version(f"{p}ours-7") == 1
    finally:
        await ours.close()
        await theirs.close()
