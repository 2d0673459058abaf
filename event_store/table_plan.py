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
from event_store.model import AppendResult
from event_store.planning import (
    BatchPlan,
    EncodedAppend,
    assumed_new,
    plan_batch,
    replay_result,
)
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

    Without ``checked``, streams the batch only expects not to exist are planned as new
    (``planning.assumed_new``; a batch of 100 orders has ~200: each order's stream and its
    ``client_order_id`` claim), as the fast path does: one that exists makes the insert hit the
    unique key, and the writer replans the batch ``checked``, reading every version."""
    missing = {
        s
        for a in appends
        for s in a.stream_ids
        if not cached or s not in versions or not trusted(s, tracked)
    }
    new = assumed_new(appends, missing) if missing and not checked else {}
    missing.difference_update(new)
    return missing, new


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
        new = {s: v for s, v in new.items() if s not in appended}
    if dropped:  # what the cache held is gone: a second round trip (rarely)
        missing = {s for a in appends for s in a.stream_ids if s not in versions and s not in new}
        if missing:
            versions.update(await stream_versions(cur, missing))
    planned_on: Mapping[str, int] = _with_new(appends, versions, new) if new else versions
    return _planned(appends, planned_on, last_position, saved, recorded)


def _planned(
    appends: Sequence[EncodedAppend],
    planned_on: Mapping[str, int],
    last_position: int,
    saved: Mapping[str, int] | None,
    recorded: Mapping[str, tuple[int, str, int]],
) -> BatchPlan:
    """The plan, appends whose event ids are ``recorded`` answered with their first result."""
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


def _with_new(
    appends: Sequence[EncodedAppend], versions: Mapping[str, int], new: dict[str, int]
) -> dict[str, int]:
    """The versions of the batch's streams, those assumed new at 0 among them: only what the
    plan appends enters the cache (a guess for a stream the batch then leaves alone, say its
    append conflicted on another stream, must not answer a later append)."""
    planned = dict(new)
    for append in appends:
        for stream_id in append.stream_ids:
            if stream_id not in planned:
                planned[stream_id] = versions[stream_id]
    return planned
