"""Event ids: real UUIDs (v7 layout), unique, increasing, equal to their text read back."""

from __future__ import annotations

import uuid

from event_store.ids import EventIds, new_event_id
from event_store.model import NewEvent


def test_an_event_id_is_a_version_7_uuid_equal_to_its_text_parsed_back() -> None:
    event_id = new_event_id()

    parsed = uuid.UUID(str(event_id))

    assert parsed == event_id and hash(parsed) == hash(event_id)
    assert (event_id.version, event_id.variant) == (7, uuid.RFC_4122)
    assert str(parsed) == str(event_id)


def test_ids_of_one_source_are_unique_and_increasing() -> None:
    ids = EventIds()

    drawn = [ids() for _ in range(10_000)]

    assert drawn == sorted(drawn) and len(set(drawn)) == len(drawn)


def test_a_source_draws_a_new_prefix_when_its_counter_runs_out() -> None:
    ids = EventIds()
    first = ids()
    ids._next = (1 << 48) - 1
    last_of_prefix = ids()

    next_prefix = ids()

    assert str(last_of_prefix)[:-12] == str(first)[:-12] != str(next_prefix)[:-12]
    assert str(last_of_prefix).endswith("ffffffffffff")


def test_new_events_get_distinct_ids_by_default() -> None:
    assert NewEvent("T", {}).event_id != NewEvent("T", {}).event_id


def test_text_ids_continue_the_same_sequence_and_parse_as_version_7_uuids() -> None:
    fresh = EventIds()
    ids = EventIds()
    first = ids()

    texts = [fresh.text(), *(ids.text() for _ in range(1000))]
    last = ids()

    parsed = [uuid.UUID(text) for text in texts]
    assert [first, *parsed[1:], last] == sorted({first, *parsed[1:], last})
    assert all(str(p) == t and p.version == 7 for p, t in zip(parsed, texts, strict=True))
