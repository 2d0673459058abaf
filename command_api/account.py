"""The account aggregate as the command API needs it: balances, holds, open-order sides.

``domain/`` has no ``Account`` yet, so this is the smallest adapter that decides deposits,
withdrawals and reservations. It folds the account stream's events (see ``streams``) and never
mutates itself while deciding: ``decide_*`` return the events, :meth:`apply` folds them in.
Amounts are integers: minor units of a currency, or shares of a symbol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from command_api import streams
from domain.errors import InsufficientFunds, InsufficientHoldings, InvalidAmount
from domain.values import CURRENCY_DIGITS

MAX_BALANCE = 2**62
"""No balance may grow past this (it keeps every sum inside a 64-bit JSON integer)."""


@dataclass(slots=True)
class Balance:
    """One asset: ``total`` owned, ``held`` reserved for open orders."""

    total: int = 0
    held: int = 0

    @property
    def available(self) -> int:
        """What can still be withdrawn or reserved."""
        return self.total - self.held


@dataclass(slots=True)
class Reservation:
    """What one open order still holds."""

    asset: str
    amount: int
    symbol: str
    side: str


@dataclass(slots=True)
class Account:
    """A user's balances, as known from the account stream."""

    user_id: int
    balances: dict[str, Balance] = field(default_factory=dict)
    reservations: dict[int, Reservation] = field(default_factory=dict)
    open_sides: dict[tuple[str, str], int] = field(default_factory=dict)
    """How many reservations are open per (symbol, side): the opposite-side rule in O(1)."""

    def __post_init__(self) -> None:
        for reservation in self.reservations.values():
            self._count_side(reservation, 1)

    def _count_side(self, reservation: Reservation, delta: int) -> None:
        key = (reservation.symbol, reservation.side)
        count = self.open_sides.get(key, 0) + delta
        if count > 0:
            self.open_sides[key] = count
        else:
            self.open_sides.pop(key, None)

    def open_reservation(self, order_id: int, reservation: Reservation) -> None:
        """Record a new order's hold."""
        self.reservations[order_id] = reservation
        self._count_side(reservation, 1)

    def close_reservation(self, order_id: int) -> None:
        """Forget an order's hold (fully released or consumed)."""
        reservation = self.reservations.pop(order_id, None)
        if reservation is not None:
            self._count_side(reservation, -1)

    def balance(self, asset: str) -> Balance:
        """The asset's balance (zero if never touched)."""
        return self.balances.get(asset) or Balance()

    def available(self, asset: str) -> int:
        """Total minus held for ``asset``."""
        return self.balance(asset).available

    def reserved_for(self, order_id: int) -> int:
        """What the order still holds (0 when unknown or fully released)."""
        reservation = self.reservations.get(order_id)
        return reservation.amount if reservation else 0

    def has_open_side(self, symbol: str, side: str) -> bool:
        """Whether an order of ``side`` in ``symbol`` still holds funds (open, as far as known)."""
        return (symbol, side) in self.open_sides

    def decide_deposit(self, asset: str, amount: int, at: int) -> dict[str, Any]:
        """The ``FundsDeposited`` data; ``InvalidAmount`` if the balance would overflow."""
        if self.balance(asset).total + amount > MAX_BALANCE:
            raise InvalidAmount(f"the {asset} balance would exceed its limit")
        return {"user_id": self.user_id, "asset": asset, "amount": amount, "at": at}

    def decide_withdrawal(self, asset: str, amount: int, at: int) -> dict[str, Any]:
        """The ``FundsWithdrawn`` data; insufficient funds/holdings if not available."""
        self.require_available(asset, amount)
        return {"user_id": self.user_id, "asset": asset, "amount": amount, "at": at}

    def require_available(self, asset: str, amount: int) -> None:
        """Raise the domain error for ``asset`` unless ``amount`` is available."""
        available = self.available(asset)
        if amount > available:
            if asset in CURRENCY_DIGITS:
                raise InsufficientFunds(f"{asset} available {available}, needed {amount}")
            raise InsufficientHoldings(f"{asset} available {available}, needed {amount}")

    def apply(self, event_type: str, data: dict[str, Any]) -> None:
        """Fold one account event into the state; unknown types change nothing."""
        handler = _HANDLERS.get(event_type)
        if handler is not None:
            handler(self, data)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot of the state."""
        return {
            "user_id": self.user_id,
            "balances": {a: [b.total, b.held] for a, b in self.balances.items()},
            "reservations": {
                str(o): [r.asset, r.amount, r.symbol, r.side] for o, r in self.reservations.items()
            },
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Account:
        """Inverse of :meth:`to_dict`."""
        return cls(
            int(state["user_id"]),
            {a: Balance(int(t), int(h)) for a, (t, h) in state["balances"].items()},
            {int(o): Reservation(*r) for o, r in state["reservations"].items()},
        )


def _bal(account: Account, asset: str) -> Balance:
    return account.balances.setdefault(asset, Balance())


def _deposited(account: Account, data: dict[str, Any]) -> None:
    _bal(account, data["asset"]).total += int(data["amount"])


def _withdrawn(account: Account, data: dict[str, Any]) -> None:
    _bal(account, data["asset"]).total -= int(data["amount"])


def _reserved(account: Account, data: dict[str, Any]) -> None:
    for hold in data["holds"]:
        amount = int(hold["amount"])
        _bal(account, hold["asset"]).held += amount
        order_id = int(hold["order_id"])
        current = account.reservations.get(order_id)
        if current is None:
            account.open_reservation(
                order_id, Reservation(hold["asset"], amount, hold["symbol"], hold["side"])
            )
        else:
            current.amount += amount


def _unreserve(account: Account, data: dict[str, Any]) -> int:
    amount = int(data["amount"])
    _bal(account, data["asset"]).held -= amount
    order_id = data.get("order_id")
    if order_id is not None:
        reservation = account.reservations.get(int(order_id))
        if reservation is not None:
            reservation.amount -= amount
            if reservation.amount <= 0 or data.get("closed"):
                account.close_reservation(int(order_id))
    return amount


def _released(account: Account, data: dict[str, Any]) -> None:
    _unreserve(account, data)


def _consumed(account: Account, data: dict[str, Any]) -> None:
    _bal(account, data["asset"]).total -= _unreserve(account, data)


_HANDLERS = {
    streams.FUNDS_DEPOSITED: _deposited,
    streams.FUNDS_CREDITED: _deposited,
    streams.FUNDS_WITHDRAWN: _withdrawn,
    streams.FUNDS_RESERVED: _reserved,
    streams.FUNDS_RELEASED: _released,
    streams.HOLD_CONSUMED: _consumed,
}
