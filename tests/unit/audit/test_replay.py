"""replay_symbol: a symbol's book at any position, rebuilt from its stored engine inputs."""

from __future__ import annotations

import pytest

from domain.commands import Side, TimeInForce
from domain.events import Event
from domain.instrument import Instrument
from domain.order_requests import CancelRequested, OrderPlaced, SessionClosed
from event_store import InMemoryEventStore, NewEvent, StreamAppend
from event_store.audit import UnknownLifecycle
from event_store.outbox import order_route
from workers.replay import replay_symbol

ACME = Instrument.create("ACME")


def placed(order_id: int, user_id: int, side: Side, price: int, quantity: int, at: int,
           tif: TimeInForce = "GTC", expires_at: int | None = None) -> OrderPlaced:  # fmt: skip
    """An order as the command API appends it."""
    return OrderPlaced("ACME", order_id, user_id, side, "limit", price, quantity, tif,
                       False, None, expires_at, None, at)  # fmt: skip


async def append(store: InMemoryEventStore, stream: str, event: Event, symbol: str) -> int:
    """Append one engine input (routed to ``symbol``) and return its position."""
    meta = {"actor": "test", **order_route(symbol)}
    new = NewEvent(event.event_type, event.to_dict(), meta)
    return (await store.append(StreamAppend(stream, [new]))).last_position


@pytest.fixture
async def store() -> InMemoryEventStore:
    """A store with ACME listed, two sells, a crossing buy, a cancel and a session close."""
    store = InMemoryEventStore()
    listing = NewEvent("InstrumentListed", {**ACME.to_dict(), "at": 1})
    await store.append(StreamAppend("instrument-ACME", [listing]))
    await append(store, "order-1", placed(1, 10, "sell", 10100, 5, 2), "ACME")
    await append(store, "order-2", placed(2, 10, "sell", 10200, 3, 3, "DAY", 100), "ACME")
    await append(store, "order-9", placed(9, 99, "sell", 5, 1, 4), "OTHER")  # another symbol
    await append(store, "order-3", placed(3, 11, "buy", 10100, 2, 5), "ACME")
    await append(store, "order-1", CancelRequested("ACME", 1, 10, 6), "ACME")
    await append(store, "session-ACME", SessionClosed("ACME", 100), "ACME")
    return store


@pytest.mark.parametrize(
    ("position", "asks", "trades"),
    [
        (1, [], 0),
        (2, [(10100, 5)], 0),
        (4, [(10100, 5), (10200, 3)], 0),
        (5, [(10100, 3), (10200, 3)], 1),
        (6, [(10200, 3)], 1),
        (7, [], 1),
    ],
)
async def test_the_book_at_a_position_reflects_the_inputs_up_to_it(
    store: InMemoryEventStore, position: int, asks: list[tuple[int, int]], trades: int
) -> None:
    engine = await replay_symbol(store, "ACME", position)

    book = engine.book("ACME")
    assert book.asks.depth() == asks and book.bids.depth() == []
    assert book.trade_seq == trades


async def test_an_unlisted_symbol_cannot_be_replayed(store: InMemoryEventStore) -> None:
    with pytest.raises(UnknownLifecycle):
        await replay_symbol(store, "NOPE", 10)
