"""Every event the command API stores has a class that reproduces its stored data exactly
(placements without their default values, batch legs without their batch's user and time), and
events stored before in full read the same."""

from __future__ import annotations

from typing import Any

import pytest

from command_api import idempotency
from command_api.routes.common import STATUS_OF
from command_api.services import funding, order_changes, orders
from command_api.services.base import Context
from domain import registry_events, streams
from domain.errors import DomainError
from domain.events import Event, event_from_dict, event_types
from domain.instrument import Instrument
from domain.order_requests import BatchPlaced, OrderPlaced, stored_leg
from domain.registry_events import InstrumentListed, OrderPlacedInBatch, placed_in_batch_data
from event_store.memory import InMemoryEventStore
from event_store.model import RecordedEvent
from tests.unit.command_api.conftest import NOW, buy, list_acme, new_user


async def _trade_a_little(ctx: Context) -> None:
    """One of every write the command API makes, an idempotent one included."""
    await list_acme(ctx)
    user_id = await new_user(ctx)
    await funding.deposit(ctx, user_id, "ACME", 5, None)
    await funding.withdraw(ctx, user_id, "ACME", 1, None)
    claim = idempotency.claim(str(user_id), "k", "POST", "/v1/orders", {}, STATUS_OF)
    single = await orders.place_order(ctx, user_id, buy(client_order_id="one"), claim)
    legs = [buy("1.00", 1, client_order_id="leg-0"), buy("2.00", 2)]
    batch_claim = idempotency.claim(str(user_id), "b", "POST", "/v1/orders/batch", {}, STATUS_OF)
    await orders.place_batch(ctx, user_id, legs, True, batch_claim)
    await order_changes.amend_order(ctx, user_id, single.body["order_id"], None, "11.00", None)
    await order_changes.cancel_order(ctx, user_id, single.body["order_id"], None)


@pytest.mark.parametrize(
    ("constant", "stored_name"),
    [
        (streams.USER_REGISTERED, "UserRegistered"),
        (streams.USERNAME_CLAIMED, "UsernameClaimed"),
        (streams.API_KEY_ISSUED, "ApiKeyIssued"),
        (streams.INSTRUMENT_LISTED, "InstrumentListed"),
        (streams.ORDER_PLACED_IN_BATCH, "OrderPlacedInBatch"),
        (streams.CLIENT_ORDER_ID_CLAIMED, "ClientOrderIdClaimed"),
        (streams.IDEMPOTENT_RESPONSE_RECORDED, "IdempotentResponseRecorded"),
        (streams.IDEMPOTENT_BATCH_RESPONSE_RECORDED, "IdempotentBatchResponseRecorded"),
    ],
)
def test_the_stored_type_names_never_change(constant: str, stored_name: str) -> None:
    assert constant == stored_name
    assert event_types()[stored_name].__module__ == registry_events.__name__


async def test_every_stored_event_is_restored_by_its_class_to_the_same_data(
    ctx: Context, store: InMemoryEventStore
) -> None:
    await _trade_a_little(ctx)

    stored = await store.read_all()

    assert {e.type for e in stored} >= {
        "UserRegistered", "UsernameClaimed", "ApiKeyIssued", "InstrumentListed",
        "OrderPlacedInBatch", "ClientOrderIdClaimed", "IdempotentResponseRecorded",
        "IdempotentBatchResponseRecorded", "BatchPlaced",
    }  # fmt: skip
    for recorded in stored:
        restored = event_from_dict(recorded.type, recorded.data)
        assert type(restored).__name__ == recorded.type
        assert list(_stored_form(restored).items()) == list(recorded.data.items()), recorded.type


# As the command API stored them before default values were left out (from a test stack).
OLD_BATCH: dict[str, Any] = {
    "batch_id": 5, "user_id": 9, "all_or_nothing": False,
    "orders": [
        {"symbol": "L5", "order_id": 6, "user_id": 9, "side": "buy", "order_type": "limit",
         "price": 9988, "quantity": 76, "time_in_force": "GTC", "post_only": False,
         "max_notional": None, "expires_at": None, "client_order_id": "c0", "at": 17},
        {"symbol": "L5", "order_id": 7, "user_id": 9, "side": "sell", "order_type": "market",
         "price": None, "quantity": 3, "time_in_force": "IOC", "post_only": False,
         "max_notional": None, "expires_at": None, "client_order_id": None, "at": 17},
    ],
    "at": 17,
}  # fmt: skip
OLD_LEG = {**OLD_BATCH["orders"][1], "batch_id": 5}
NEW_BATCH: dict[str, Any] = {
    "batch_id": 5, "user_id": 9, "all_or_nothing": False,
    "orders": [
        {"symbol": "L5", "order_id": 6, "side": "buy", "order_type": "limit", "price": 9988,
         "quantity": 76, "time_in_force": "GTC", "client_order_id": "c0"},
        {"symbol": "L5", "order_id": 7, "side": "sell", "order_type": "market", "price": None,
         "quantity": 3, "time_in_force": "IOC"},
    ],
    "at": 17,
}  # fmt: skip
NEW_LEG = {
    "symbol": "L5", "order_id": 7, "user_id": 9, "side": "sell", "order_type": "market",
    "price": None, "quantity": 3, "time_in_force": "IOC", "at": 17, "batch_id": 5,
}  # fmt: skip


def test_placements_stored_in_full_before_read_as_the_slim_ones_do() -> None:
    legs = (
        OrderPlaced("L5", 6, 9, "buy", "limit", 9988, 76, "GTC", False, None, None, "c0", 17),
        OrderPlaced("L5", 7, 9, "sell", "market", None, 3, "IOC", False, None, None, None, 17),
    )

    old_batch, new_batch = (event_from_dict("BatchPlaced", d) for d in (OLD_BATCH, NEW_BATCH))
    old_leg, new_leg = (event_from_dict("OrderPlacedInBatch", d) for d in (OLD_LEG, NEW_LEG))

    assert old_batch == new_batch == BatchPlaced(5, 9, False, legs, 17)
    assert old_leg == new_leg == OrderPlacedInBatch.of(legs[1], 5)
    assert old_batch.to_command() == new_batch.to_command()  # type: ignore[attr-defined]
    assert _stored_form(old_batch) == NEW_BATCH and _stored_form(old_leg) == NEW_LEG


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("OrderPlacedInBatch", {**NEW_LEG, "surprise": 1}),
        ("OrderPlacedInBatch", {k: v for k, v in NEW_LEG.items() if k != "quantity"}),
        ("BatchPlaced", {**NEW_BATCH, "orders": [{**NEW_BATCH["orders"][0], "x": 1}]}),
    ],
)
def test_a_placement_missing_a_required_field_or_naming_an_unknown_one_is_refused(
    event_type: str, data: dict[str, object]
) -> None:
    with pytest.raises(DomainError):
        event_from_dict(event_type, data)


async def test_a_batch_leg_on_its_order_stream_is_the_leg_the_engine_receives(
    ctx: Context, store: InMemoryEventStore
) -> None:
    await _trade_a_little(ctx)

    stored = await store.read_all()

    (batch_event,) = _of_type(stored, "BatchPlaced")
    batch = event_from_dict(batch_event.type, batch_event.data)
    legs = [event_from_dict(e.type, e.data) for e in _of_type(stored, "OrderPlacedInBatch")]
    assert isinstance(batch, BatchPlaced)
    assert all(isinstance(leg, OrderPlacedInBatch) for leg in legs)
    assert [leg.placed() for leg in legs if isinstance(leg, OrderPlacedInBatch)] == list(
        batch.orders
    )
    assert [OrderPlacedInBatch.of(o, batch.batch_id) for o in batch.orders] == legs


def test_a_listing_holds_the_instrument_and_its_time() -> None:
    instrument = Instrument.create("ACME", "0.05", 10, "cancel_newest", 1, 2, "EUR")

    listed = InstrumentListed.of(instrument, NOW)

    assert listed.to_dict() == {**instrument.to_dict(), "at": NOW}
    assert Instrument.from_dict({k: v for k, v in listed.to_dict().items() if k != "at"}) == (
        instrument
    )


def _of_type(events: list[RecordedEvent], name: str) -> list[RecordedEvent]:
    return [e for e in events if e.type == name]


def _stored_form(event: Event) -> dict[str, object]:
    """What the command API stores for ``event``: ``to_dict()``; a batch's legs without default
    values or the batch's user and time, and its legs' order streams without default values."""
    data = event.to_dict()
    if isinstance(event, BatchPlaced):
        data["orders"] = [stored_leg(leg, event.user_id, event.at) for leg in event.orders]
    if not isinstance(event, OrderPlacedInBatch):
        return data
    defaults = type(event).DEFAULTS
    return {k: v for k, v in data.items() if k not in defaults or v != defaults[k]}


def test_a_leg_not_of_its_batchs_user_or_time_keeps_its_own() -> None:
    leg = OrderPlaced("L5", 7, 8, "sell", "market", None, 3, "IOC", True, None, None, None, 16)
    batch = BatchPlaced(5, 9, False, (leg,), 17)

    stored = stored_leg(leg, 9, 17)
    on_its_stream = placed_in_batch_data(stored, 9, 17, 5)

    assert event_from_dict("BatchPlaced", {**batch.to_dict(), "orders": [stored]}) == batch
    assert event_from_dict("OrderPlacedInBatch", on_its_stream) == OrderPlacedInBatch.of(leg, 5)
    assert list(on_its_stream) == [f for f in OrderPlacedInBatch.FIELDS if f in on_its_stream]


@pytest.mark.parametrize(
    "order",
    [
        OrderPlaced("L5", 6, 9, "buy", "limit", 9988, 76, "GTC", False, None, None, "c0", 17),
        OrderPlaced("L5", 7, 9, "buy", "market", None, 3, "IOC", False, 500, None, None, 17),
        OrderPlaced("L5", 8, 9, "sell", "limit", 10, 1, "DAY", True, None, 99, None, 17),
    ],
)
def test_a_single_orders_stored_data_is_its_to_dict_in_field_order(order: OrderPlaced) -> None:
    assert list(orders.placed_data(order).items()) == list(order.to_dict().items())


_ENGINE_INPUTS = {"OrderPlaced", "CancelRequested", "AmendRequested", "BatchPlaced"}


async def test_every_stored_event_carries_the_requests_metadata_and_engine_inputs_their_route(
    ctx: Context, store: InMemoryEventStore
) -> None:
    await _trade_a_little(ctx)

    stored = await store.read_all()

    records = {"IdempotentResponseRecorded", "IdempotentBatchResponseRecorded"}
    for recorded in stored:
        if recorded.type in records:
            assert recorded.metadata == {}, recorded.type
            continue
        assert set(recorded.metadata) >= {"correlation_id", "actor"}, recorded.type
        route = recorded.metadata.get("order_symbol")
        assert route == ("ACME" if recorded.type in _ENGINE_INPUTS else None), recorded.type
