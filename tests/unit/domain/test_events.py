"""Events are immutable, JSON-able, and come back equal from their stored form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain import (
    BatchPlaced,
    CancelOrder,
    DomainError,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    NewOrder,
    OrderCancelled,
    OrderExpired,
    OrderPlaced,
    TradeExecuted,
    event_from_dict,
    event_types,
)
from domain.commands import cancel_order, new_order
from domain.events import Record


def _sample(cls: type[Event]) -> Event:
    """An instance of ``cls`` with a plausible value in every field."""
    values: list[object] = []
    for name in cls.FIELDS:
        if name == "orders":
            values.append(
                (
                    OrderPlaced(
                        "ACME", 1, 2, "buy", "limit", 100, 5, "GTC", False, None, None, "c1", 3
                    ),
                )
            )
        elif name == "order_ids":
            values.append((1, 2))
        elif name == "holds":
            values.append((("USD", 100, 1, "ACME", "buy"), ("ACME", 5, 2, "ACME", "sell")))
        elif name in ("side", "taker_side"):
            values.append("buy")
        elif name in (
            "symbol",
            "asset",
            "currency",
            "reason",
            "order_type",
            "time_in_force",
            "client_order_id",
        ):
            values.append("X")
        elif name in ("post_only", "priority_kept", "all_or_nothing"):
            values.append(True)
        elif name == "liquidity":
            values.append("maker")
        else:
            values.append(len(values) + 1)
    factory: Any = cls
    event: Event = factory(*values)
    return event


@pytest.mark.parametrize("name", sorted(event_types()))
def test_every_event_type_round_trips_through_json(name: str) -> None:
    event = _sample(event_types()[name])

    stored = json.loads(json.dumps(event.to_dict()))

    assert event_from_dict(event.event_type, stored) == event


@pytest.mark.parametrize("name", sorted(event_types()))
def test_an_event_s_own_to_dict_is_the_generic_one_key_order_included(name: str) -> None:
    event = _sample(event_types()[name])  # (FundsReserved spells its out: see there)

    assert list(event.to_dict().items()) == list(Record.to_dict(event).items())


def test_events_of_different_types_with_equal_fields_are_not_equal() -> None:
    assert OrderCancelled("ACME", 1, 2, 3, "R", 4) != OrderExpired("ACME", 1, 2, 3, "R", 4)
    assert FundsDeposited(1, "USD", 5, 0) != FundsWithdrawn(1, "USD", 5, 0)


def test_events_are_values_equal_by_type_and_fields_and_hashable() -> None:
    trade = TradeExecuted("ACME", 1, 100, 5, "buy", 1, 2, 0, 3, 4, 0, 9)
    same = TradeExecuted("ACME", 1, 100, 5, "buy", 1, 2, 0, 3, 4, 0, 9)

    assert trade == same and hash(trade) == hash(same)
    assert trade != trade.replace(price=101)


def test_unknown_event_type_is_a_domain_error() -> None:
    with pytest.raises(DomainError):
        event_from_dict("NoSuchEvent", {})


def test_trade_splits_into_one_fill_per_order() -> None:
    trade = TradeExecuted("ACME", 1, 100, 5, "buy", 10, 20, 0, 11, 21, 3, 9)

    taker, maker = trade.fills()

    assert (taker.order_id, taker.side, taker.remaining, taker.liquidity) == (10, "buy", 0, "taker")
    assert (maker.order_id, maker.side, maker.remaining, maker.liquidity) == (
        11,
        "sell",
        3,
        "maker",
    )


def test_requests_from_the_command_api_turn_into_engine_commands() -> None:
    placed = OrderPlaced("ACME", 1, 2, "buy", "limit", 100, 5, "GTC", False, None, None, "c1", 3)

    batch = BatchPlaced(7, 2, True, (placed,), 4)

    assert placed.to_command() == NewOrder("ACME", 1, 2, "buy", "limit", 100, 5, "GTC", 3)
    assert batch.to_command().orders == (placed.to_command(),)


def test_command_factories_build_the_same_commands_as_the_classes() -> None:
    assert new_order("ACME", 1, 2, "buy", "limit", 100, 5) == NewOrder(
        "ACME", 1, 2, "buy", "limit", 100, 5
    )
    assert cancel_order("ACME", 1, 2, 9) == CancelOrder("ACME", 1, 2, 9)
