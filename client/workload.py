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

A real trader also pulls the quotes the market left behind: the flow remembers each
trader's resting orders per symbol, and each time a trader places on a symbol it first cancels
(in one request, ``Place.cancels``) its orders there that the mid has left more than
``stale_ticks`` away, then the farthest from the mid of what is left beyond ``max_open``. The
books therefore stay bounded however long the run (without it, ~55 % of the orders rested
forever and every process's cost per order grew with the books: docs/benchmarks.md).
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
    stale_ticks: int = 50
    """A resting order farther than this from the mid is pulled (the quotes are 1..50 away)."""
    max_open: int = 20
    """Earlier resting orders a trader keeps per symbol (the farthest from the mid go first)."""


@dataclass(frozen=True, slots=True)
class Place:
    """Place ``orders`` (one order, or a batch's legs on one symbol) as ``user``, after
    cancelling ``cancels`` (the user's stale orders on that symbol) in one request."""

    user: int
    orders: list[OrderRequest]
    cancels: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel ``order_id`` of ``user``."""

    user: int
    order_id: int


Action = Place | Cancel


def price_text(ticks: int) -> str:
    """A price in ticks of 0.01 as the wire's decimal string."""
    return f"{ticks // TICKS_PER_UNIT}.{ticks % TICKS_PER_UNIT:02d}"


def price_ticks(text: str) -> int:
    """The ticks of a price written by :func:`price_text`."""
    units, _, cents = text.partition(".")
    return int(units) * TICKS_PER_UNIT + int(cents or 0)


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
    _open: dict[tuple[int, str], dict[int, int]] = field(init=False, default_factory=dict)
    """Each (user, symbol)'s resting orders as far as the flow knows: order id -> price ticks."""
    _resting: int = field(init=False, default=0)
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
            return self._random_cancel()
        symbol = rng.choice(self.symbols)
        side: Side = "buy" if rng.random() < 0.5 else "sell"
        user = 2 * rng.randrange(self.users // 2) + (0 if side == "buy" else 1)
        legs = [self._order(symbol, side) for _ in range(self.batch_size)]
        return Place(user, legs, self._stale(user, symbol))

    def accepted(self, user: int, order: OrderRequest, order_id: int) -> None:
        """An order was acknowledged: a resting one becomes a candidate to cancel."""
        if order["type"] == "limit" and order.get("time_in_force") == "GTC":
            key = (user, order["symbol"])
            self._open.setdefault(key, {})[order_id] = price_ticks(order["price"])
            self._resting += 1

    def _random_cancel(self) -> Cancel:
        """A cancel of a resting order drawn at random (one of a random trader's on a symbol)."""
        rng = self._rng
        books = [key for key, orders in self._open.items() if orders]
        key = rng.choice(books)
        orders = self._open[key]
        order_id = rng.choice(list(orders))
        del orders[order_id]
        self._resting -= 1
        return Cancel(key[0], order_id)

    def _stale(self, user: int, symbol: str) -> list[int]:
        """Take the user's orders on ``symbol`` that the mid left behind (farther than
        ``stale_ticks``) and, of the rest, the farthest beyond ``max_open``."""
        orders = self._open.get((user, symbol))
        if not orders:
            return []
        mid = self._mids[symbol]
        by_distance = sorted(orders, key=lambda order_id: abs(orders[order_id] - mid))
        keep = by_distance[: self.mix.max_open]
        cancels = by_distance[self.mix.max_open :]
        cancels += [i for i in keep if abs(orders[i] - mid) > self.mix.stale_ticks]
        for order_id in cancels:
            del orders[order_id]
        self._resting -= len(cancels)
        return cancels

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
