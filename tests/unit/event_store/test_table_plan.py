"""The careful path's pure planning: which streams are read, which are assumed new."""

from __future__ import annotations

from event_store import ANY, NO_STREAM, AppendResult, NewEvent, StreamAppend
from event_store.errors import WrongExpectedVersion
from event_store.planning import EncodedAppend, encode_append
from event_store.table_plan import _planned, to_look_up


def _append(*streams: tuple[str, int]) -> EncodedAppend:
    return encode_append(
        [StreamAppend(s, [NewEvent("E", {})], expected) for s, expected in streams], None
    )


def test_only_streams_every_append_expects_not_to_exist_are_assumed_new() -> None:
    fixed = StreamAppend("numbered", [NewEvent("A", {})], NO_STREAM, at_version=4)
    appends = [
        _append(("fresh", NO_STREAM)),
        _append(("mixed", NO_STREAM)),
        _append(("mixed", 1)),
        _append(("any", ANY)),
        encode_append([fixed], None),
        _append(("cached", NO_STREAM), ("known", 3)),
    ]

    read, new = to_look_up(appends, {"cached": 2, "known": 3}, None, True, False)

    assert new == {"fresh": 0}
    assert read == {"mixed", "any", "numbered"}


def test_without_a_cache_or_checked_or_untrusted_the_streams_are_read_or_assumed_new() -> None:
    appends = [_append(("a-new", NO_STREAM), ("a-old", 3), ("b-new", NO_STREAM))]
    cache = {"a-old": 3, "b-new": 1}

    assert to_look_up(appends, cache, None, False, False) == ({"a-old"}, {"a-new": 0, "b-new": 0})
    assert to_look_up(appends, cache, None, True, True) == ({"a-new"}, {})
    # (a writer that tracks only ``a-`` never plans ``b-new`` on its cache)
    assert to_look_up(appends, cache, ("a-",), True, False) == (set(), {"a-new": 0, "b-new": 0})


def test_streams_assumed_new_win_over_the_cache_and_only_appended_ones_are_planned() -> None:
    appends = [
        _append(("new", NO_STREAM), ("stale", NO_STREAM)),
        _append(("lost", NO_STREAM), ("account", 4)),  # (conflicts on the account)
        _append(("account", 5)),
    ]
    versions = {"account": 5, "stale": 7}

    plan = _planned(appends, versions, {"new": 0, "stale": 0, "lost": 0}, 10, None, {})

    assert plan.outcomes[0] == AppendResult(11, 12, {"new": 1, "stale": 1})
    assert isinstance(plan.outcomes[1], WrongExpectedVersion)
    assert plan.outcomes[2] == AppendResult(13, 13, {"account": 6})
    assert plan.stream_versions == {"new": 1, "stale": 1, "account": 6}  # (not ``lost``)
    assert versions == {"account": 5, "stale": 7}  # (the cache itself is left alone)
