"""Every event the command API stores has a class that reproduces its stored data exactly."""

from __future__ import annotations

import pytest

from command_api import idempotency
from command_api.routes.common import STATUS_OF
from command_api.services import funding, order_changes, orders
from command_api.services.base import Context
from domain import registry_events, streams
from domain.events import event_from_dict, event_types
from domain.instrument import Instrument
from domain.order_requests import BatchPlaced
from domain.registry_events import InstrumentListed, OrderPlacedInBatch
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
    await orders.place_batch(ctx, user_id, legs, True, None)
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
    }  # fmt: skip
    for recorded in stored:
        restored = event_from_dict(recorded.type, recorded.data)
        assert type(restored).__name__ == recorded.type
        assert list(restored.to_dict().items()) == list(recorded.data.items()), recorded.type


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
