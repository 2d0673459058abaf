"""Account rules: balances, holds per order, release and settlement; available never negative."""

from __future__ import annotations

import pytest

from domain import (
    Account,
    Balance,
    ErrorCode,
    FundsReleased,
    FundsReserved,
    Instrument,
    InsufficientFunds,
    InsufficientHoldings,
    InvalidAmount,
    OppositeSideOrderOpen,
    TradeExecuted,
    TradeSettled,
)
from domain.account import MAX_BALANCE

ACME = Instrument.create("ACME", "0.01")
FEES = Instrument.create("ACME", "0.01", maker_fee_bps=10, taker_fee_bps=20)


def _funded(cash: int = 100_000, shares: int = 0) -> Account:
    account = Account(7)
    if cash:
        account.deposit("USD", cash, 0)
    if shares:
        account.deposit("ACME", shares, 0)
    return account


def _trade(
    taker: tuple[int, int], maker: tuple[int, int], price: int, qty: int, left: tuple[int, int]
) -> TradeExecuted:
    """A buy-side-taker trade between (order id, user id) ``taker`` and ``maker``."""
    return TradeExecuted(
        "ACME", 1, price, qty, "buy", taker[0], taker[1], left[0], maker[0], maker[1], left[1], 5
    )


class TestDepositsAndWithdrawals:
    def test_deposit_raises_total_and_available(self) -> None:
        account = Account(7)

        account.deposit("USD", 500, 0)

        assert account.balance("USD") == Balance(500, 0)

    def test_withdrawal_beyond_available_cash_is_insufficient_funds(self) -> None:
        account = _funded(1_000)
        account.reserve_order(ACME, 1, "buy", "limit", 5, 150, 0)  # holds 750

        with pytest.raises(InsufficientFunds) as caught:
            account.withdraw("USD", 300, 0)

        assert caught.value.code == ErrorCode.INSUFFICIENT_FUNDS

    def test_withdrawal_of_held_shares_is_insufficient_holdings(self) -> None:
        account = _funded(0, shares=10)
        account.reserve_order(ACME, 1, "sell", "limit", 8, 150, 0)

        with pytest.raises(InsufficientHoldings):
            account.withdraw("ACME", 3, 0)

    @pytest.mark.parametrize("bad", [0, -5])
    def test_zero_or_negative_amounts_are_invalid(self, bad: int) -> None:
        with pytest.raises(InvalidAmount):
            Account(7).deposit("USD", bad, 0)


class TestHolds:
    def test_limit_buy_holds_price_times_quantity_plus_fee(self) -> None:
        account = _funded()

        events = account.reserve_order(FEES, 1, "buy", "limit", 10, 1_000, 3)

        assert events == [FundsReserved(7, "USD", 10_000 + 20, 1, "ACME", "buy", 3)]
        assert account.balance("USD") == Balance(100_000, 10_020)

    def test_sell_holds_the_shares(self) -> None:
        account = _funded(0, shares=10)

        account.reserve_order(ACME, 1, "sell", "limit", 4, 1_000, 0)

        assert account.balance("ACME") == Balance(10, 4)

    def test_market_buy_holds_the_cash_amount_it_is_given(self) -> None:
        account = _funded()

        account.reserve_order(ACME, 1, "buy", "market", 10, None, 0, market_buy_cash=60_000)

        assert account.available("USD") == 40_000

    def test_order_beyond_available_cash_is_insufficient_funds(self) -> None:
        account = _funded(1_000)

        with pytest.raises(InsufficientFunds) as caught:
            account.reserve_order(ACME, 1, "buy", "limit", 11, 100, 0)

        assert caught.value.message == "USD available 10.00, needed 11.00"

    def test_opposite_side_order_is_refused_while_one_is_open(self) -> None:
        account = _funded(shares=10)
        account.reserve_order(ACME, 1, "sell", "limit", 5, 1_000, 0)

        with pytest.raises(OppositeSideOrderOpen):
            account.reserve_order(ACME, 2, "buy", "limit", 5, 900, 0)

    def test_the_opposite_side_rule_ends_with_the_last_hold_of_the_side(self) -> None:
        account = _funded(shares=10)
        account.reserve_order(ACME, 1, "sell", "limit", 5, 1_000, 0)
        account.reserve_order(ACME, 2, "sell", "limit", 5, 1_000, 0)

        account.release_order(1, "ORDER_CLOSED", 0)
        still_open = account.has_open_order("ACME", "sell")
        account.release_order(2, "ORDER_CLOSED", 0)

        assert still_open and not account.has_open_order("ACME", "sell")
        assert account.reserve_order(ACME, 3, "buy", "limit", 5, 900, 0)

    def test_cancelled_order_releases_its_cash_hold(self) -> None:
        account = _funded()
        account.reserve_order(ACME, 1, "buy", "limit", 10, 1_000, 0)

        events = account.release_order(1, "ORDER_CLOSED", 9)

        assert events == [FundsReleased(7, "USD", 10_000, 1, "ORDER_CLOSED", 9)]
        assert account.balance("USD") == Balance(100_000, 0)
        assert account.release_order(1, "ORDER_CLOSED", 9) == []

    def test_amend_to_a_higher_price_holds_the_difference(self) -> None:
        account = _funded()
        account.reserve_order(ACME, 1, "buy", "limit", 10, 1_000, 0)

        account.adjust_hold(1, ACME.buy_hold(1_200, 10), 0)

        assert account.balance("USD").held == 12_000


class TestSettlement:
    def test_buyer_pays_from_the_hold_gets_shares_and_the_price_improvement_back(self) -> None:
        account = _funded()
        account.reserve_order(FEES, 1, "buy", "limit", 10, 1_000, 0)  # holds 10,020

        events = account.settle_trade(_trade((1, 7), (2, 8), 990, 10, (0, 0)), FEES)

        paid = 9_900 + 9_900 * 20 // 10_000
        assert [e.event_type for e in events] == ["TradeSettled", "FundsReleased"]
        assert account.balance("USD") == Balance(100_000 - paid, 0)
        assert account.balance("ACME") == Balance(10, 0)

    def test_seller_delivers_held_shares_and_receives_cash_less_maker_fee(self) -> None:
        account = _funded(0, shares=10)
        account.reserve_order(FEES, 2, "sell", "limit", 10, 1_000, 0)

        events = account.settle_trade(_trade((1, 8), (2, 7), 1_000, 4, (0, 6)), FEES)

        assert events == [
            TradeSettled(7, "ACME", 1, 2, "sell", 1_000, 4, "maker", "USD", 4_000 - 4, 4, -4, 4, 5)
        ]
        assert account.balance("ACME") == Balance(6, 6)
        assert account.balance("USD") == Balance(3_996, 0)

    def test_settling_more_than_the_hold_is_refused(self) -> None:
        account = _funded()
        account.reserve_order(ACME, 1, "buy", "limit", 1, 1_000, 0)

        with pytest.raises(InsufficientFunds):
            account.settle_trade(_trade((1, 7), (2, 8), 1_000, 5, (0, 0)), ACME)

    def test_replaying_the_events_rebuilds_the_same_account(self) -> None:
        account = Account(7)
        history = [
            *account.deposit("USD", 100_000, 0),
            *account.deposit("ACME", 10, 0),
            *account.reserve_order(ACME, 2, "sell", "limit", 10, 1_000, 0),
            *account.settle_trade(_trade((1, 8), (2, 7), 1_000, 4, (0, 6)), ACME),
            *account.release_order(2, "ORDER_CLOSED", 6),
        ]

        replayed = Account.replay(7, history)

        assert replayed.balances == account.balances
        assert replayed.holds == account.holds == {}
        assert (replayed.available("ACME"), replayed.version) == (6, 5)


class TestLimitsAndSnapshots:
    def test_a_deposit_past_the_balance_limit_is_invalid(self) -> None:
        account = _funded(MAX_BALANCE)

        with pytest.raises(InvalidAmount):
            account.deposit("USD", 1, 0)

    def test_a_snapshot_restores_balances_holds_version_and_the_side_rule(self) -> None:
        account = _funded(100_000, shares=10)
        account.reserve_order(ACME, 1, "sell", "limit", 4, 1_000, 0)

        restored = Account.from_snapshot(account.snapshot())

        assert restored.balances == account.balances and restored.holds == account.holds
        assert restored.version == account.version == 3
        assert restored.has_open_order("ACME", "sell") and restored.reserved_for(1) == 4
        assert restored.reserved_for(99) == 0


class TestCopy:
    def test_a_copy_changes_independently_of_its_original(self) -> None:
        original = _funded(cash=100_000)
        original.reserve_order(ACME, 1, "buy", "limit", 10, 100, 0)
        expected = original.snapshot()
        twin = original.copy()

        twin.release_order(1, "ORDER_CLOSED", 1)
        twin.deposit("USD", 5, 2)

        assert original.snapshot() == expected and original.has_open_order("ACME", "buy")
        assert twin.reserved_for(1) == 0 and not twin.has_open_order("ACME", "buy")
        assert twin.available("USD") == 100_005 and twin.version == original.version + 2
