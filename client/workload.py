"""A realistic order flow for load generation (pure: no I/O, deterministic for a seed).

The mix follows the project's standard matching workload (``shared/bench/workload.py``), drawn
per action: 60 % passive limits resting near the mid (1..50 ticks away, 5 % of them IOC), 10 %
aggressive limits crossing the spread by 0..5 ticks, 5 % market orders, 25 % cancels of an
earlier resting order of the same run (it may have filled meanwhile: the exchange then answers
``409 ORDER_NOT_OPEN``). Each symbol's mid takes a slow random walk. Buyers are the even users
and sellers the odd ones, so nobody ever holds both sides of a symbol (the exchange's
opposite-side rule) or trades with itself.

A market *buy* holds all of the buyer's available cash until it ends, which would refuse the
same buyer's next orders while it is in flight; the flow sends buy-side market orders as what a
real client sends instead, a marketable IOC limit 50 ticks above the mid (sells are true market
orders).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Final

from client.models import OrderRequest, Side, TimeInForce

START_MID_TICKS: Final = 10_000
"""100.00 with the default 0.01 tick."""
TICKS_PER_UNIT: Final = 100


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of each kind of action (the rest are passive limits)."""

    cancel: float = 0.25
    aggressive: float = 0.10
    market: float = 0.05
    passive_ioc: float = 0.05


@dataclass(frozen=True, slots=True)
class Place:
    """Place ``orders`` (one order, or a batch's legs on one symbol) as ``user``."""

    user: int
    orders: list[OrderRequest]


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel ``order_id`` of ``user``."""

    user: int
    order_id: int


Action = Place | Cancel


def price_text(ticks: int) -> str:
    """A price in ticks of 0.01 as the wire's decimal string."""
    return f"{ticks // TICKS_PER_UNIT}.{ticks % TICKS_PER_UNIT:02d}"


@dataclass
class Flow:
    """Draws the next action; learns which orders rest from :meth:`accepted`."""

    symbols: list[str]
    users: int
    seed: int = 1
    batch_size: int = 1
    mix: Mix = field(default_factory=Mix)
    tag: str = "b"
    """Prefix of every ``client_order_id`` (unique per run: the exchange dedupes on it)."""
    client_order_ids: bool = True
    """Give each order a ``client_order_id`` (the exchange records a claim event for each)."""
    _rng: random.Random = field(init=False)
    _mids: dict[str, int] = field(init=False)
    _resting: list[tuple[int, int]] = field(init=False, default_factory=list)
    _ids: itertools.count[int] = field(init=False, default_factory=itertools.count)

    def __post_init__(self) -> None:
        if self.users < 2 or not self.symbols:
            raise ValueError("a flow needs at least two users (a buyer, a seller) and a symbol")
        self._rng = random.Random(self.seed)
        self._mids = dict.fromkeys(self.symbols, START_MID_TICKS)

    def next(self) -> Action:
        """The next action: a cancel (when something rests) or a placement."""
        rng = self._rng
        if self._resting and rng.random() < self.mix.cancel:
            user, order_id = self._resting.pop(rng.randrange(len(self._resting)))
            return Cancel(user, order_id)
        symbol = rng.choice(self.symbols)
        side: Side = "buy" if rng.random() < 0.5 else "sell"
        user = 2 * rng.randrange(self.users // 2) + (0 if side == "buy" else 1)
        legs = [self._order(symbol, side) for _ in range(self.batch_size)]
        return Place(user, legs)

    def accepted(self, user: int, order: OrderRequest, order_id: int) -> None:
        """An order was acknowledged: a resting one becomes a candidate to cancel."""
        if order["type"] == "limit" and order.get("time_in_force") == "GTC":
            self._resting.append((user, order_id))
            if len(self._resting) > 100_000:  # (bounded: the oldest have filled or will not)
                del self._resting[:50_000]

    def _order(self, symbol: str, side: Side) -> OrderRequest:
        rng = self._rng
        if rng.random() < 0.02:
            self._mids[symbol] += rng.choice((-1, 1))
        mid = self._mids[symbol]
        draw = rng.random() * (1 - self.mix.cancel)
        quantity = rng.randint(1, 100)
        coid = f"{self.tag}{next(self._ids)}"
        tif: TimeInForce = "GTC"
        if draw < self.mix.market and side == "buy":
            ticks, tif = mid + 50, "IOC"
        elif draw < self.mix.market:
            market = OrderRequest(
                symbol=symbol, side=side, type="market", quantity=quantity, time_in_force="IOC"
            )
            if self.client_order_ids:
                market["client_order_id"] = coid
            return market
        elif draw < self.mix.market + self.mix.aggressive:
            cross = rng.randint(0, 5)
            ticks = mid + cross if side == "buy" else mid - cross
        else:
            offset = rng.randint(1, 50)
            ticks = mid - offset if side == "buy" else mid + offset
            if rng.random() < self.mix.passive_ioc:
                tif = "IOC"
        request = OrderRequest(
            symbol=symbol, side=side, type="limit", quantity=quantity, price=price_text(ticks),
            time_in_force=tif,
        )  # fmt: skip
        if self.client_order_ids:
            request["client_order_id"] = coid
        return request
