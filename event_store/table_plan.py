"""The careful path's planning (``writer.py``): a batch planned on what the table says, read
under the sequence lock, with the writer's version cache brought up to date on the way."""

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
    appended_versions,
    recorded_event_ids,
    saved_checkpoints,
    stream_versions,
)

CATCH_UP_MAX = 20_000
"""Positions others appended since our last commit up to which the careful path reads what they
changed; past it (or with nothing known) it drops the version cache instead."""


async def catch_up(
    cur: Any,
    versions: dict[str, int],
    since: int,
    last_position: int,
    tracked: tuple[str, ...] | None = None,
) -> None:
    """Under the sequence lock: bring ``versions`` (the cache, as of our commit at ``since``) to
    ``last_position`` with the versions of the streams others appended to since (or clear it if
    ``since`` is unknown or too far behind). Every position up to ``last_position`` is committed
    then. With ``tracked`` (stream id prefixes), only those streams are caught up: the cache's
    other entries may be stale, and the writer never plans on them (:func:`trusted`)."""
    if since == last_position:
        return
    if since < 0 or not 0 < last_position - since <= CATCH_UP_MAX:
        versions.clear()
        return
    versions.update(await appended_versions(cur, since, last_position, tracked))


def trusted(stream_id: str, tracked: tuple[str, ...] | None) -> bool:
    """Whether the cache's version of ``stream_id`` is kept exact (see :func:`catch_up`)."""
    return tracked is None or stream_id.startswith(tracked)


async def plan_from_table(
    cur: Any,
    appends: Sequence[EncodedAppend],
    versions: dict[str, int],
    tracked: tuple[str, ...] | None,
    last_position: int,
    checked: bool,
) -> BatchPlan:
    """Plan ``appends`` from ``last_position`` under the sequence lock: the versions ``versions``
    lacks (or holds of streams not ``tracked``: see :func:`catch_up`) are read into it, guarded
    checkpoints are read, and with ``checked`` appends whose event ids are recorded already are
    answered with their first result.

    Without ``checked``, streams the batch only expects not to exist are planned as new without
    a look-up (``planning.assumed_new``; a batch of 100 orders has ~200: each order's stream and
    its ``client_order_id`` claim), as the fast path does: one that exists makes the insert hit
    the unique key, and the writer replans the batch ``checked``, reading every version."""
    replays: dict[int, AppendResult | EventStoreError] = {}
    if checked:
        recorded = await recorded_event_ids(cur, [i for a in appends for i in a.event_ids])
        for index, append in enumerate(appends):
            replay = replay_result(append.event_ids, recorded)
            if replay is not None:
                replays[index] = replay
    missing = {
        s for a in appends for s in a.stream_ids if s not in versions or not trusted(s, tracked)
    }
    new = assumed_new(appends, missing) if missing and not checked else None
    if new:
        missing.difference_update(new)
    if missing:
        versions.update(await stream_versions(cur, missing))
    planned_on: Mapping[str, int] = _with_new(appends, versions, new) if new else versions
    guarded = {c for a in appends if (c := a.guarded_consumer) is not None}
    saved = await saved_checkpoints(cur, guarded) if guarded else None
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
