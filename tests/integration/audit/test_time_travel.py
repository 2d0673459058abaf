"""Time travel: an order, an account or a book at any position, rebuilt from the store."""

from __future__ import annotations

import pytest

from cli.audit.state import account_as_of, book_as_of, order_as_of
from domain import streams
from event_store.audit import UnknownLifecycle, order_lifecycle
from tests.integration.audit.scenario import Scenario

pytestmark = pytest.mark.integration

# (status, filled, remaining, cancel requested) of an order after each event of its lifecycle.
SELL_AFTER = {
    "OrderPlaced": ("accepted", 0, 10, False),
    "FundsReserved": ("accepted", 0, 10, False),
    "OrderAccepted": ("accepted", 0, 10, False),
    "OrderFilled": ("partially_filled", 4, 6, False),
    "TradeSettled": ("partially_filled", 4, 6, False),
    "CancelRequested": ("partially_filled", 4, 6, True),
    "OrderCancelled": ("cancelled", 4, 0, True),
    "FundsReleased": ("cancelled", 4, 0, True),
}
BUY_AFTER = {
    "OrderPlaced": ("accepted", 0, 4, False),
    "FundsReserved": ("accepted", 0, 4, False),
    "OrderAccepted": ("accepted", 0, 4, False),
    "OrderFilled": ("filled", 4, 0, False),
    "TradeSettled": ("filled", 4, 0, False),
}


@pytest.mark.parametrize(("order", "expected"), [("sell", SELL_AFTER), ("buy", BUY_AFTER)])
async def test_at_each_event_of_its_lifecycle_an_order_is_as_that_event_left_it(
    scenario: Scenario, order: str, expected: dict[str, tuple[str, int, int, bool]]
) -> None:
    order_id = getattr(scenario, order)
    lifecycle = await order_lifecycle(scenario.reader, order_id)
    placed_at = min(e.position for e in lifecycle if e.stream_id == streams.order(order_id))

    seen = {}
    for event in lifecycle:
        if event.position < placed_at:
            continue  # the hold is reserved in the placement's own append
        state = await order_as_of(scenario.reader, order_id, event.position)
        seen[event.type] = (
            state.status,
            state.filled_quantity,
            state.remaining_quantity,
            state.cancel_requested,
        )

    assert seen == {t: v for t, v in expected.items() if t in seen}
    assert set(seen) | {"FundsReserved"} == set(expected)


async def test_an_order_shows_its_terms_in_wire_form(scenario: Scenario) -> None:
    last = await scenario.reader.last_position()

    state = await order_as_of(scenario.reader, scenario.rest, last)

    assert (state.side, state.type, state.price, state.quantity) == ("buy", "limit", "100.00", 2)
    assert (state.user_id, state.symbol, state.status) == (
        scenario.buyer,
        scenario.symbol,
        "accepted",
    )


async def test_before_its_placement_an_order_does_not_exist(scenario: Scenario) -> None:
    lifecycle = await order_lifecycle(scenario.reader, scenario.sell)
    placed = next(e for e in lifecycle if e.type == "OrderPlaced")

    with pytest.raises(UnknownLifecycle):
        await order_as_of(scenario.reader, scenario.sell, placed.position - 1)


# (USD total, available, held), (shares total, available, held) or None, after each event of
# the account stream, in order.
BUYER_ACCOUNT = [
    (("1000.00", "1000.00", "0.00"), None),
    (("1000.00", "596.00", "404.00"), None),
    (("596.00", "596.00", "0.00"), ("4", "4", "0")),
    (("596.00", "396.00", "200.00"), ("4", "4", "0")),
]
SELLER_ACCOUNT = [
    (("1000.00", "1000.00", "0.00"), None),
    (("1000.00", "1000.00", "0.00"), ("10", "10", "0")),
    (("1000.00", "1000.00", "0.00"), ("10", "0", "10")),
    (("1404.00", "1404.00", "0.00"), ("6", "0", "6")),
    (("1404.00", "1404.00", "0.00"), ("6", "6", "0")),
]


@pytest.mark.parametrize(
    ("user", "expected"), [("buyer", BUYER_ACCOUNT), ("seller", SELLER_ACCOUNT)]
)
async def test_an_account_as_of_each_of_its_events(
    scenario: Scenario, user: str, expected: list[tuple[tuple[str, ...], tuple[str, ...] | None]]
) -> None:
    user_id = getattr(scenario, user)
    events = await scenario.reader.read_streams([streams.account(user_id)])

    seen = []
    for event in events:
        state = await account_as_of(scenario.reader, user_id, event.position)
        usd, shares = state.balances["USD"], state.balances.get(scenario.symbol)
        seen.append(
            (
                (usd.total, usd.available, usd.held),
                None if shares is None else (shares.total, shares.available, shares.held),
            )
        )

    assert seen == expected


async def test_before_its_first_deposit_an_account_is_empty(scenario: Scenario) -> None:
    events = await scenario.reader.read_streams([streams.account(scenario.buyer)])

    state = await account_as_of(scenario.reader, scenario.buyer, events[0].position - 1)

    assert state.balances == {} and state.version == 0


async def test_the_book_as_of_each_engine_input(scenario: Scenario) -> None:
    reader, symbol = scenario.reader, scenario.symbol
    listed = await reader.first_event(streams.instrument(symbol))
    assert listed is not None
    inputs = [
        (await reader.first_event(streams.order(scenario.sell))),
        (await reader.first_event(streams.order(scenario.buy))),
        next(
            e
            for e in await reader.read_streams([streams.order(scenario.sell)])
            if e.type == "CancelRequested"
        ),
        (await reader.first_event(streams.order(scenario.rest))),
    ]
    positions = [listed.position, *(e.position for e in inputs if e is not None)]

    books = [await book_as_of(reader, symbol, position) for position in positions]

    assert [(b.bids, b.asks, b.trades) for b in books] == [
        ([], [], 0),
        ([], [("101.00", 10)], 0),
        ([], [("101.00", 6)], 1),
        ([], [], 1),
        ([("100.00", 2)], [], 1),
    ]


async def test_the_book_between_inputs_is_the_book_after_the_last_one(scenario: Scenario) -> None:
    sell_events = await scenario.reader.read_streams([streams.order(scenario.sell)])
    accepted = next(e for e in sell_events if e.type == "OrderAccepted")

    book = await book_as_of(scenario.reader, scenario.symbol, accepted.position)

    assert book.asks == [("101.00", 10)] and book.open_orders == 1
