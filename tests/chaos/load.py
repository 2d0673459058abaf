"""Load that survives chaos: traders placing, cancelling, amending and batching orders.

Every write carries an ``Idempotency-Key`` and is resent with the same key after a ``503``,
a ``429``, a dropped connection or a timeout, so an order counts as *acknowledged* exactly when
the command API answered it with success, however many times it had to be sent. What the API
acknowledged is kept in a :class:`Ledger` for ``verify`` to hold the stack to.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRIED_STATUSES = frozenset({429, 502, 503, 504})
"""Answers that mean "not now": resend with the same key."""
EXPECTED_REFUSALS = frozenset(
    {
        "ORDER_NOT_OPEN",  # cancelling or amending an order that already ended
        "INVALID_QUANTITY",  # amending below what already filled
        "INSUFFICIENT_FUNDS",
        "INSUFFICIENT_HOLDINGS",
        "OPPOSITE_SIDE_ORDER_OPEN",
    }
)
"""Refusals a random flow runs into by design; any other 4xx is a finding."""


@dataclass(frozen=True, slots=True)
class Trader:
    """A funded user and its auth header."""

    user_id: int
    headers: dict[str, str]


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
    retries: int = 0
    gave_up: int = 0
    requests: int = 0

    def acked(self, order: Acked) -> None:
        """Record an acknowledged order; one order id acknowledged twice is a finding."""
        known = self.orders.get(order.order_id)
        if known is not None and known != order:
            self.unexpected.append(f"order {order.order_id} acknowledged as {known} and {order}")
        if known is None:
            self.by_user.setdefault(order.user_id, []).append(order)
        self.orders[order.order_id] = order


class Api:
    """The command API with resending: ``send`` returns the first non-retryable answer."""

    def __init__(self, http: httpx.AsyncClient, ledger: Ledger, give_up_s: float) -> None:
        self.http = http
        self.ledger = ledger
        self.give_up_s = give_up_s

    async def send(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> httpx.Response | None:
        """Send until answered (same ``Idempotency-Key`` each time); ``None`` if it never was."""
        headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        deadline = time.monotonic() + self.give_up_s
        delay = 0.05
        self.ledger.requests += 1
        while True:
            try:
                resp = await self.http.request(method, path, json=body, headers=headers)
            except httpx.TransportError:  # killed API, restarting MariaDB, a timeout
                resp = None
            if resp is not None and resp.status_code not in RETRIED_STATUSES:
                if resp.status_code >= 500:
                    self.ledger.unexpected.append(f"{method} {path}: {resp.status_code}")
                else:
                    return resp
            if time.monotonic() >= deadline:
                self.ledger.gave_up += 1
                return None
            self.ledger.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    def refused(self, what: str, resp: httpx.Response) -> None:
        """Count an expected refusal; note any other answer."""
        code = (
            resp.json().get("code", "")
            if resp.headers.get("content-type", "").startswith("application/problem+json")
            else ""
        )
        if code in EXPECTED_REFUSALS:
            self.ledger.refusals[code] += 1
        else:
            self.ledger.unexpected.append(f"{what}: {resp.status_code} {resp.text[:200]}")


@dataclass
class Flow:
    """One run's traders and symbols; buyers and sellers fixed per (trader, symbol) so the
    opposite-side rule rarely refuses, prices overlapping around 100.00 so orders cross."""

    api: Api
    traders: list[Trader]
    symbols: list[str]
    run_id: str
    counter: int = 0

    def side(self, trader: Trader, symbol: str) -> str:
        """The one side a trader takes in a symbol."""
        return "buy" if (self.traders.index(trader) + self.symbols.index(symbol)) % 2 else "sell"

    def new_order(self, rng: random.Random, trader: Trader, symbol: str) -> dict[str, Any]:
        """A random order body with a client_order_id unique to this run."""
        self.counter += 1
        side = self.side(trader, symbol)
        body: dict[str, Any] = {
            "symbol": symbol, "side": side, "quantity": rng.randint(1, 10),
            "client_order_id": f"{self.run_id}-{self.counter}",
        }  # fmt: skip
        if rng.random() < 0.1:
            body |= {"type": "market", "time_in_force": "IOC"}
        else:
            low = 9900 if side == "buy" else 9950
            body |= {
                "type": "limit", "price": f"{rng.randint(low, low + 100) / 100:.2f}",
                "time_in_force": rng.choice(("GTC", "GTC", "GTC", "IOC", "FOK", "DAY")),
            }  # fmt: skip
        return body

    def _acked(self, trader: Trader, body: dict[str, Any], order_id: int, batch: bool) -> Acked:
        order = Acked(
            order_id, trader.user_id, body["client_order_id"], body["symbol"], body["type"],
            body["time_in_force"], batch,
        )  # fmt: skip
        self.api.ledger.acked(order)
        return order

    async def place(self, rng: random.Random, trader: Trader) -> None:
        """POST one order."""
        body = self.new_order(rng, trader, rng.choice(self.symbols))
        resp = await self.api.send("POST", "/v1/orders", trader.headers, body)
        if resp is None:
            return
        if resp.status_code in (200, 201):
            self._acked(trader, body, int(resp.json()["order_id"]), batch=False)
        else:
            self.api.refused("place", resp)

    async def batch(self, rng: random.Random, trader: Trader) -> None:
        """POST a batch of 2-6 orders in one symbol (sometimes all-or-nothing)."""
        symbol = rng.choice(self.symbols)
        legs = [self.new_order(rng, trader, symbol) for _ in range(rng.randint(2, 6))]
        body = {"orders": legs, "all_or_nothing": rng.random() < 0.3}
        resp = await self.api.send("POST", "/v1/orders/batch", trader.headers, body)
        if resp is None:
            return
        if resp.status_code != 201:
            self.api.refused("batch", resp)
            return
        answered = resp.json()["orders"]
        if len(answered) != len(legs):
            self.api.ledger.unexpected.append(f"batch of {len(legs)} answered {answered}")
        for leg, shown in zip(legs, answered, strict=False):
            self._acked(trader, leg, int(shown["order_id"]), batch=True)

    async def change(self, rng: random.Random, trader: Trader, mine: list[Acked]) -> None:
        """Cancel or amend one of the trader's acknowledged orders."""
        order = rng.choice(mine)
        path = f"/v1/orders/{order.order_id}"
        amend = rng.random() < 0.4
        body = {"quantity": rng.randint(1, 12)} if amend else None
        resp = await self.api.send("PATCH" if amend else "DELETE", path, trader.headers, body)
        if resp is None:
            return
        if resp.status_code == 202:
            (self.api.ledger.amends if amend else self.api.ledger.cancels).add(order.order_id)
        else:
            self.api.refused("amend" if amend else "cancel", resp)

    async def trade(self, seed: int, stop: asyncio.Event) -> None:
        """One client's loop: orders (mostly), cancels and amends, batches, until ``stop``."""
        rng = random.Random(seed)
        while not stop.is_set():
            trader = rng.choice(self.traders)
            roll = rng.random()
            own = self.api.ledger.by_user.get(trader.user_id)
            if roll < 0.2 and own:
                await self.change(rng, trader, own[-50:])
            elif roll < 0.3:
                await self.batch(rng, trader)
            else:
                await self.place(rng, trader)


async def open_market(
    api: Api, admin: dict[str, str], run_id: str, symbols: int, traders: int
) -> tuple[list[str], list[Trader]]:
    """List ``symbols`` instruments and register ``traders`` users funded in cash and shares."""
    listed = [f"X{run_id[:8].upper()}{i}" for i in range(symbols)]
    for symbol in listed:
        body = {"symbol": symbol, "tick_size": "0.01", "lot_size": 1}
        _created(await api.send("POST", "/v1/instruments", admin, body), "listing")
    registered = []
    for i in range(traders):
        body = {"username": f"chaos-{run_id}-{i}"}
        user = _created(await api.send("POST", "/v1/users", admin, body), "registration")
        trader = Trader(int(user["user_id"]), {"Authorization": f"Bearer {user['api_key']}"})
        funds: list[dict[str, Any]] = [{"asset": "USD", "amount": "100000000.00"}]
        funds += [{"asset": symbol, "amount": 10_000_000} for symbol in listed]
        for deposit in funds:
            _created(await api.send("POST", "/v1/deposits", trader.headers, deposit), "deposit")
        registered.append(trader)
    return listed, registered


def _created(resp: httpx.Response | None, what: str) -> dict[str, Any]:
    if resp is None or resp.status_code != 201:
        raise RuntimeError(f"{what} failed: {resp and resp.status_code} {resp and resp.text}")
    body: dict[str, Any] = resp.json()
    return body
