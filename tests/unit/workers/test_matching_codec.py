"""The matching worker's fast codec equals the reference path, on random command streams.

Inputs: a relayed message decoded by ``input_from_message`` must give what the reference gives
(``event_from_message`` → ``event_from_dict`` → ``to_command()``), upcasters included. Outputs:
``OutputRows`` must encode every engine event into the row ``encode_append`` makes of the
reference routing (``workers/README.md``: ``fills()`` for a trade, ``to_dict()`` as data,
``NewEvent`` per event), stream by stream, in the same order; only the fresh event ids differ.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import streams
from domain.commands import AmendOrder, CancelOrder, Command, ExpireOrders, NewOrder, SubmitBatch
from domain.errors import DomainError
from domain.events import Event
from domain.order_events import TradeExecuted
from domain.order_requests import (
    AmendRequested,
    BatchPlaced,
    CancelRequested,
    OrderPlaced,
    SessionClosed,
)
from domain.rejections import BatchRejected
from event_store.model import ANY, NewEvent, StreamAppend
from event_store.outbox import ORDER_SYMBOL, event_from_message
from event_store.planning import encode_append, encoded_event
from event_store.upcasting import Upcasters
from workers.matching.codec import (
    PLAIN_OUTPUTS,
    OutputRows,
    event_data,
    fill_data,
    input_from_event,
    input_from_message,
    metadata_of,
)

from ..domain.builders import SYMBOL, engine
from ..domain.test_engine_properties import build, spec

CORRELATION = "corr-1"


def placed(order: NewOrder) -> OrderPlaced:
    return OrderPlaced(
        order.symbol, order.order_id, order.user_id, order.side, order.order_type, order.price,
        order.quantity, order.time_in_force, order.post_only, order.max_notional,
        order.expires_at, None, order.at,
    )  # fmt: skip


def request_of(command: Command) -> tuple[str, Event]:
    """The stream and request event the command API would have stored for ``command``."""
    if isinstance(command, NewOrder):
        return streams.order(command.order_id), placed(command)
    if isinstance(command, CancelOrder):
        request: Event = CancelRequested(
            command.symbol, command.order_id, command.user_id, command.at
        )
        return streams.order(command.order_id), request
    if isinstance(command, AmendOrder):
        amend = AmendRequested(
            command.symbol, command.order_id, command.user_id, command.quantity, command.price,
            command.at,
        )  # fmt: skip
        return streams.order(command.order_id), amend
    if isinstance(command, SubmitBatch):
        legs = tuple(placed(leg) for leg in command.orders)
        batch = BatchPlaced(command.batch_id, command.user_id, command.all_or_nothing, legs, 1)
        return streams.batch(command.batch_id), batch
    assert isinstance(command, ExpireOrders)
    return streams.session(SYMBOL), SessionClosed(SYMBOL, command.at)


def message(
    position: int,
    stream_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    schema_version: int = 1,
    routed: bool = True,
) -> bytes:
    """A message value as the relay publishes it (``event_store.outbox``)."""
    metadata: dict[str, Any] = {"correlation_id": CORRELATION, "actor": "api"}
    if routed:
        metadata[ORDER_SYMBOL] = SYMBOL
    return orjson.dumps(
        {
            "position": position,
            "stream_id": stream_id,
            "stream_version": position + 1,
            "event_id": str(uuid.uuid4()),
            "type": event_type,
            "schema_version": schema_version,
            "recorded_at": "2026-12-02T10:00:00.123456Z",
            "data": data,
            "metadata": metadata,
        }
    )


def reference_append(
    outputs_per_input: list[tuple[list[Event], dict[str, Any]]], checkpoint: NewEvent
) -> Any:
    """What the worker appended before the codec: the README's routing, ``encode_append``."""
    by_stream: dict[str, list[NewEvent]] = {}
    for outputs, meta in outputs_per_input:
        for output in outputs:
            if isinstance(output, TradeExecuted):
                routed = [(streams.order(f.order_id), f) for f in output.fills()]
            elif isinstance(output, BatchRejected):
                routed = [(streams.batch(output.batch_id), output)]
            else:
                routed = [(streams.order(getattr(output, "order_id")), output)]  # noqa: B009
            for stream_id, event in routed:
                by_stream.setdefault(stream_id, []).append(
                    NewEvent(event.event_type, event.to_dict(), meta)
                )
    appends = [StreamAppend(s, events, ANY) for s, events in by_stream.items()]
    appends.append(StreamAppend("matching-0", [checkpoint], 7))
    return encode_append(appends, None)


def without_ids(encoded: Any) -> list[tuple[str, int, list[tuple[Any, ...]]]]:
    return [(s.stream_id, s.expected_version, [e[1:] for e in s.events]) for s in encoded.streams]


@settings(max_examples=150, deadline=None)
@given(st.lists(spec, min_size=1, max_size=40))
def test_decoded_messages_give_the_reference_commands(specs: list[tuple[Any, ...]]) -> None:
    commands = build(specs)

    for position, command in enumerate(commands, start=1):
        stream_id, request = request_of(command)
        value = message(position, stream_id, request.event_type, request.to_dict())

        fast = input_from_message(value)

        assert fast == input_from_event(event_from_message(value))
        assert fast.command is not None
        assert fast.command.to_dict() == request.to_command().to_dict()  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None)
@given(st.lists(spec, min_size=1, max_size=60))
def test_encoded_outputs_equal_the_reference_rows(specs: list[tuple[Any, ...]]) -> None:
    eng = engine()
    rows = OutputRows()
    reference: list[tuple[list[Event], dict[str, Any]]] = []
    for position, command in enumerate(build(specs), start=1):
        outputs = eng.process(command)
        causation = str(uuid.uuid4())
        rows.add(outputs, metadata_of(CORRELATION, causation))
        meta = {"correlation_id": CORRELATION, "causation_id": causation, "actor": "matching"}
        reference.append((outputs, meta))
        assert position > 0
    consumed = {"partition": 0, "last_position": 9, "kafka_offset": 3, "inputs": 2}

    fast = rows.append("matching-0", 7, encoded_event("X", consumed, {"actor": "matching"}))

    expected = reference_append(reference, NewEvent("X", consumed, {"actor": "matching"}))
    assert without_ids(fast) == without_ids(expected)
    ids = [e[0] for s in fast.streams for e in s.events]
    assert sorted(fast.event_ids) == sorted(ids) and len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 for i in ids)


def test_upcasters_run_before_the_command_is_built() -> None:
    upcasters = Upcasters()
    upcasters.register(
        "OrderPlaced", 0, lambda d: {("quantity" if k == "qty" else k): v for k, v in d.items()}
    )
    order = NewOrder(SYMBOL, 5, 2, "buy", "limit", 100, 3, "GTC", 11)
    old = placed(order).to_dict()
    old["qty"] = old.pop("quantity")
    value = message(1, "order-5", "OrderPlaced", old, schema_version=0)

    fast = input_from_message(value, upcasters)

    assert fast == input_from_event(event_from_message(value, upcasters))
    assert fast.command == order


def test_an_event_without_an_order_symbol_is_no_engine_input() -> None:
    value = message(4, "account-2", "FundsReserved", {"amount": 5}, routed=False)

    decoded = input_from_message(value)

    assert decoded.command is None and decoded.position == 4 and decoded.stream_version == 5


def test_a_request_with_unexpected_fields_is_refused_like_the_reference() -> None:
    data = placed(NewOrder(SYMBOL, 5, 2, "buy", "limit", 100, 3, "GTC", 11)).to_dict()
    data["extra"] = 1
    value = message(1, "order-5", "OrderPlaced", data)

    with pytest.raises(DomainError):
        input_from_event(event_from_message(value))
    with pytest.raises(DomainError):
        input_from_message(value)


TEXT = st.text(max_size=8) | st.sampled_from(["ACME", "A,B", 'q"u,o', "\\", ",", "%s", "é\n"])
INT = st.integers(-(2**63), 2**63 - 1)


@st.composite
def plain_outputs(draw: st.DrawFn) -> Event:
    """Any plain output (every field drawn of its type), strings with commas and escapes too."""
    cls: type[Event] = draw(st.sampled_from(PLAIN_OUTPUTS))
    kinds = {"post_only": st.booleans(), "priority_kept": st.booleans(), "price": INT | st.none()}
    values = [draw(kinds.get(name, TEXT if name in STRING_FIELDS else INT)) for name in cls.FIELDS]
    event: Event = cls(*values)
    return event


STRING_FIELDS = {"symbol", "side", "order_type", "time_in_force", "reason"}


@settings(max_examples=300, deadline=None)
@given(plain_outputs())
def test_spliced_event_json_is_the_to_dict_json(event: Event) -> None:
    assert event_data(event) == orjson.dumps(event.to_dict())


SIDES = st.sampled_from(["buy", "sell"]) | TEXT
TRADES = st.builds(TradeExecuted, TEXT, INT, INT, INT, SIDES, *[INT] * 6, INT)


@settings(max_examples=300, deadline=None)
@given(TRADES)
def test_spliced_fills_are_the_fills_to_dict_json(trade: TradeExecuted) -> None:
    taker, maker = trade.fills()
    assert fill_data(trade) == (orjson.dumps(taker.to_dict()), orjson.dumps(maker.to_dict()))
