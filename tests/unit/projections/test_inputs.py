"""The folds' declared inputs: what no projection reads changes no read model, and the relay
keeps only such streams off the events topic."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import streams
from event_store.outbox import OFF_EVENTS_TOPIC
from projections.base import Inputs
from projections.changes import Changes
from projections.keys import Control, Space
from projections.simulation import SimEvent, random_flow
from projections.writer import all_folds

CONTROL = Control("t")
ALL = Inputs()
for _fold in all_folds():
    ALL |= _fold.inputs

STREAM_KINDS = ["order", "account", "client", "batch", "idempotency", "matching", "user",
                "apikey", "instrument", "session", "username", "settlement", "orderx",
                'we"ird\\']  # fmt: skip
TYPES = [*sorted(ALL.types), "OrderPlaced", "OrderPlacedInBatch", "ClientOrderIdClaimed",
         "BatchPlaced", "IdempotentResponseRecorded", "OrderAccepte", ""]  # fmt: skip


@st.composite
def noise(draw: st.DrawFn) -> SimEvent:
    """An event of any stream and type, with data that mentions other streams and types."""
    stream = f"{draw(st.sampled_from(STREAM_KINDS))}-{draw(st.integers(0, 10**6))}"
    kind = draw(st.sampled_from(TYPES))
    decoy = {"stream_id": "order-1", "type": "FundsReserved", "text": draw(st.text(max_size=30))}
    return SimEvent(draw(st.integers(1, 10**12)), stream, draw(st.integers(0, 99)), kind, decoy)


def _fold_all(events: list[SimEvent]) -> list[bytes | str]:
    out, cache = Changes(), {}  # type: ignore[var-annotated]
    for fold in all_folds():
        fold.fold(events, Space(CONTROL.space(fold.name, 1)), cache, out)
    return out.encode(1000)[0]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), st.lists(noise(), max_size=60))
def test_events_no_declared_input_names_change_no_read_model(
    seed: int, extra: list[SimEvent]
) -> None:
    mixed = list(random_flow(seed=seed, orders=60).events)
    rng = random.Random(seed)
    for event in extra:
        if not ALL.wants(event):
            mixed.insert(rng.randrange(len(mixed) + 1), event)
    mixed = [replace(event, position=index + 1) for index, event in enumerate(mixed)]

    assert _fold_all(mixed) == _fold_all([e for e in mixed if ALL.wants(e)])


BOOKKEEPING = [
    (streams.client_order(7, "c-1"), "ClientOrderIdClaimed"),
    (streams.batch(7), "BatchPlaced"),
    (streams.batch(7), "BatchRejected"),
    (streams.idempotency("orders", "ab12"), "IdempotentResponseRecorded"),
    (streams.matching(1), "MatchingInputConsumed"),
    (streams.settlement(1), "SettlementInputConsumed"),
]
"""Every kind of stream the relay keeps off the events topic, with the events written there."""


def test_no_projection_reads_the_streams_the_relay_keeps_off_the_events_topic() -> None:
    read = [
        (stream, kind)
        for stream, kind in BOOKKEEPING
        if ALL.wants(SimEvent(1, stream, 1, kind, {}))
    ]
    listed = [p for p in OFF_EVENTS_TOPIC if any(s.encode().startswith(p) for s, _ in BOOKKEEPING)]

    assert read == []
    assert listed == list(OFF_EVENTS_TOPIC)
    assert all(stream.encode().startswith(OFF_EVENTS_TOPIC) for stream, _ in BOOKKEEPING)
