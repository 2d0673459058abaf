"""``unfold_account_data`` takes a decision's events back out of an account exactly: after any
history (reservations, fills, releases, deposits) and any decisions on top (reservations,
amends, deposits, withdrawals, some refused), the account equals a fresh fold of the history
alone: same balances (no balance a deposit opened is left behind), holds, open sides, version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.account import Account
from domain.account_events import FundsReleased, TradeSettled
from domain.errors import DomainError
from domain.events import Event
from domain.folds import fold_account, unfold_account_data
from domain.instrument import Instrument
from tests.unit.domain.builders import account_state
from tests.unit.domain.test_fold_account_data import Stored

USER = 7
AT = 1_700_000_000_000_000_000
SYMBOLS = ("ACME", "BOLT")
INSTRUMENTS = {s: Instrument(s, self_trade="cancel_newest") for s in SYMBOLS}


@dataclass(frozen=True, slots=True)
class Decided:
    """A decided event as the command API holds it (the store's ``NewEvent`` shape)."""

    type: str
    data: dict[str, Any]


OPS = st.one_of(
    st.tuples(st.just("deposit"), st.sampled_from(("USD", "EUR", *SYMBOLS)), st.integers(1, 10**6)),
    st.tuples(st.just("withdraw"), st.sampled_from(("USD", *SYMBOLS)), st.integers(1, 10**6)),
    st.tuples(st.just("buy"), st.sampled_from(SYMBOLS), st.integers(1, 50), st.integers(1, 999)),
    st.tuples(st.just("sell"), st.sampled_from(SYMBOLS), st.integers(1, 50)),
    st.tuples(st.just("amend"), st.integers(0, 30), st.integers(1, 5000)),
    st.tuples(st.just("fill"), st.integers(0, 30), st.integers(1, 20)),
    st.tuples(st.just("close"), st.integers(0, 30)),
    st.tuples(
        st.just("batch"),
        st.sampled_from(SYMBOLS),
        st.lists(st.tuples(st.integers(1, 50), st.integers(1, 999)), min_size=1, max_size=4),
    ),
)
DECISIONS = OPS.filter(lambda op: op[0] in ("deposit", "withdraw", "buy", "sell", "amend", "batch"))


def _decide(account: Account, op: tuple[Any, ...], order_id: int) -> list[Event]:
    """One of the domain's decisions, or (for a history) what settlement books; refused: []."""
    kind, *args = op
    holds = sorted(account.holds)
    if kind == "batch":
        return _batch(account, args[0], args[1], order_id)
    try:
        if kind in ("deposit", "withdraw"):
            return getattr(account, kind)(args[0], args[1], AT)  # type: ignore[no-any-return]
        if kind in ("buy", "sell"):
            quantity = args[1]
            price = args[2] if kind == "buy" else 100
            return account.reserve_order(
                INSTRUMENTS[args[0]], order_id, kind, "limit", quantity, price, AT
            )
        if not holds:
            return []
        hold = account.holds[holds[args[0] % len(holds)]]
        if kind == "amend":
            return account.adjust_hold(hold.order_id, hold.amount + args[1], AT)
        if kind == "close":
            return account.release_order(hold.order_id, "ORDER_CLOSED", AT)
        return _fill(account, hold.order_id, args[1])
    except DomainError:
        return []


def _batch(
    account: Account, symbol: str, legs: list[tuple[int, int]], order_id: int
) -> list[Event]:
    """A batch of buys reserved leg by leg and recorded as one ``BatchFundsReserved`` (the
    command API's); refused: its legs taken back, []."""
    assets, reserved = len(account.balances), []
    try:
        for n, (quantity, price) in enumerate(legs):
            reserved += account.reserve_order(
                INSTRUMENTS[symbol], order_id * 10 + n, "buy", "limit", quantity, price, AT
            )
    except DomainError:
        decided = [Decided(e.event_type, e.to_dict()) for e in reserved]
        assert unfold_account_data(account, decided, assets)
        return []
    return [account.as_batch(reserved, order_id, AT)]


def _fill(account: Account, order_id: int, share: int) -> list[Event]:
    """Settlement's booking of part of the hold (a price that uses ``share``/20 of it)."""
    hold = account.holds[order_id]
    used = max(1, hold.amount * share // 20)
    buy = hold.side == "buy"
    settled = TradeSettled(
        USER, hold.symbol, order_id, order_id, hold.side, 100, 1, "maker", "USD",
        -used if buy else used, 0, 1 if buy else -used, used, AT,
    )  # fmt: skip
    account.apply(settled)
    events: list[Event] = [settled]
    if order_id in account.holds and share == 20:
        released = FundsReleased(USER, hold.asset, hold.amount, order_id, "ORDER_CLOSED", AT)
        account.apply(released)
        events.append(released)
    return events


def _fresh_fold(history: list[Event]) -> Account:
    account = Account(USER)
    rows = [Stored(e.event_type, e.to_dict(), n + 1, n + 1) for n, e in enumerate(history)]
    fold_account(account, rows)
    return account


@settings(max_examples=300, deadline=None)
@given(st.lists(OPS, max_size=40), st.lists(DECISIONS, min_size=1, max_size=12))
def test_taking_decisions_back_leaves_the_fresh_fold_of_the_history(
    history_ops: list[tuple[Any, ...]], decision_ops: list[tuple[Any, ...]]
) -> None:
    account = Account(USER)
    history: list[Event] = []
    for n, op in enumerate(history_ops):
        history += _decide(account, op, 1000 + n)
    assets = len(account.balances)
    decided = []
    for n, op in enumerate(decision_ops):
        decided += [Decided(e.event_type, e.to_dict()) for e in _decide(account, op, 2000 + n)]

    assert unfold_account_data(account, decided, assets)

    assert account_state(account) == account_state(_fresh_fold(history))


def test_an_event_that_cannot_be_taken_back_leaves_the_account_unchanged() -> None:
    account = Account(USER)
    account.deposit("USD", 10_000, AT)
    account.reserve_order(INSTRUMENTS["ACME"], 1, "buy", "limit", 10, 100, AT)
    before = account_state(account)
    released = account.release_order(1, "ORDER_CLOSED", AT)
    after = account_state(account)

    taken_back = unfold_account_data(
        account, [Decided(e.event_type, e.to_dict()) for e in released], 1
    )

    assert not taken_back
    assert account_state(account) == after != before
