"""Time-travel views: an order's status and an account's balances after each event."""

from __future__ import annotations

import pytest

from cli.audit.state import account_state, order_state
from domain.account_events import FundsDeposited, FundsReleased, FundsReserved, TradeSettled
from domain.events import Event
from domain.instrument import Instrument
from domain.order_events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderReduced,
)
from domain.order_requests import CancelRequested, OrderPlaced
from domain.rejections import OrderRejected
from event_store.model import RecordedEvent
from tests.unit.audit.builders import recorded

ACME = Instrument.create("ACME")
PLACED = OrderPlaced("ACME", 7, 42, "sell", "limit", 10100, 10, "GTC", False, None, None, "c7", 1)


def stored(*events: Event, stream: str = "order-7") -> list[RecordedEvent]:
    """The events as the order's (or an account's) stream holds them, from position 1."""
    return [
        recorded(i, e.event_type, e.to_dict(), stream, version=i) for i, e in enumerate(events, 1)
    ]


def test_a_placed_order_is_accepted_with_everything_open() -> None:
    state = order_state(stored(PLACED), ACME, 1)

    assert state is not None
    assert (state.status, state.filled_quantity, state.remaining_quantity) == ("accepted", 0, 10)
    assert state.price == "101.00" and state.client_order_id == "c7"


@pytest.mark.parametrize(
    ("events", "status", "filled", "remaining", "reason"),
    [
        ([OrderAccepted("ACME", 7, 42, "sell", "limit", 10100, 10, "GTC", False, 2)],
         "accepted", 0, 10, None),
        ([OrderFilled("ACME", 7, 42, 1, "sell", 10100, 4, 6, "maker", 2)],
         "partially_filled", 4, 6, None),
        ([OrderFilled("ACME", 7, 42, 1, "sell", 10100, 4, 6, "maker", 2),
          OrderFilled("ACME", 7, 42, 2, "sell", 10100, 6, 0, "maker", 3)],
         "filled", 10, 0, None),
        ([OrderFilled("ACME", 7, 42, 1, "sell", 10100, 4, 6, "maker", 2),
          CancelRequested("ACME", 7, 42, 3),
          OrderCancelled("ACME", 7, 42, 6, "USER", 4)],
         "cancelled", 4, 0, "USER"),
        ([OrderExpired("ACME", 7, 42, 10, "DAY_END", 2)], "expired", 0, 0, "DAY_END"),
        ([OrderRejected("ACME", 7, 42, "POST_ONLY_WOULD_CROSS", 2)],
         "rejected", 0, 0, "POST_ONLY_WOULD_CROSS"),
        ([OrderReduced("ACME", 7, 42, 3, 7, "SELF_TRADE", 2)], "accepted", 0, 7, None),
        ([OrderAmended("ACME", 7, 42, 10200, 8, 8, False, 2)], "accepted", 0, 8, None),
    ],
)  # fmt: skip
def test_the_engine_events_move_the_status(
    events: list[Event], status: str, filled: int, remaining: int, reason: str | None
) -> None:
    history = stored(PLACED, *events)

    state = order_state(history, ACME, history[-1].position)

    assert state is not None
    assert (state.status, state.filled_quantity, state.remaining_quantity) == (
        status,
        filled,
        remaining,
    )
    assert state.reason == reason and state.last_event == events[-1].event_type


def test_a_cancel_request_alone_changes_no_status() -> None:
    state = order_state(stored(PLACED, CancelRequested("ACME", 7, 42, 2)), ACME, 2)

    assert state is not None and state.status == "accepted" and state.cancel_requested


def test_no_placement_no_order() -> None:
    assert order_state([], ACME, 5) is None


def test_an_account_shows_cash_in_decimals_and_shares_as_counts() -> None:
    events = stored(
        FundsDeposited(42, "USD", 100_000, 1),
        FundsReserved(42, "USD", 40_400, 9, "ACME", "buy", 2),
        TradeSettled(42, "ACME", 1, 9, "buy", 10100, 2, "taker", "USD", -20_200, 0, 2, 20_200, 3),
        FundsReleased(42, "USD", 20_200, 9, "ORDER_CLOSED", 4),
        stream="account-42",
    )

    state = account_state(42, events, 4)

    usd, acme = state.balances["USD"], state.balances["ACME"]
    assert (usd.total, usd.available, usd.held) == ("798.00", "798.00", "0.00")
    assert (acme.total, acme.available, acme.held) == ("2", "2", "0")
    assert state.open_holds == 0 and state.version == 4


def test_an_account_part_way_holds_what_its_open_orders_reserved() -> None:
    events = stored(
        FundsDeposited(42, "USD", 100_000, 1),
        FundsReserved(42, "USD", 40_400, 9, "ACME", "buy", 2),
        stream="account-42",
    )

    usd = account_state(42, events, 2).balances["USD"]

    assert (usd.total, usd.available, usd.held) == ("1000.00", "596.00", "404.00")
