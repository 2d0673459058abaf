"""A deterministic in-memory exchange that produces the events the real one stores.

For tests and benchmarks of the read side: it appends what the command API, the matching
worker and settlement append (``workers/README.md``), on the same streams with the same data,
using the domain's own engine and account aggregate - no I/O. ``random_flow`` drives it with a
seeded mix of deposits, limit and market orders, cancels and amends.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from domain import streams
from domain.account import Account
from domain.account_events import FEE_ACCOUNT
from domain.commands import AmendOrder, CancelOrder, Command, OrderType, Side, TimeInForce
from domain.errors import DomainError
from domain.events import Event
from domain.instrument import Instrument
from domain.matching.engine import MatchingEngine
from domain.order_events import OrderFilled, TradeExecuted
from domain.order_requests import AmendRequested, CancelRequested, OrderPlaced
from projections.base import StoredEvent

_CLOSES = frozenset({"OrderCancelled", "OrderExpired", "OrderRejected"})


@dataclass(frozen=True, slots=True)
class SimEvent:
    """A stored event as the projectors receive it."""

    position: int
    stream_id: str
    stream_version: int
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Exchange:
    """The write side in memory: streams, positions, the engine and the accounts."""

    instruments: dict[str, Instrument] = field(default_factory=dict)
    events: list[SimEvent] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    accounts: dict[int, Account] = field(default_factory=dict)
    engine: MatchingEngine = field(default_factory=MatchingEngine)
    clock: int = 1_700_000_000_000_000_000
    next_id: int = 1_000

    def append(self, stream: str, kind: str, data: dict[str, Any]) -> None:
        """Append one event to ``stream`` at the next position."""
        version = self.versions.get(stream, 0) + 1
        self.versions[stream] = version
        self.events.append(SimEvent(len(self.events) + 1, stream, version, kind, dict(data)))

    def tick(self) -> int:
        """Advance the clock by 1.7 s (trades spread over several candles)."""
        self.clock += 1_700_000_000
        return self.clock

    def account(self, user_id: int) -> Account:
        """A user's account aggregate."""
        found = self.accounts.get(user_id)
        if found is None:
            found = self.accounts[user_id] = Account(user_id)
        return found

    def list_instrument(self, instrument: Instrument) -> None:
        """List an instrument."""
        self.instruments[instrument.symbol] = instrument
        self.engine.add_instrument(instrument)
        data = {**instrument.to_dict(), "at": self.tick()}
        self.append(streams.instrument(instrument.symbol), streams.INSTRUMENT_LISTED, data)

    def register(self, user_id: int, username: str, key_hash: str) -> None:
        """Register a user and its key hash."""
        data = {"user_id": user_id, "username": username, "key_hash": key_hash, "at": self.tick()}
        self.append(streams.user(user_id), streams.USER_REGISTERED, data)
        self.append(streams.api_key(key_hash), streams.API_KEY_ISSUED, data)

    def deposit(self, user_id: int, asset: str, amount: int) -> None:
        """Credit cash (minor units) or shares."""
        self._account_events(user_id, self.account(user_id).deposit(asset, amount, self.tick()))

    def place(
        self,
        user_id: int,
        symbol: str,
        side: Side,
        quantity: int,
        price: int | None,
        tif: TimeInForce = "GTC",
    ) -> int | None:
        """Reserve and place an order, then run it; its id, or ``None`` if refused up front."""
        instrument = self.instruments[symbol]
        order_id = self.next_id = self.next_id + 1
        at = self.tick()
        kind: OrderType = "market" if price is None else "limit"
        account = self.account(user_id)
        cash = account.available(instrument.currency) if kind == "market" else None
        try:
            held = account.reserve_order(
                instrument, order_id, side, kind, quantity, price, at, market_buy_cash=cash
            )
        except DomainError:
            return None
        max_notional = None
        if kind == "market" and side == "buy":
            max_notional = instrument.market_buy_max_notional(account.reserved_for(order_id))
        placed = OrderPlaced(
            symbol, order_id, user_id, side, kind, price, quantity,
            tif if price is not None else "IOC", False, max_notional, None, None, at,
        )  # fmt: skip
        self._account_events(user_id, held)
        self.append(streams.order(order_id), "OrderPlaced", placed.to_dict())
        self._run(placed.to_command())
        return order_id

    def cancel(self, user_id: int, symbol: str, order_id: int) -> None:
        """Request a cancel and run it."""
        request = CancelRequested(symbol, order_id, user_id, self.tick())
        self.append(streams.order(order_id), "CancelRequested", request.to_dict())
        self._run(CancelOrder(symbol, order_id, user_id, request.at))

    def amend(self, user_id: int, symbol: str, order_id: int, quantity: int, price: int) -> None:
        """Request an amend and run it."""
        request = AmendRequested(symbol, order_id, user_id, quantity, price, self.tick())
        self.append(streams.order(order_id), "AmendRequested", request.to_dict())
        self._run(AmendOrder(symbol, order_id, user_id, quantity, price, request.at))

    def _account_events(self, user_id: int, events: list[Event]) -> None:
        for event in events:
            self.append(streams.account(user_id), event.event_type, event.to_dict())

    def _run(self, command: Command) -> None:
        for event in self.engine.process(command):
            if isinstance(event, TradeExecuted):
                for fill in event.fills():
                    self.append(streams.order(fill.order_id), "OrderFilled", fill.to_dict())
                    self._settle(fill)
                continue
            data = event.to_dict()
            self.append(streams.order(int(str(data["order_id"]))), event.event_type, data)
            if event.event_type in _CLOSES:
                user = int(str(data["user_id"]))
                released = self.account(user).release_order(
                    int(str(data["order_id"])), "ORDER_CLOSED", self.clock
                )
                self._account_events(user, released)

    def _settle(self, fill: OrderFilled) -> None:
        instrument = self.instruments[fill.symbol]
        settled = self.account(fill.user_id).settle_fill(fill, instrument)
        self._account_events(fill.user_id, settled)
        for event in settled:
            if event.event_type == "TradeSettled":
                fees = self.account(FEE_ACCOUNT).collect_fee(event)  # type: ignore[arg-type]
                self._account_events(FEE_ACCOUNT, fees)


class Relayable(StoredEvent, Protocol):
    """What the relay's message needs of an event: a :class:`SimEvent` or a stored one."""

    @property
    def stream_version(self) -> int: ...


def message_of(event: Relayable) -> bytes:
    """The relay's Kafka message value for ``event`` (``event_store.outbox`` format)."""
    return orjson.dumps(
        {
            "position": event.position,
            "stream_id": event.stream_id,
            "stream_version": event.stream_version,
            "event_id": str(uuid.UUID(int=event.position)),
            "type": event.type,
            "schema_version": 1,
            "recorded_at": "2025-01-01T00:00:00.000000Z",
            "data": event.data,
            "metadata": {"correlation_id": "sim", "actor": "sim", **event.metadata},
        }
    )


def random_flow(seed: int, orders: int, symbols: tuple[str, ...] = ("SIMA", "SIMB")) -> Exchange:
    """A seeded flow over ``symbols`` with 12 funded users (plus the fee account)."""
    rng = random.Random(seed)
    ex = Exchange()
    for symbol in symbols:
        ex.list_instrument(Instrument.create(symbol, "0.01", 1, "cancel_newest", 10, 20))
    users = list(range(1, 13))
    for user in users:
        ex.register(user, f"sim{user}", f"{user:064x}")
        ex.deposit(user, "USD", 10_000_000)
        for symbol in symbols:
            ex.deposit(user, symbol, 5_000)
    open_orders: list[tuple[int, str, int, Side, int, int]] = []
    for _ in range(orders):
        user, symbol = rng.choice(users), rng.choice(symbols)
        roll = rng.random()
        if roll < 0.12 and open_orders:
            owner, sym, order_id, *_ = open_orders.pop(rng.randrange(len(open_orders)))
            ex.cancel(owner, sym, order_id)
        elif roll < 0.18 and open_orders:
            owner, sym, order_id, held_side, limit, quantity = rng.choice(open_orders)
            # (never above the hold: the command API would reserve the difference first)
            new_price = rng.randint(990, limit) if held_side == "buy" else rng.randint(990, 1010)
            ex.amend(owner, sym, order_id, rng.randint(1, quantity), new_price)
        else:
            side: Side = rng.choice(("buy", "sell"))
            price = None if rng.random() < 0.08 else rng.randint(990, 1010)
            tif: TimeInForce = rng.choice(("GTC", "GTC", "GTC", "IOC", "DAY"))
            quantity = rng.randint(1, 40)
            placed = ex.place(user, symbol, side, quantity, price, tif)
            if placed is not None and price is not None:
                open_orders.append((user, symbol, placed, side, price, quantity))
    return ex
