"""The compact stored forms read back as exactly what the object forms held."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import streams
from domain.events import event_types
from projections.accounts import AccountsFold
from projections.changes import Changes
from projections.keys import Space
from projections.orders import PLACED, OrdersFold
from projections.records import (
    EVENT_SHAPES,
    FROM_DOCUMENT,
    LEDGER_FIELDS,
    ORDER_FIELDS,
    REF_SHAPES,
    SHAPE_BITS,
    decode_ledger,
    decode_lifecycle,
    decode_order,
    encode_ledger,
    encode_lifecycle,
    encode_order,
    lifecycle_entry,
    load_order,
)
from projections.simulation import random_flow

SPACE = Space("t:p1")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32))
def test_every_lifecycle_entry_of_a_random_flow_is_compact_and_reads_back_whole(
    seed: int,
) -> None:
    events = [e for e in random_flow(seed, 40).events if e.stream_id.startswith("order-")]
    orders: dict[str, Any] = {}
    OrdersFold().fold(events, SPACE, orders, Changes())

    for event in events:
        order = orders[SPACE.order(int(event.stream_id.removeprefix("order-")))]
        raw = encode_lifecycle(event.position, event.type, event.data, "cause", order)

        assert orjson.loads(raw)[1] < 0, event.type  # a known shape, of its own order
        assert decode_lifecycle(raw, order) == {
            "position": event.position,
            "type": event.type,
            "data": event.data,
            "causation_id": "cause",
        }
        assert list(decode_lifecycle(raw, order)["data"]) == list(event.data)  # (the order shown)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([kind for kind, _ in EVENT_SHAPES] + ["Other"]),
    st.dictionaries(st.sampled_from(["symbol", "order_id", "user_id", "at", "x"]), JSON_VALUES),
    st.none() | st.text(max_size=36),
)
def test_an_event_of_no_known_shape_or_of_another_order_reads_back_whole(
    kind: str, data: dict[str, Any], cause: str | None
) -> None:
    order = {"symbol": "ACME", "order_id": 1, "user_id": 2}

    shown = decode_lifecycle(encode_lifecycle(7, kind, data, cause, order), order)

    assert shown == {"position": 7, "type": kind, "data": data, "causation_id": cause}
    assert list(shown["data"]) == list(data)


def test_an_event_of_a_known_shape_naming_another_order_keeps_its_own_ids() -> None:
    data = {"symbol": "ACME", "order_id": 5, "user_id": 9, "at": 1}  # (CancelRequested)
    other = {"symbol": "ACME", "order_id": 5, "user_id": 8}

    raw = encode_lifecycle(3, "CancelRequested", data, None, other)

    assert orjson.loads(raw)[1] >= 0
    assert decode_lifecycle(raw, other)["data"] == data


def test_the_shapes_are_the_domain_events_fields_each_starting_with_its_order() -> None:
    """A changed event class stays correct (stored whole) but should append its new shape."""
    latest = dict(EVENT_SHAPES)
    domain = event_types()

    assert all(names[:3] == ("symbol", "order_id", "user_id") for _, names in EVENT_SHAPES)
    for kind, names in latest.items():
        if kind == streams.ORDER_PLACED_IN_BATCH:
            assert names == (*domain["OrderPlaced"].FIELDS, "batch_id")
        else:
            assert names == domain[kind].FIELDS, kind


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32))
def test_order_documents_read_back_as_the_folds_state(seed: int) -> None:
    events = [e for e in random_flow(seed, 30).events if e.stream_id.startswith("order-")]
    cache: dict[str, Any] = {}
    OrdersFold().fold(events, SPACE, cache, Changes())

    for state in cache.values():
        assert load_order(encode_order(state)) == state
        stored = decode_order(encode_order(state))
        assert [orjson.dumps(e) for e in stored["lifecycle"]] == state["lifecycle"]
        fields = {name: value for name, value in state.items() if name != "lifecycle"}
        before = {**fields, "lifecycle": None}  # (its lifecycle in the list beside it)
        assert decode_order(orjson.dumps(fields)) == before  # (the object form before)
        assert decode_order(encode_order(before)) == before  # (the array form before)


def test_an_order_document_of_the_object_form_without_caused_by_reads_as_none() -> None:
    old = {name: 1 for name in ORDER_FIELDS if name != "caused_by"}

    assert decode_order(orjson.dumps(old))["caused_by"] is None


REFS = st.sampled_from(REF_SHAPES).flatmap(
    lambda names: st.fixed_dictionaries({name: JSON_VALUES for name in names})
) | st.dictionaries(st.sampled_from(["event", "symbol", "x"]), JSON_VALUES)


@given(
    st.tuples(
        st.integers(0, 2**40),
        st.text(max_size=4),
        st.integers(-(2**62), 2**62),
        st.integers(-(2**62), 2**62),
    ),
    st.text(max_size=10),
    REFS,
    st.integers(0, 2**63),
)
def test_ledger_entries_read_back_in_both_forms(
    head: tuple[int, str, int, int], kind: str, ref: dict[str, Any], at: int
) -> None:
    entry = dict(zip(LEDGER_FIELDS, (*head, kind, ref, at), strict=True))

    shown = decode_ledger(encode_ledger(*head, kind, ref, at))

    assert shown == entry
    assert list(shown["ref"]) == list(ref)
    assert decode_ledger(orjson.dumps(entry)) == entry


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32))
def test_the_ledger_refs_of_a_random_flow_are_compact(seed: int) -> None:
    events = random_flow(seed, 30).events
    out = Changes()
    AccountsFold().fold(events, SPACE, {}, out)

    members = [m for members in out.zsets.values() for m in members]
    assert members
    assert all(isinstance(orjson.loads(m)[5], list) for m in members)


def test_an_order_documents_entries_read_as_its_listed_entries_did() -> None:
    events = [e for e in random_flow(6, 30).events if e.stream_id.startswith("order-")]
    out = Changes()
    OrdersFold().fold(events, SPACE, {}, out)

    assert out.docs and not out.lists
    for raw in out.docs.values():
        state = decode_order(raw or b"")
        embedded = [lifecycle_entry(entry, state) for entry in state["lifecycle"]]
        listed = [decode_lifecycle(orjson.dumps(entry), state) for entry in state["lifecycle"]]
        assert embedded == listed and embedded
        assert embedded[0]["data"]["order_id"] == state["order_id"]


def test_an_entry_in_its_document_leaves_what_the_document_holds_for_good_to_it() -> None:
    events = [e for e in random_flow(3, 30).events if e.stream_id.startswith("order-")]
    out = Changes()
    OrdersFold().fold(events, SPACE, {}, out)

    placements = 0
    for raw in out.docs.values():
        state = decode_order(raw or b"")
        for entry in state["lifecycle"]:
            shown = lifecycle_entry(entry, state)
            supplied = ~entry[1] >> SHAPE_BITS
            kept = [name for i, name in enumerate(shown["data"]) if not supplied >> i & 1]
            assert len(entry) == 3 + len(kept)
            for name in FROM_DOCUMENT.keys() & set(kept):
                held = state[FROM_DOCUMENT[name]]
                assert shown["data"][name] != held or type(shown["data"][name]) is not type(held)
            if shown["type"] in PLACED:
                placements += 1
                assert kept == ["price", "quantity", "max_notional", "expires_at"]
    assert placements == len(out.docs)


def test_the_shape_numbers_fit_their_bits() -> None:
    assert len(EVENT_SHAPES) < 1 << SHAPE_BITS
    assert all(len(names) < 60 for _, names in EVENT_SHAPES)
