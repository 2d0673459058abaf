"""The account fold: holds open and close, and the opposite-side rule follows them."""

from __future__ import annotations

from command_api import streams
from command_api.account import Account


def _reserve(account: Account, order_id: int, amount: int, side: str = "buy") -> None:
    hold = {"order_id": order_id, "asset": "USD", "amount": amount, "symbol": "ACME", "side": side}
    account.apply(streams.FUNDS_RESERVED, {"user_id": 1, "holds": [hold], "at": 0})


def test_a_fully_released_hold_closes_its_side() -> None:
    account = Account(1)
    account.apply(streams.FUNDS_DEPOSITED, {"user_id": 1, "asset": "USD", "amount": 1000})
    _reserve(account, 7, 300)

    account.apply(streams.FUNDS_RELEASED, {"asset": "USD", "amount": 300, "order_id": 7})

    assert not account.has_open_side("ACME", "buy")
    assert account.balance("USD").held == 0 and account.available("USD") == 1000


def test_a_consumed_hold_leaves_the_total_and_keeps_the_rest_open() -> None:
    account = Account(1)
    account.apply(streams.FUNDS_DEPOSITED, {"user_id": 1, "asset": "USD", "amount": 1000})
    _reserve(account, 7, 300)

    account.apply(streams.HOLD_CONSUMED, {"asset": "USD", "amount": 100, "order_id": 7})

    assert account.has_open_side("ACME", "buy")
    assert (account.balance("USD").total, account.balance("USD").held) == (900, 200)


def test_a_snapshot_restores_balances_holds_and_sides() -> None:
    account = Account(1)
    account.apply(streams.FUNDS_DEPOSITED, {"user_id": 1, "asset": "USD", "amount": 1000})
    _reserve(account, 7, 300, "sell")

    restored = Account.from_dict(account.to_dict())

    assert restored == account
    assert restored.has_open_side("ACME", "sell")
