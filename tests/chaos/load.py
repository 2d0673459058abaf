"""Load that survives chaos: traders placing, cancelling, amending and batching orders.

Every write goes through the project's client (``client/``), which carries an
``Idempotency-Key`` and resends with the same key after a ``503``, a ``429``, a dropped
connection or a timeout, so an order counts as *acknowledged* exactly when the command API
answered it with success, however many times it had to be sent. What the API acknowledged is
kept in a :class:`Ledger` for ``verify`` to hold the stack to.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from client import (
    ExchangeClient,
    ExchangeError,
    OrderRequest,
    RetryPolicy,
    ServerError,
    TooManyRequests,
    TransportFailed,
    Unavailable,
    UnexpectedResponse,
    order,
)
from client.transport import Transport

T = TypeVar("T")
EXPECTED_REFUSALS = frozenset(
    {
        "ORDER_NOT_OPEN",  # cancelling or amending an order that already ended
        "INVALID_QUANTITY",  # amending below what already filled
        "INVALID_ORDER",  # amending a market or IOC/FOK order (only resting limits amend)
        "INSUFFICIENT_FUNDS",
        "INSUFFICIENT_HOLDINGS",
        "OPPOSITE_SIDE_ORDER_OPEN",
    }
)
"""Refusals a random flow runs into by design; any other 4xx is a finding."""
NOT_ANSWERED = (Unavailable, TooManyRequests, TransportFailed)
"""Still "not now" when the client's retries ran out: the request was never answered."""


def patient(give_up_s: float) -> RetryPolicy:
    """Resend for up to ``give_up_s`` (a restarting MariaDB or command API), at most 1 s apart."""
    return RetryPolicy(attempts=1_000_000, base_s=0.05, cap_s=1.0, deadline_s=give_up_s)


@dataclass(frozen=True, slots=True)
class Trader:
    """A funded user and its client (sharing the load's connections)."""

    user_id: int
    client: ExchangeClient


@dataclass(frozen=True, slots=True)
class Acked:
    """An order the command API acknowledged."""

    order_id: int
    user_id: int
    client_order_id: str
    symbol: str
    order_type: str
    time_in_force: str
    in_batch: bool


@dataclass
class Ledger:
    """Everything the command API acknowledged, and how the load was answered."""

    orders: dict[int, Acked] = field(default_factory=dict)
    by_user: dict[int, list[Acked]] = field(default_factory=dict)
    cancels: set[int] = field(default_factory=set)
    amends: set[int] = field(default_factory=set)
    refusals: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    gave_up: int = 0
    requests: int = 0
    transport: Transport | None = None

    @property
    def retries(self) -> int:
        """Resends so far (every cause), as the client counted them."""
        return 0 if self.transport is None else self.transport.retries

    def acked(self, order: Acked) -> None:
        """Record an acknowledged order; one order id acknowledged twice is a finding."""
        known = self.orders.get(order.order_id)
        if known is not None and known != order:
            self.unexpected.append(f"order {order.order_id} acknowledged as {known} and {order}")
        if known is None:
            self.by_user.setdefault(order.user_id, []).append(order)
        self.orders[order.order_id] = order

    async def answer(self, what: str, call: Awaitable[T]) -> T | None:
        """The call's answer; ``None`` when it was refused or never answered (counted)."""
        self.requests += 1
        try:
            return await call
        except NOT_ANSWERED:
            self.gave_up += 1
        except (ServerError, UnexpectedResponse) as exc:
            self.unexpected.append(f"{what}: {exc}")
        except ExchangeError as exc:
            if exc.code in EXPECTED_REFUSALS:
                self.refusals[exc.code] += 1
            else:
                self.unexpected.append(f"{what}: {exc}")
        return None


@dataclass
class Flow:
    """One run's traders and symbols; buyers and sellers fixed per (trader, symbol) so the
    opposite-side rule rarely refuses, prices overlapping around 100.00 so orders cross."""

    ledger: Ledger
    traders: list[Trader]
    symbols: list[str]
    run_id: str
    counter: int = 0

    def side(self, trader: Trader, symbol: str) -> str:
        """The one side a trader takes in a symbol."""
        return "buy" if (self.traders.index(trader) + self.symbols.index(symbol)) % 2 else "sell"

    def new_order(self, rng: random.Random, trader: Trader, symbol: str) -> OrderRequest:
        """A random order with a client_order_id unique to this run."""
        self.counter += 1
        side: Any = self.side(trader, symbol)
        coid = f"{self.run_id}-{self.counter}"
        if rng.random() < 0.1:
            return order(symbol, side, rng.randint(1, 10), time_in_force="IOC",
                         client_order_id=coid)  # fmt: skip
        low = 9900 if side == "buy" else 9950
        price = f"{rng.randint(low, low + 100) / 100:.2f}"
        tif: Any = rng.choice(("GTC", "GTC", "GTC", "IOC", "FOK", "DAY"))
        return order(symbol, side, rng.randint(1, 10), price, time_in_force=tif,
                     client_order_id=coid)  # fmt: skip

    def _acked(self, trader: Trader, request: OrderRequest, order_id: int, batch: bool) -> None:
        coid, tif = request.get("client_order_id", ""), request.get("time_in_force", "IOC")
        acked = Acked(
            order_id, trader.user_id, coid, request["symbol"], request["type"], tif, batch
        )
        self.ledger.acked(acked)

    async def place(self, rng: random.Random, trader: Trader) -> None:
        """POST one order."""
        request = self.new_order(rng, trader, rng.choice(self.symbols))
        placed = await self.ledger.answer("place", trader.client.place_order(request))
        if placed is not None:
            self._acked(trader, request, int(placed["order_id"]), batch=False)

    async def batch(self, rng: random.Random, trader: Trader) -> None:
        """POST a batch of 2-6 orders in one symbol (sometimes all-or-nothing)."""
        symbol = rng.choice(self.symbols)
        legs = [self.new_order(rng, trader, symbol) for _ in range(rng.randint(2, 6))]
        call = trader.client.place_batch(legs, all_or_nothing=rng.random() < 0.3)
        placed = await self.ledger.answer("batch", call)
        if placed is None:
            return
        if len(placed["orders"]) != len(legs):
            self.ledger.unexpected.append(f"batch of {len(legs)} answered {placed}")
        for leg, shown in zip(legs, placed["orders"], strict=False):
            self._acked(trader, leg, int(shown["order_id"]), batch=True)

    async def change(self, rng: random.Random, trader: Trader, mine: list[Acked]) -> None:
        """Cancel or amend one of the trader's acknowledged orders."""
        order_id = rng.choice(mine).order_id
        if rng.random() < 0.4:
            call = trader.client.amend_order(order_id, quantity=rng.randint(1, 12))
            if await self.ledger.answer("amend", call) is not None:
                self.ledger.amends.add(order_id)
        elif await self.ledger.answer("cancel", trader.client.cancel_order(order_id)):
            self.ledger.cancels.add(order_id)

    async def trade(self, seed: int, stop: asyncio.Event) -> None:
        """One client's loop: orders (mostly), cancels and amends, batches, until ``stop``."""
        rng = random.Random(seed)
        while not stop.is_set():
            trader = rng.choice(self.traders)
            roll = rng.random()
            own = self.ledger.by_user.get(trader.user_id)
            if roll < 0.2 and own:
                await self.change(rng, trader, own[-50:])
            elif roll < 0.3:
                await self.batch(rng, trader)
            else:
                await self.place(rng, trader)


async def open_market(
    admin: ExchangeClient, run_id: str, symbols: int, traders: int
) -> tuple[list[str], list[Trader]]:
    """List ``symbols`` instruments and register ``traders`` users funded in cash and shares
    (through the same patient client: the setup is not under fault, but a slow stack is)."""
    listed = [f"X{run_id[:8].upper()}{i}" for i in range(symbols)]
    for symbol in listed:
        await admin.list_instrument(symbol)
    registered = []
    for i in range(traders):
        user = await admin.create_user(f"chaos-{run_id}-{i}")
        trader = Trader(int(user["user_id"]), admin.as_user(user["api_key"]))
        await trader.client.deposit("USD", "100000000.00")
        for symbol in listed:
            await trader.client.deposit(symbol, 10_000_000)
        registered.append(trader)
    return listed, registered
