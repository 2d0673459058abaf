"""The careful path's planning (``writer.py``): a batch planned on what the table says, read
under the sequence lock, with the writer's version cache brought up to date on the way.

Everything the plan needs from the table is asked for in the round trip that takes the lock (a
multi-statement query: the lock, the catch-up, the versions the cache lacks, event ids and
checkpoints when asked): it was a round trip each, all of them under the lock every process's
appends wait for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from event_store.errors import EventStoreError
from event_store.model import NO_STREAM, AppendResult
from event_store.planning import BatchPlan, EncodedAppend, plan_batch, replay_result
from event_store.sql import (
    LOCK_SEQUENCE,
    Statement,
    appended_versions_sql,
    latest_versions,
    positions_of,
    recorded_ids_sql,
    recorded_of,
    run_statements,
    saved_checkpoints_sql,
    stream_versions,
    stream_versions_sql,
    versions_of,
)

CATCH_UP_MAX = 20_000
"""Positions others appended since our last commit up to which the careful path reads what they
changed; past it (or with nothing known) it drops the version cache instead."""


def trusted(stream_id: str, tracked: tuple[str, ...] | None) -> bool:
    """Whether the cache's version of ``stream_id`` is kept exact (see :func:`plan_from_table`)."""
    return tracked is None or stream_id.startswith(tracked)


def to_look_up(
    appends: Sequence[EncodedAppend],
    versions: Mapping[str, int],
    tracked: tuple[str, ...] | None,
    cached: bool,
    checked: bool,
) -> tuple[set[str], dict[str, int]]:
    """The streams of the batch whose versions are read from the table, and those planned as
    new without a look-up (at 0), before the lock is taken: the streams the cache lacks (all of
    them unless ``cached``) or holds but does not keep exact (not ``tracked``).

    Without ``checked``, the streams every append of the batch expects not to exist (with no
    ``at_version``) are planned as new (a batch of 100 orders has ~200: each order's stream and
    its ``client_order_id`` claim), as the fast path does: one that exists makes the insert hit
    the unique key, and the writer replans the batch ``checked``, reading every version.

    One pass over the batch's streams: it was three (the streams the cache lacks, those of them
    assumed new, then a dict of the versions planned on, every stream of the batch in it).
    """
    read: set[str] = set()
    new: dict[str, int] = {}
    for append in appends:
        for stream_id, expected, _, at_version in append.streams:
            if (
                cached
                and stream_id in versions
                and (tracked is None or stream_id.startswith(tracked))
            ):
                continue
            if checked or expected != NO_STREAM or at_version is not None:
                read.add(stream_id)
            else:
                new[stream_id] = 0
    if read and new:
        for stream_id in read:
            new.pop(stream_id, None)
    return read, new


async def plan_from_table(
    cur: Any,
    appends: Sequence[EncodedAppend],
    versions: dict[str, int],
    tracked: tuple[str, ...] | None,
    since: int,
    checked: bool,
) -> BatchPlan:
    """Take the sequence lock and plan ``appends`` on what the table says, in one round trip.

    ``versions`` (the cache, exact as of our commit at ``since``; -1: unknown) is caught up with
    the versions of the streams others appended to since, read under the lock, so exact as of
    the sequence's last position (or cleared if ``since`` is unknown or too far behind); with
    ``tracked`` (stream id prefixes) only those streams are caught up, and the cache's other
    entries are never planned on (:func:`trusted`). The versions it lacks are read into it,
    guarded checkpoints are read, and with ``checked`` appends whose event ids are recorded
    already are answered with their first result."""
    lookup, new = to_look_up(appends, versions, tracked, since >= 0, checked)
    statements: list[Statement] = [(LOCK_SEQUENCE, [])]
    if since >= 0:
        # Bounded by ``since`` rather than the last position (not known yet): under the lock
        # no row past it is committed, so the read is the same.
        statements.append(appended_versions_sql(since, since + CATCH_UP_MAX, tracked))
    if lookup:
        statements.append(stream_versions_sql(lookup))
    ids = [i for a in appends for i in a.event_ids] if checked else []
    id_reads = recorded_ids_sql(ids) if ids else []
    statements.extend(id_reads)
    guarded = {c for a in appends if (c := a.guarded_consumer) is not None}
    if guarded:
        statements.append(saved_checkpoints_sql(guarded))
    results = iter(await run_statements(cur, statements))
    ((last_position,),) = next(results)
    last_position = int(last_position)
    appended = latest_versions(next(results)) if since >= 0 else {}
    dropped = since >= 0 and not 0 <= last_position - since <= CATCH_UP_MAX
    if since < 0 or dropped:
        versions.clear()
    else:
        versions.update(appended)
    if lookup:
        versions.update(versions_of(next(results)))
    recorded = recorded_of([next(results) for _ in id_reads])
    saved = positions_of(next(results)) if guarded else None
    if appended and new:  # created by others since: not new after all, and caught up
        for stream_id in new.keys() & appended.keys():
            del new[stream_id]
    if dropped:  # what the cache held is gone: a second round trip (rarely)
        missing = {s for a in appends for s in a.stream_ids if s not in versions and s not in new}
        if missing:
            versions.update(await stream_versions(cur, missing))
    return _planned(appends, versions, new, last_position, saved, recorded)


def _planned(
    appends: Sequence[EncodedAppend],
    versions: Mapping[str, int],
    new: Mapping[str, int],
    last_position: int,
    saved: Mapping[str, int] | None,
    recorded: Mapping[str, tuple[int, str, int]],
) -> BatchPlan:
    """The plan on ``versions``, the streams assumed ``new`` at 0 (only what the plan appends
    enters the cache: a guess for a stream the batch then leaves alone, say its append
    conflicted on another stream, must not answer a later append), appends whose event ids are
    ``recorded`` answered with their first result."""
    planned_on: Mapping[str, int] = _NewOver(new, versions) if new else versions
    replays: dict[int, AppendResult | EventStoreError] = {}
    if recorded:
        for index, append in enumerate(appends):
            replay = replay_result(append.event_ids, recorded)
            if replay is not None:
                replays[index] = replay
    if not replays:
        return plan_batch(appends, planned_on, last_position, saved)
    planned = [a for i, a in enumerate(appends) if i not in replays]
    plan = plan_batch(planned, planned_on, last_position, saved)
    outcomes = iter(plan.outcomes)
    plan.outcomes = [replays[i] if i in replays else next(outcomes) for i in range(len(appends))]
    return plan


class _NewOver(dict[str, int]):
    """The streams assumed new (at 0) over the versions known: a copy of ``new`` (one C-level
    copy) that looks up what it lacks in ``versions`` (it was a dict of every stream of the
    batch, built by a pass over them: a batch of 100 orders has ~200 new ones)."""

    __slots__ = ("_versions",)

    def __init__(self, new: Mapping[str, int], versions: Mapping[str, int]) -> None:
        super().__init__(new)
        self._versions = versions

    def __missing__(self, stream_id: str) -> int:
        return self._versions[stream_id]
