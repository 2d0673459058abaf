"""Batch planning: the pure rules shared by every recorder."""

from __future__ import annotations

import uuid

import orjson

from event_store import ANY, NO_STREAM, AppendResult, Checkpoint, NewEvent, StreamAppend
from event_store.errors import DuplicateEventId, WrongExpectedVersion
from event_store.planning import (
    EncodedAppend,
    encode_append,
    json_bytes,
    plan_batch,
    replay_result,
)
from event_store.upcasting import Upcasters


def _append(
    stream: str, expected: int, count: int = 1, checkpoint: Checkpoint | None = None
) -> EncodedAppend:
    events = [NewEvent("E", {"i": i}) for i in range(count)]
    return encode_append([StreamAppend(stream, events, expected)], checkpoint)


def test_a_conflict_rejects_only_its_own_append_and_later_appends_see_earlier_ones() -> None:
    batch = [_append("s", 0, 2), _append("s", 0), _append("s", 2), _append("t", ANY)]

    plan = plan_batch(batch, {"s": 0, "t": 4}, last_position=10)

    assert plan.outcomes[0] == AppendResult(11, 12, {"s": 2})
    assert isinstance(plan.outcomes[1], WrongExpectedVersion)
    assert plan.outcomes[2] == AppendResult(13, 13, {"s": 3})
    assert plan.outcomes[3] == AppendResult(14, 14, {"t": 5})
    assert [r[:3] for r in plan.rows] == [(11, "s", 1), (12, "s", 2), (13, "s", 3), (14, "t", 5)]
    assert plan.last_position == 14
    assert plan.stream_versions == {"s": 3, "t": 5}


def test_a_reused_event_id_within_a_batch_is_deferred_to_the_next_batch() -> None:
    first = _append("s", NO_STREAM)
    reused = NewEvent("E", {}, event_id=uuid.UUID(first.event_ids[0]))
    again = encode_append([StreamAppend("s", [reused], ANY)], None)

    plan = plan_batch([first, again], {"s": 0}, 0)

    assert plan.outcomes[1] is None
    assert len(plan.rows) == 1


def test_checkpoints_of_accepted_appends_only_are_kept() -> None:
    batch = [
        _append("s", 0, checkpoint=Checkpoint("engine", 5)),
        _append("s", 0, checkpoint=Checkpoint("engine", 6)),
    ]

    plan = plan_batch(batch, {"s": 0}, 0)

    assert plan.checkpoints == {"engine": 5}


def test_a_full_replay_returns_the_original_result_and_a_partial_one_is_refused() -> None:
    recorded = {"a": (7, "s", 1), "b": (8, "s", 2), "c": (9, "t", 1)}

    assert replay_result(["a", "b", "c"], recorded) == AppendResult(7, 9, {"s": 2, "t": 1})
    assert isinstance(replay_result(["a", "x"], recorded), DuplicateEventId)
    assert replay_result(["x"], recorded) is None


def test_upcasters_chain_until_the_latest_version() -> None:
    upcasters = Upcasters()
    upcasters.register("E", 1, lambda d: {**d, "b": 2})
    upcasters.register("E", 2, lambda d: {**d, "c": 3})

    assert upcasters.upcast("E", 1, {"a": 1}) == (3, {"a": 1, "b": 2, "c": 3})
    assert upcasters.upcast("E", 3, {"a": 1}) == (3, {"a": 1})
    assert upcasters.upcast("F", 1, {"a": 1}) == (1, {"a": 1})


def test_kept_json_is_the_same_bytes_as_orjson_writes_in_a_buffer_of_its_own() -> None:
    values = [{"user_id": 7, "symbol": "ACME", "cash_delta": -100_100, "at": 2**62}, ["é", None]]

    for value in values:
        encoded = json_bytes(value)

        assert encoded == orjson.dumps(value)
        assert type(encoded) is bytes and orjson.loads(encoded) == value
