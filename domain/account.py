"""The account aggregate: balances per asset, holds per open order, and the rules between them.

Decisions (``deposit``, ``withdraw``, ``reserve_order``, ``release_order``, ``adjust_hold``,
``settle_trade``) check the rules, **apply** the resulting events to the account and return
them; the caller appends them to the store. :meth:`Account.replay` rebuilds an account from its
stored events through the same :meth:`Account.apply`, so a decision and a replay always agree.

Invariants: ``0 <= held <= total`` for every asset, so ``available = total - held`` is never
negative; every hold belongs to exactly one open order (as far as the account knows, which is up to
the last event it has seen).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from domain.account_events import (
    RELEASED_AMENDED,
    RELEASED_ORDER_CLOSED,
    BatchFundsReserved,
    FeesCollected,
    FeesNetted,
    FundsDeposited,
    FundsReleased,
    FundsReserved,
    FundsWithdrawn,
    TradeSettled,
)
from domain.commands import OrderType, Side
from domain.errors import (
    DomainError,
    ErrorCode,
    InsufficientFunds,
    InsufficientHoldings,
    InvalidAmount,
    OppositeSideOrderOpen,
    OrderNotOpen,
)
from domain.events import Event
from domain.instrument import Instrument
from domain.order_events import OrderFilled, TradeExecuted
from domain.settlement import fee_collected, fees_netted, settlement_terms, trade_settled
from domain.values import CURRENCY_DIGITS, Money

# settlement_terms moved to domain/settlement.py; the settlement worker imports it from here too.
__all__ = ["MAX_BALANCE", "Account", "Balance", "Hold", "settlement_terms"]

MAX_BALANCE: Final = 2**62
"""No total may grow past this (it keeps every sum inside a 64-bit JSON integer)."""


@dataclass(slots=True)
class Balance:
    """Total and held amount of one asset (minor units for cash, shares for a symbol)."""

    total: int = 0
    held: int = 0

    @property
    def available(self) -> int:
        """What can be withdrawn or reserved now."""
        return self.total - self.held


@dataclass(slots=True)
class Hold:
    """What is still reserved for one open order."""

    order_id: int
    symbol: str
    side: Side
    asset: str
    amount: int


class Account:
    """One user's money and shares (see the module docstring)."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.balances: dict[str, Balance] = {}
        self.holds: dict[int, Hold] = {}
        self.version = 0  # events applied so far
        self._open_sides: dict[tuple[str, Side], int] = {}  # holds per (symbol, side): O(1) rule

    @classmethod
    def replay(cls, user_id: int, events: Iterable[Event]) -> Account:
        """Rebuild the account from its event history."""
        account = cls(user_id)
        for event in events:
            account.apply(event)
        return account

    def balance(self, asset: str) -> Balance:
        """A copy of the balance of ``asset`` (zero if never seen)."""
        found = self.balances.get(asset)
        return Balance(found.total, found.held) if found else Balance()

    def available(self, asset: str) -> int:
        """``total - held`` of ``asset``."""
        return self.balance(asset).available

    def has_open_order(self, symbol: str, side: Side) -> bool:
        """Whether the account holds funds for an open ``side`` order in ``symbol``."""
        return (symbol, side) in self._open_sides

    def reserved_for(self, order_id: int) -> int:
        """What is still held for ``order_id`` (0 when it holds nothing)."""
        hold = self.holds.get(order_id)
        return hold.amount if hold else 0

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy of the state (restore it with :meth:`from_snapshot`)."""
        return {
            "user_id": self.user_id,
            "version": self.version,
            "balances": {a: [b.total, b.held] for a, b in self.balances.items()},
            "holds": [
                [h.order_id, h.symbol, h.side, h.asset, h.amount] for h in self.holds.values()
            ],
        }

    def copy(self) -> Account:
        """An independent copy (the caches keep a confirmed state beside a speculative one)."""
        twin = Account(self.user_id)
        twin.version = self.version
        twin.balances = {a: Balance(b.total, b.held) for a, b in self.balances.items()}
        twin.holds = {
            i: Hold(h.order_id, h.symbol, h.side, h.asset, h.amount) for i, h in self.holds.items()
        }
        twin._open_sides = dict(self._open_sides)
        return twin

    @classmethod
    def from_snapshot(cls, state: dict[str, Any]) -> Account:
        """The account :meth:`snapshot` described."""
        account = cls(int(state["user_id"]))
        account.version = int(state["version"])
        for asset, (total, held) in state["balances"].items():
            account.balances[asset] = Balance(int(total), int(held))
        for order_id, symbol, side, asset, amount in state["holds"]:
            account._open_hold(Hold(int(order_id), symbol, side, asset, int(amount)))
        return account

    def deposit(self, asset: str, amount: int, at: int) -> list[Event]:
        """Credit ``amount`` of ``asset`` (cash minor units or shares), up to ``MAX_BALANCE``."""
        _positive(amount)
        if self._bal_total(asset) + amount > MAX_BALANCE:
            raise InvalidAmount(f"the {asset} balance would exceed its limit")
        return self._record(FundsDeposited(self.user_id, asset, amount, at))

    def withdraw(self, asset: str, amount: int, at: int) -> list[Event]:
        """Debit ``amount`` of available ``asset``; ``INSUFFICIENT_FUNDS/HOLDINGS`` otherwise."""
        _positive(amount)
        self._require_available(asset, amount)
        return self._record(FundsWithdrawn(self.user_id, asset, amount, at))

    def reserve_order(
        self,
        instrument: Instrument,
        order_id: int,
        side: Side,
        order_type: OrderType,
        quantity: int,
        price: int | None,
        at: int,
        market_buy_cash: int | None = None,
    ) -> list[Event]:
        """Hold what a new order may spend.

        A limit buy holds ``Instrument.buy_hold(price, quantity)`` cash; a market buy holds
        ``market_buy_cash`` (the collar amount, or the available balance, chosen by the caller);
        a sell holds ``quantity`` shares. Under ``reject_opposite`` an open order on the other
        side of the symbol is ``OPPOSITE_SIDE_ORDER_OPEN``.
        """
        if order_id in self.holds:
            raise DomainError(f"order {order_id} already holds funds", ErrorCode.DUPLICATE_ORDER_ID)
        other: Side = "sell" if side == "buy" else "buy"
        if instrument.self_trade == "reject_opposite" and self.has_open_order(
            instrument.symbol, other
        ):
            raise OppositeSideOrderOpen(f"an open {other} order in {instrument.symbol} exists")
        if side == "sell":
            asset, amount = instrument.symbol, quantity
        elif order_type == "market":
            if market_buy_cash is None:
                raise InvalidAmount("a market buy needs the cash amount to hold")
            asset, amount = instrument.currency, market_buy_cash
        else:
            if price is None:
                raise DomainError("a limit order needs a price", ErrorCode.INVALID_PRICE)
            asset, amount = instrument.currency, instrument.buy_hold(price, quantity)
        _positive(amount)
        self._require_available(asset, amount)
        event = FundsReserved(self.user_id, asset, amount, order_id, instrument.symbol, side, at)
        return self._record(event)

    def as_batch(self, reserved: list[Event], batch_id: int, at: int) -> BatchFundsReserved:
        """The ``FundsReserved`` of a batch's legs, just applied one by one as the legs were
        decided, as the one ``BatchFundsReserved`` that records them (the state is the same;
        the version counts one event)."""
        assert reserved, "a batch reserves for every leg"
        holds = []
        for event in reserved:
            r: Any = event
            assert type(event) is FundsReserved and r.user_id == self.user_id
            holds.append((r.asset, r.amount, r.order_id, r.symbol, r.side))
        self.version -= len(reserved) - 1
        return BatchFundsReserved(self.user_id, batch_id, tuple(holds), at)

    def release_order(self, order_id: int, reason: str, at: int) -> list[Event]:
        """Release whatever is still held for ``order_id`` (order closed); ``[]`` if nothing."""
        hold = self.holds.get(order_id)
        if hold is None:
            return []
        return self._record(
            FundsReleased(self.user_id, hold.asset, hold.amount, order_id, reason, at)
        )

    def adjust_hold(self, order_id: int, new_amount: int, at: int) -> list[Event]:
        """Re-size an open order's hold after an amend (reserve more or release the excess)."""
        hold = self.holds.get(order_id)
        if hold is None:
            raise OrderNotOpen(f"no hold for order {order_id}")
        delta = new_amount - hold.amount
        if delta > 0:
            self._require_available(hold.asset, delta)
            event: Event = FundsReserved(
                self.user_id, hold.asset, delta, order_id, hold.symbol, hold.side, at
            )
        elif delta < 0 and new_amount >= 0:
            event = FundsReleased(self.user_id, hold.asset, -delta, order_id, RELEASED_AMENDED, at)
        else:
            return []
        return self._record(event)

    def settle_trade(self, trade: TradeExecuted, instrument: Instrument) -> list[Event]:
        """Book this account's side(s) of ``trade`` (see :meth:`settle_fill`)."""
        events: list[Event] = []
        for fill in trade.fills():
            if fill.user_id == self.user_id:
                events += self.settle_fill(fill, instrument)
        return events

    def settle_fill(self, fill: OrderFilled, instrument: Instrument) -> list[Event]:
        """Book one order's fill; release the leftover hold when the order is filled.

        Settlement consumes the order's hold; when the order has nothing left open
        (``remaining == 0``) the rest of the hold (price improvement, unused fee) is released.
        """
        hold = self.holds.get(fill.order_id)
        held = hold.amount if hold is not None else None
        events = self._record(trade_settled(self.user_id, fill, instrument, held))
        if not fill.remaining:
            events += self.release_order(fill.order_id, RELEASED_ORDER_CLOSED, fill.at)
        return events

    def collect_fee(self, settled: TradeSettled) -> list[Event]:
        """Credit the fee of a settled trade side to this (the fee) account; ``[]`` if none."""
        collected = fee_collected(self.user_id, settled)
        return [] if collected is None else self._record(collected)

    def net_fees(self, settled: Iterable[TradeSettled]) -> list[Event]:
        """Credit the fees of many settled trade sides to this (the fee) account: one
        ``FeesNetted`` per (currency, symbol) that has any, in first-seen order."""
        events: list[Event] = []
        for netted in fees_netted(self.user_id, settled):
            events += self._record(netted)
        return events

    def apply(self, event: Event) -> None:
        """Evolve the state by one event (used by decisions and by replay alike)."""
        e: Any = event
        cls = type(event)
        if cls is FundsReserved:
            self.reserved(e.asset, e.amount, e.order_id, e.symbol, e.side)
        elif cls is TradeSettled:
            self.settled(
                e.currency, e.symbol, e.side, e.order_id, e.hold_used, e.cash_delta, e.shares_delta
            )
        elif cls is FundsReleased:
            self.released(e.asset, e.amount, e.order_id)
        elif cls is FundsWithdrawn:
            self.credited(e.asset, -e.amount)
        elif cls in (FundsDeposited, FeesCollected, FeesNetted):
            self.credited(e.asset, e.amount)
        elif cls is BatchFundsReserved:
            for asset, amount, order_id, symbol, side in e.holds:
                self.reserved(asset, amount, order_id, symbol, side)
        else:
            raise TypeError(f"not an account event: {event!r}")
        self.version += 1

    # The effect of each account event on the state, from its plain values: ``apply`` and the
    # workers' folds of stored data (``domain.folds.fold_account_data``) share them. They leave
    # ``version`` to the caller (one per event).

    def reserved(self, asset: str, amount: int, order_id: int, symbol: str, side: Side) -> None:
        """``FundsReserved``: ``amount`` more held for ``order_id`` (a new hold or a bigger one)."""
        self._bal(asset).held += amount
        hold = self.holds.get(order_id)
        if hold is None:
            self._open_hold(Hold(order_id, symbol, side, asset, amount))
        else:
            hold.amount += amount

    def released(self, asset: str, amount: int, order_id: int) -> None:
        """``FundsReleased``: ``amount`` of ``order_id``'s hold available again."""
        self._bal(asset).held -= amount
        self._consume_hold(order_id, amount)

    def settled(
        self,
        currency: str,
        symbol: str,
        side: str,
        order_id: int,
        hold_used: int,
        cash_delta: int,
        shares_delta: int,
    ) -> None:
        """``TradeSettled``: the order's hold consumed, cash and shares moved."""
        self._bal(currency if side == "buy" else symbol).held -= hold_used
        self._consume_hold(order_id, hold_used)
        self._bal(currency).total += cash_delta
        self._bal(symbol).total += shares_delta

    def credited(self, asset: str, amount: int) -> None:
        """A deposit, a fee credit (``amount`` > 0) or a withdrawal (< 0) of ``asset``."""
        self._bal(asset).total += amount

    def _consume_hold(self, order_id: int, amount: int) -> None:
        hold = self.holds[order_id]
        hold.amount -= amount
        if hold.amount <= 0:
            del self.holds[order_id]
            key = (hold.symbol, hold.side)
            left = self._open_sides[key] - 1
            if left:
                self._open_sides[key] = left
            else:
                del self._open_sides[key]

    def _open_hold(self, hold: Hold) -> None:
        self.holds[hold.order_id] = hold
        key = (hold.symbol, hold.side)
        self._open_sides[key] = self._open_sides.get(key, 0) + 1

    def _bal_total(self, asset: str) -> int:
        found = self.balances.get(asset)
        return found.total if found else 0

    def _bal(self, asset: str) -> Balance:
        found = self.balances.get(asset)
        if found is None:
            found = self.balances[asset] = Balance()
        return found

    def _record(self, event: Event) -> list[Event]:
        self.apply(event)
        return [event]

    def _require_available(self, asset: str, amount: int) -> None:
        available = self.available(asset)
        if available < amount:
            if _is_cash(asset):
                shown = f"{_cash(available, asset)}, needed {_cash(amount, asset)}"
                raise InsufficientFunds(f"{asset} available {shown}")
            raise InsufficientHoldings(f"{asset} available {available}, needed {amount}")


def _is_cash(asset: str) -> bool:
    return asset in CURRENCY_DIGITS


def _cash(minor: int, currency: str) -> str:
    """Minor units as the wire's decimal string (``69625`` USD → ``"696.25"``)."""
    return Money(minor, currency).format()


def _positive(amount: int) -> None:
    if type(amount) is not int or amount <= 0:
        raise InvalidAmount(f"amount must be a positive integer, got {amount!r}")
