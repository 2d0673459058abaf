"""``fold_account_data`` (no domain events built) folds stored account events exactly as the
reference ``fold_account`` (``event_from_dict`` + ``Account.apply``) does, on random streams:
same balances, holds, open sides and version, and the same error where the reference fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.account import Account
from domain.account_events import (
    BatchFundsReserved,
    FeesCollected,
    FeesNetted,
    FundsDeposited,
    FundsReleased,
    FundsReserved,
    FundsWithdrawn,
    TradeSettled,
)
from domain.errors import DomainError
from domain.events import Event
from domain.folds import fold_account, fold_account_data

USER = 7
ASSETS = ("USD", "ACME")
ORDERS = st.integers(1, 4)
AMOUNTS = st.integers(1, 500)
AT = 1_700_000_000_000_000_000


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored event as the folds read it."""

    type: str
    data: dict[str, Any]
    stream_version: int
    position: int


def _reserved(asset: str, amount: int, order_id: int, side: str) -> Event:
    return FundsReserved(USER, asset, amount, order_id, "ACME", side, AT)  # type: ignore[arg-type]


def _settled(order_id: int, side: str, used: int, cash: int, shares: int) -> Event:
    return TradeSettled(
        USER, "ACME", order_id * 10, order_id, side, 100, 3, "maker", "USD", cash, 1, shares,  # type: ignore[arg-type]
        used, AT,
    )  # fmt: skip


RESERVED = st.builds(
    _reserved, st.sampled_from(ASSETS), AMOUNTS, ORDERS, st.sampled_from(("buy", "sell"))
)


def _batch(reserved: list[Any]) -> Event:
    holds = tuple((r.asset, r.amount, r.order_id, r.symbol, r.side) for r in reserved)
    return BatchFundsReserved(USER, 9, holds, AT)


EVENTS = st.one_of(
    RESERVED,
    st.builds(_batch, st.lists(RESERVED, min_size=1, max_size=4)),
    st.builds(
        lambda a, n, o: FundsReleased(USER, a, n, o, "ORDER_CLOSED", AT),
        st.sampled_from(ASSETS),
        AMOUNTS,
        ORDERS,
    ),
    st.builds(
        _settled,
        ORDERS,
        st.sampled_from(("buy", "sell")),
        AMOUNTS,
        st.integers(-500, 500),
        st.integers(-50, 50),
    ),
    st.builds(lambda a, n: FundsDeposited(USER, a, n, AT), st.sampled_from(ASSETS), AMOUNTS),
    st.builds(lambda a, n: FundsWithdrawn(USER, a, n, AT), st.sampled_from(ASSETS), AMOUNTS),
    st.builds(lambda n: FeesCollected(USER, "USD", n, "ACME", 1, 2, AT), AMOUNTS),
    st.builds(lambda n: FeesNetted(USER, "USD", n, "ACME", 3, AT), AMOUNTS),
)


def _stored(events: list[Event], mangle: int | None) -> list[Stored]:
    """The events as stored rows (one of them with a field too many when ``mangle`` says)."""
    rows = []
    for index, event in enumerate(events):
        data = event.to_dict()
        if mangle is not None and index == mangle % max(len(events), 1):
            data["extra"] = 1
        rows.append(Stored(event.event_type, data, index + 1, 100 + index))
    return rows


def _outcome(fold: Any, rows: list[Stored]) -> tuple[Any, ...]:
    account = Account(USER)
    try:
        version = fold(account, rows)
    except (KeyError, DomainError) as exc:  # a hold never opened; fields not of the type
        return ("raised", type(exc), account.snapshot(), dict(account._open_sides))
    return (version, account.snapshot(), dict(account._open_sides))


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENTS, max_size=30), st.none() | st.integers(0, 40))
def test_the_data_fold_equals_the_reference_fold(events: list[Event], mangle: int | None) -> None:
    rows = _stored(events, mangle)

    assert _outcome(fold_account_data, rows) == _outcome(fold_account, rows)


def test_a_stream_without_events_folds_to_version_zero() -> None:
    assert fold_account_data(Account(USER), []) == 0
