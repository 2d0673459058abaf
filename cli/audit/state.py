"""Time travel for auditors: an order, an account or a book as it stood at a store position.

Everything is rebuilt from the store (never from Redis): an order by folding its stream
(:func:`domain.folds.fold_order`, which follows the engine's events), an account by folding
its stream (:func:`domain.folds.fold_account`), a book by replaying the symbol's engine inputs
into a fresh engine (:func:`workers.replay.replay_symbol`). Each view's ``to_dict()`` is what
``exchange audit state --json`` prints; amounts are decimal strings, never floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from domain import streams
from domain.account import Account
from domain.folds import StoredEvent, fold_account, fold_order
from domain.instrument import Instrument
from domain.values import CURRENCY_DIGITS, format_units, minor_unit
from event_store.audit import AuditReader, Progress, UnknownLifecycle, Window
from workers.instruments import instrument_of
from workers.replay import replay_symbol


@dataclass(frozen=True, slots=True)
class OrderState:
    """One order after the events of its stream up to ``as_of_position``."""

    order_id: int
    user_id: int
    client_order_id: str | None
    symbol: str
    side: str
    type: str
    price: str | None
    quantity: int
    filled_quantity: int
    remaining_quantity: int
    status: str
    reason: str | None
    cancel_requested: bool
    last_event: str
    last_event_position: int
    as_of_position: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BalanceState:
    """One asset of an account (decimal strings for cash, share counts as digits)."""

    total: str
    available: str
    held: str


@dataclass(frozen=True, slots=True)
class AccountState:
    """One account after its events up to ``as_of_position``."""

    user_id: int
    balances: dict[str, BalanceState]
    open_holds: int
    version: int
    as_of_position: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BookState:
    """A symbol's L2 book (``[price, quantity]`` per level, best first) at ``as_of_position``."""

    symbol: str
    bids: list[tuple[str, int]] = field(default_factory=list)
    asks: list[tuple[str, int]] = field(default_factory=list)
    open_orders: int = 0
    trades: int = 0
    as_of_position: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (levels as ``[price, quantity]`` lists)."""
        return {
            "symbol": self.symbol,
            "bids": [list(level) for level in self.bids],
            "asks": [list(level) for level in self.asks],
            "open_orders": self.open_orders,
            "trades": self.trades,
            "as_of_position": self.as_of_position,
        }


def order_state(
    events: Sequence[StoredEvent], instrument: Instrument | None, as_of_position: int
) -> OrderState | None:
    """The order its stream's events describe (``None`` before its placement)."""
    view = fold_order(events)
    if view is None:
        return None
    price = None if view.price is None else _price(instrument, int(view.price))
    return OrderState(
        view.order_id,
        view.user_id,
        view.client_order_id,
        view.symbol,
        view.side,
        view.order_type,
        price,
        view.quantity,
        view.filled,
        view.remaining,
        view.status,
        view.reason,
        view.cancel_position is not None,
        events[-1].type,
        events[-1].position,
        as_of_position,
    )


def account_state(user_id: int, events: Sequence[StoredEvent], as_of_position: int) -> AccountState:
    """The account its stream's events describe."""
    account = Account(user_id)
    version = fold_account(account, events)
    balances = {
        asset: BalanceState(
            _amount(asset, balance.total),
            _amount(asset, balance.available),
            _amount(asset, balance.held),
        )
        for asset, balance in sorted(account.balances.items())
    }
    return AccountState(user_id, balances, len(account.holds), version, as_of_position)


async def order_as_of(reader: AuditReader, order_id: int, position: int) -> OrderState:
    """The order as it stood at ``position``; ``UnknownLifecycle`` if not placed by then."""
    events = await reader.read_streams([streams.order(order_id)], Window(to_position=position))
    instrument = None
    if events:
        listed = await reader.first_event(streams.instrument(str(events[0].data["symbol"])))
        instrument = None if listed is None else instrument_of(listed.data)
    state = order_state(events, instrument, position)
    if state is None:
        raise UnknownLifecycle(f"order {order_id} was not placed at position {position}")
    return state


async def account_as_of(reader: AuditReader, user_id: int, position: int) -> AccountState:
    """The user's account as it stood at ``position``; ``UnknownLifecycle`` for no such user."""
    account = streams.account(user_id)
    # (the fee account, user 0, has an account and no user stream)
    unknown = await reader.first_event(streams.user(user_id)) is None
    if unknown and await reader.first_event(account) is None:
        raise UnknownLifecycle(f"no user {user_id} in the store")
    events = await reader.read_streams([account], Window(to_position=position))
    return account_state(user_id, events, position)


async def book_as_of(
    reader: AuditReader, symbol: str, position: int, progress: Progress | None = None
) -> BookState:
    """The symbol's book as it stood at ``position`` (its engine inputs replayed)."""
    engine = await replay_symbol(reader, symbol, position, progress=progress)
    book = engine.book(symbol)
    instrument = book.instrument
    return BookState(
        symbol,
        [(instrument.format_price(price), qty) for price, qty in book.bids.depth()],
        [(instrument.format_price(price), qty) for price, qty in book.asks.depth()],
        len(book.orders),
        book.trade_seq,
        position,
    )


def _price(instrument: Instrument | None, ticks: int) -> str:
    return str(ticks) if instrument is None else instrument.format_price(ticks)


def _amount(asset: str, amount: int) -> str:
    """Cash in its currency's decimals, shares as a whole number."""
    if asset in CURRENCY_DIGITS:
        return format_units(amount, minor_unit(asset))
    return str(amount)
