"""The settlement worker's fast codec equals the reference path, on random batches.

Inputs: a relayed message decoded by ``input_from_message`` gives what ``event_from_message``
then ``input_from_event`` give. Bookings: ``Bookings`` must make, stream by stream and row by
row, the append that the domain's decisions (``Account.settle_fill`` / ``release_order`` /
``net_fees``), ``NewEvent`` and ``encode_append`` make (only the fresh event ids differ), leave
the cached accounts in the same state, and refuse exactly the batches the reference refuses.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import streams
from domain.account import Account
from domain.instrument import Instrument
from domain.order_events import OrderCancelled, OrderExpired, OrderFilled
from event_store.model import NewEvent, StreamAppend
from event_store.outbox import event_from_message
from event_store.planning import EncodedAppend
from workers.settlement_codec import (
    Bookings,
    SettlementError,
    SettlementInput,
    book_reference,
    input_from_event,
    input_from_message,
)

SYMBOL = "ACME"
USERS = (1, 2, 3)
ORDERS = {
    order_id: (USERS[order_id % 3], "buy" if order_id % 2 else "sell") for order_id in range(1, 9)
}
AT = 1_700_000_000_000_000_000
FENCE = "settlement-0"


@dataclass(frozen=True, slots=True)
class Step:
    """One input: a fill of ``order_id`` or its close."""

    kind: str
    order_id: int
    price: int
    quantity: int
    remaining: int
    maker: bool


STEPS = st.builds(
    Step,
    st.sampled_from(("fill", "fill", "fill", "cancel", "expire")),
    st.sampled_from(sorted(ORDERS)),
    st.integers(95, 105),
    st.integers(1, 40),
    st.sampled_from((0, 0, 5)),
    st.booleans(),
)


def accounts_with_holds(instrument: Instrument, holds: dict[int, int]) -> dict[int, Account]:
    """Funded accounts where each order holds ``holds[order]`` shares' worth (at 100.00)."""
    accounts = {user: Account(user) for user in USERS}
    for account in accounts.values():
        account.deposit("USD", 10**9, AT)
        account.deposit(SYMBOL, 10**6, AT)
    for order_id, quantity in holds.items():
        user, side = ORDERS[order_id]
        accounts[user].reserve_order(
            instrument,
            order_id,
            side,
            "limit",
            quantity,
            10_000,
            AT,  # type: ignore[arg-type]
        )
    return accounts


def input_of(position: int, step: Step) -> SettlementInput:
    user, side = ORDERS[step.order_id]
    if step.kind == "fill":
        event: Any = OrderFilled(
            SYMBOL, step.order_id, user, position, side, step.price * 100, step.quantity,  # type: ignore[arg-type]
            step.remaining, "maker" if step.maker else "taker", AT + position,
        )  # fmt: skip
    elif step.kind == "cancel":
        event = OrderCancelled(SYMBOL, step.order_id, user, 1, "USER_REQUESTED", AT + position)
    else:
        event = OrderExpired(SYMBOL, step.order_id, user, 1, "DAY", AT + position)
    return SettlementInput(
        position,
        streams.order(step.order_id),
        event.event_type,
        event.to_dict(),
        str(uuid.uuid4()),
        f"corr-{position % 3}",
    )


def without_ids(append: EncodedAppend) -> list[Any]:
    """The append's streams, versions and rows, event ids left out."""
    return [
        (s.stream_id, s.expected_version, [row[1:] for row in s.events]) for s in append.streams
    ]


def fast(
    accounts: dict[int, Account], instrument: Instrument, inputs: list[SettlementInput]
) -> Any:
    versions = {user: account.version for user, account in accounts.items()}
    bookings = Bookings({SYMBOL: instrument})
    try:
        for item in inputs:
            user = item.data["user_id"]
            bookings.book(accounts[user], versions[user], item)
    except SettlementError:
        return "refused"
    checkpoint = ("id", "SettlementInputConsumed", 1, b'{"p":1}', b'{"actor":"settlement"}')
    return without_ids(bookings.append(FENCE, 4, checkpoint))


def reference(
    accounts: dict[int, Account], instrument: Instrument, inputs: list[SettlementInput]
) -> Any:
    versions = {user: account.version for user, account in accounts.items()}
    fence = StreamAppend(
        FENCE, [NewEvent("SettlementInputConsumed", {"p": 1}, {"actor": "settlement"})], 4
    )
    try:
        append = book_reference(
            accounts.__getitem__, versions.__getitem__, {SYMBOL: instrument}, inputs, fence
        )
    except SettlementError:
        return "refused"
    return without_ids(append)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(sorted(ORDERS)), st.integers(1, 60), max_size=8),
    st.lists(STEPS, max_size=25),
    st.integers(0, 30),
    st.integers(0, 30),
)
def test_bookings_make_the_reference_append_and_state(
    holds: dict[int, int], steps: list[Step], maker_bps: int, taker_bps: int
) -> None:
    instrument = Instrument.create(
        SYMBOL, self_trade="cancel_newest", maker_fee_bps=maker_bps, taker_fee_bps=taker_bps
    )
    inputs = [input_of(position, step) for position, step in enumerate(steps, start=10)]
    ours = accounts_with_holds(instrument, holds)
    theirs = {user: account.copy() for user, account in ours.items()}

    booked = fast(ours, instrument, inputs)
    expected = reference(theirs, instrument, inputs)

    assert booked == expected
    if booked != "refused":
        assert {u: a.snapshot() for u, a in ours.items()} == {
            u: a.snapshot() for u, a in theirs.items()
        }


def test_a_fill_whose_fields_are_not_the_fills_is_refused() -> None:
    instrument = Instrument.create(SYMBOL)
    accounts = accounts_with_holds(instrument, {1: 10})
    item = input_of(10, Step("fill", 1, 100, 1, 0, True))
    odd = item._replace(data={**item.data, "extra": 1})

    assert fast(accounts, instrument, [odd]) == "refused"
    assert reference(accounts, instrument, [odd]) == "refused"


def test_a_fill_in_an_unlisted_symbol_is_refused() -> None:
    accounts = accounts_with_holds(Instrument.create(SYMBOL), {1: 10})
    item = input_of(10, Step("fill", 1, 100, 1, 0, True))

    with pytest.raises(SettlementError, match="unlisted"):
        Bookings({}).book(accounts[ORDERS[1][0]], 1, item)


def test_a_batch_s_append_is_fresh_so_its_conflict_is_not_looked_up_as_a_retry() -> None:
    instrument = Instrument.create(SYMBOL)
    accounts = accounts_with_holds(instrument, {1: 10})
    user = ORDERS[1][0]
    checkpoint = ("id", "SettlementInputConsumed", 1, b'{"p":1}', b'{"actor":"settlement"}')
    first, again = Bookings({SYMBOL: instrument}), Bookings({SYMBOL: instrument})
    first.book(accounts[user], 1, input_of(10, Step("cancel", 1, 0, 0, 0, False)))
    append = first.append(FENCE, 4, checkpoint)
    first.undo()
    again.book(accounts[user], 1, input_of(10, Step("cancel", 1, 0, 0, 0, False)))
    decided_again = again.append(FENCE, 4, checkpoint)

    assert append.fresh
    account_ids = set(append.event_ids) - {checkpoint[0]}
    assert account_ids and account_ids.isdisjoint(decided_again.event_ids)


@given(st.integers(1, 10**12), st.sampled_from(("OrderFilled", "OrderCancelled")), st.text())
def test_a_message_decodes_as_its_stored_event(position: int, kind: str, correlation: str) -> None:
    relayed = {
        "position": position, "stream_id": "order-5", "stream_version": 3,
        "event_id": str(uuid.uuid4()), "type": kind, "schema_version": 1,
        "recorded_at": "2026-12-02T08:00:00.000000Z", "data": {"order_id": 5, "at": 1},
        "metadata": {"correlation_id": correlation, "causation_id": "x"},
    }  # fmt: skip
    value = orjson.dumps(relayed)

    assert input_from_message(value) == input_from_event(event_from_message(value))


def _state(account: Account) -> tuple[Any, ...]:
    """An account's state, a zero balance counted as no balance."""
    balances = {a: (b.total, b.held) for a, b in account.balances.items() if b.total or b.held}
    holds = {i: (h.symbol, h.side, h.asset, h.amount) for i, h in account.holds.items()}
    return account.version, balances, holds, dict(account._open_sides)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(sorted(ORDERS)), st.integers(1, 60), max_size=8),
    st.lists(STEPS, max_size=25),
)
def test_undoing_the_bookings_restores_the_accounts_and_their_versions(
    holds: dict[int, int], steps: list[Step]
) -> None:
    instrument = Instrument.create(SYMBOL, self_trade="cancel_newest", maker_fee_bps=7)
    accounts = accounts_with_holds(instrument, holds)
    before = {user: _state(account) for user, account in accounts.items()}
    bookings = Bookings({SYMBOL: instrument})
    for item in (input_of(position, step) for position, step in enumerate(steps, start=10)):
        try:
            bookings.book(accounts[item.data["user_id"]], 40 + item.data["user_id"], item)
        except SettlementError:
            break  # (a refused batch is undone as it stands)

    undone = bookings.undo()

    assert {user: _state(account) for user, account in accounts.items()} == before
    assert {user: version for user, (_, version) in undone.items()} == {
        user: 40 + user for user in undone
    }
