"""The exchange's invariants, checked on a fold of the whole store (``exchange check invariants``).

Pure: :class:`StoreFold` takes stored events in position order, :func:`problems` names what is
wrong. Money is conserved per asset (Σ account totals, the fee account included, equals deposits
- withdrawals); no hold is negative or above its balance; every trade has exactly two matching
sides and is settled at most once (exactly once when the system has drained); an open order
holds what it may still spend, and a closed one holds nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from domain import streams
from domain.account import Account
from domain.account_events import FundsDeposited, FundsWithdrawn, TradeSettled
from domain.events import event_from_dict
from domain.folds import (
    ACCOUNT_EVENT_TYPES,
    ORDER_PLACED_EVENT_TYPES,
    OrderView,
    StoredEvent,
    apply_order_event,
    fold_order,
)
from domain.instrument import Instrument
from domain.order_events import OrderFilled

_ACCOUNT: Final = streams.account(0).removesuffix("0")
_ORDER: Final = streams.order(0).removesuffix("0")
_INSTRUMENT: Final = streams.instrument("")
_FILLED: Final = OrderFilled.__name__
_SETTLED: Final = TradeSettled.__name__
_IN: Final = FundsDeposited.__name__
_OUT: Final = FundsWithdrawn.__name__

TradeKey = tuple[str, int]


@dataclass(slots=True)
class StoreFold:
    """Accounts, orders, fills and settlements, folded from every stored event."""

    accounts: dict[int, Account] = field(default_factory=dict)
    net_in: Counter[str] = field(default_factory=Counter)
    orders: dict[int, OrderView] = field(default_factory=dict)
    fills: dict[TradeKey, list[dict[str, Any]]] = field(default_factory=dict)
    settled: Counter[tuple[str, int, int]] = field(default_factory=Counter)
    instruments: dict[str, Instrument] = field(default_factory=dict)
    events: int = 0

    def add(self, events: Iterable[StoredEvent], stream_ids: Iterable[str]) -> None:
        """Fold events (with their stream ids, in position order)."""
        for event, stream_id in zip(events, stream_ids, strict=True):
            self.events += 1
            if stream_id.startswith(_ACCOUNT) and event.type in ACCOUNT_EVENT_TYPES:
                self._account_event(int(stream_id.removeprefix(_ACCOUNT)), event)
            elif stream_id.startswith(_ORDER):
                self._order_event(event)
            elif stream_id.startswith(_INSTRUMENT):
                data = {k: v for k, v in event.data.items() if k != "at"}
                self.instruments[stream_id.removeprefix(_INSTRUMENT)] = Instrument.from_dict(data)

    def _account_event(self, user_id: int, event: StoredEvent) -> None:
        account = self.accounts.get(user_id)
        if account is None:
            account = self.accounts[user_id] = Account(user_id)
        account.apply(event_from_dict(event.type, event.data))
        data = event.data
        if event.type == _IN:
            self.net_in[data["asset"]] += int(data["amount"])
        elif event.type == _OUT:
            self.net_in[data["asset"]] -= int(data["amount"])
        elif event.type == _SETTLED:
            self.settled[(data["symbol"], int(data["trade_id"]), int(data["order_id"]))] += 1

    def _order_event(self, event: StoredEvent) -> None:
        if event.type in ORDER_PLACED_EVENT_TYPES:
            view = fold_order([event])
            if view is not None:
                self.orders[view.order_id] = view
            return
        view = self.orders.get(int(event.data.get("order_id", 0)))
        if view is not None:
            apply_order_event(view, event)
        if event.type == _FILLED:
            key = (str(event.data["symbol"]), int(event.data["trade_id"]))
            self.fills.setdefault(key, []).append(event.data)


def problems(fold: StoreFold, *, drained: bool) -> list[str]:
    """Every broken invariant, in words (empty: all hold)."""
    found = _conservation(fold) + _holds(fold) + _trades(fold, drained)
    if drained:
        found += _order_holds(fold)
    return found


def _conservation(fold: StoreFold) -> list[str]:
    totals: Counter[str] = Counter()
    for account in fold.accounts.values():
        for asset, balance in account.balances.items():
            totals[asset] += balance.total
    return [
        f"{asset}: accounts hold {totals[asset]} in total, deposits - withdrawals = "
        f"{fold.net_in[asset]}"
        for asset in sorted(set(totals) | set(fold.net_in))
        if totals[asset] != fold.net_in[asset]
    ]


def _holds(fold: StoreFold) -> list[str]:
    found = []
    for user_id, account in sorted(fold.accounts.items()):
        held: Counter[str] = Counter()
        for hold in account.holds.values():
            held[hold.asset] += hold.amount
            if hold.amount <= 0:
                found.append(f"account {user_id}: order {hold.order_id} holds {hold.amount}")
        for asset, balance in account.balances.items():
            if not 0 <= balance.held <= balance.total:
                found.append(
                    f"account {user_id}: {asset} held {balance.held} of total {balance.total}"
                )
            if balance.held != held[asset]:
                found.append(f"account {user_id}: {asset} held {balance.held} != its holds")
    return found


def _trades(fold: StoreFold, drained: bool) -> list[str]:
    found = []
    for (symbol, trade_id), sides in sorted(fold.fills.items()):
        name = f"trade {symbol}#{trade_id}"
        if len(sides) != 2:
            found.append(f"{name} has {len(sides)} sides")
            continue
        taker, maker = sorted(sides, key=lambda s: s["liquidity"] != "taker")
        if (taker["liquidity"], maker["liquidity"]) != ("taker", "maker"):
            found.append(f"{name} is not one taker and one maker")
        if (taker["price"], taker["quantity"]) != (maker["price"], maker["quantity"]):
            found.append(f"{name}: the sides disagree on price or quantity")
        if taker["side"] == maker["side"] or taker["user_id"] == maker["user_id"]:
            found.append(f"{name}: same side or same user on both sides")
        for side in sides:
            count = fold.settled[(symbol, trade_id, int(side["order_id"]))]
            if count > 1 or (drained and count != 1):
                found.append(f"{name}: order {side['order_id']} settled {count} times")
    return found


def _order_holds(fold: StoreFold) -> list[str]:
    found = []
    for order_id, view in sorted(fold.orders.items()):
        account = fold.accounts.get(view.user_id)
        held = account.reserved_for(order_id) if account is not None else 0
        instrument = fold.instruments.get(view.symbol)
        if view.closed:
            if held:
                found.append(f"order {order_id} is {view.status} but still holds {held}")
            continue
        if instrument is None or view.price is None:
            continue
        needed = (
            instrument.buy_hold(view.price, view.remaining)
            if view.side == "buy"
            else view.remaining
        )
        if held < needed:
            found.append(f"open order {order_id} holds {held}, needs {needed}")
    return found
