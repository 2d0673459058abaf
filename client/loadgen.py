"""Drives a :class:`client.workload.Flow` through the exchange and measures it.

``prepare`` lists the symbols and registers funded users (buyers get cash, sellers shares);
``drive`` sends the flow from ``concurrency`` tasks at a target rate (or flat out) until
``orders`` placements or ``duration_s`` seconds, and records each request's accept latency and,
for a sample of orders, the end-to-end latency: from the POST to the query API showing the
engine's answer to that request (``ExchangeClient.order_after``, which reads with the POST's
``position`` as ``min_position`` and waits for the event caused by the POST's ``event_id``).
Loopback only (``loopback_only``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from client.api import ExchangeClient
from client.errors import Conflict, ExchangeError, NotFound
from client.workload import Action, Cancel, Flow, Place

BUYER_CASH: Final = "1000000000.00"
SELLER_SHARES: Final = 1_000_000_000
MAX_PROBES: Final = 16
"""End-to-end probes in flight at once (each polls the query API until its order shows)."""


def loopback_only(*urls: str) -> None:
    """Refuse any URL whose host is not a loopback address (load stays on this machine)."""
    for url in urls:
        host = urlsplit(url).hostname or "127.0.0.1"
        address = socket.gethostbyname(host)
        if not ipaddress.ip_address(address).is_loopback:
            raise ValueError(f"refusing to load a non-loopback host: {host} ({address})")


@dataclass
class Market:
    """The run's symbols and users (clients sharing the admin's connections)."""

    admin: ExchangeClient
    symbols: list[str]
    users: list[ExchangeClient]
    tag: str


async def prepare(admin: ExchangeClient, users: int, symbols: int, concurrency: int = 16) -> Market:
    """List ``symbols`` fresh symbols and register ``users`` funded users (even: buyers)."""
    tag = uuid.uuid4().hex[:6].upper()
    names = [f"L{tag}{i}" for i in range(symbols)]
    for name in names:
        await admin.list_instrument(name)
    gate = asyncio.Semaphore(concurrency)

    async def user(index: int) -> ExchangeClient:
        async with gate:
            created = await admin.create_user(f"load{tag.lower()}{index}")
            trader = admin.as_user(created["api_key"])
            if index % 2 == 0:
                await trader.deposit("USD", BUYER_CASH)
            else:
                for name in names:
                    await trader.deposit(name, SELLER_SHARES)
            return trader

    traders = await asyncio.gather(*(user(i) for i in range(users)))
    return Market(admin, names, list(traders), tag)


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """How much load, how fast."""

    orders: int
    duration_s: float
    rate: float = 0.0
    """Target placements per second (0: flat out)."""
    concurrency: int = 32
    batch_size: int = 1
    probe_every_s: float = 0.05
    """Start an end-to-end probe at most this often (0: no probes)."""
    seed: int = 1
    client_order_ids: bool = True
    """Give each order a ``client_order_id`` (needed to find doubled orders)."""


@dataclass
class LoadStats:
    """What a run did and how long things took."""

    placed: int = 0
    requests: int = 0
    cancels: int = 0
    cancels_late: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    accept_ms: list[float] = field(default_factory=list)
    e2e_ms: list[float] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)
    """Every order id the exchange acknowledged (for the lost/doubled checks)."""
    started: float = field(default_factory=time.perf_counter)
    elapsed_s: float = 0.0
    error_samples: list[str] = field(default_factory=list)

    def percentile(self, values: list[float], p: float) -> float:
        """The ``p``-th percentile of ``values`` (0 without samples)."""
        if not values:
            return 0.0
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    def rate(self) -> float:
        """Placements acknowledged per second so far."""
        elapsed = self.elapsed_s or (time.perf_counter() - self.started)
        return self.placed / elapsed if elapsed else 0.0


class Pacer:
    """Hands out send slots at ``rate`` per second (no limit at 0)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start = time.perf_counter()
        self.granted = 0

    async def wait(self, amount: int) -> None:
        """Wait for the slot of the next ``amount`` units."""
        if self.rate <= 0:
            return
        due = self.start + self.granted / self.rate
        self.granted += amount
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)


class Driver:
    """One run of a flow against a market."""

    def __init__(self, market: Market, config: LoadConfig, flow: Flow | None = None) -> None:
        self.market = market
        self.config = config
        self.flow = flow or Flow(
            market.symbols, len(market.users), config.seed, config.batch_size, tag=market.tag,
            client_order_ids=config.client_order_ids,
        )  # fmt: skip
        self.stats = LoadStats()
        self._probes: set[asyncio.Task[None]] = set()
        self._last_probe = 0.0
        self._pending = 0
        """Orders sent and not answered yet (they count against ``orders`` until refused)."""
        self._answered = asyncio.Condition()

    async def run(self, on_tick: Callable[[LoadStats], None] | None = None) -> LoadStats:
        """Send until ``orders`` placements are acknowledged (never more: the last requests
        carry only what is left) or the time is up; wait for the probes."""
        stats, config = self.stats, self.config
        deadline = time.perf_counter() + config.duration_s
        pacer = Pacer(config.rate)
        stats.started = time.perf_counter()

        async def worker() -> None:
            while time.perf_counter() < deadline:
                left = config.orders - stats.placed - self._pending
                if left <= 0:
                    if not self._pending:
                        return
                    async with self._answered:  # some in flight may yet be refused
                        await self._answered.wait()
                    continue
                action = self.flow.next()
                if isinstance(action, Place):
                    action = Place(action.user, action.orders[:left], action.cancels)
                    self._pending += len(action.orders)
                    try:
                        await pacer.wait(len(action.orders))
                        await self._send(action)
                    finally:
                        self._pending -= len(action.orders)
                        async with self._answered:
                            self._answered.notify_all()
                else:
                    await self._send(action)
                if on_tick is not None:
                    on_tick(stats)

        await asyncio.gather(*(worker() for _ in range(config.concurrency)))
        stats.elapsed_s = time.perf_counter() - stats.started
        await asyncio.gather(*self._probes)
        return stats

    async def _send(self, action: Action) -> None:
        trader = self.market.users[action.user]
        if isinstance(action, Place) and action.cancels:
            await self._pull(trader, action.cancels)
        started = time.perf_counter()
        try:
            if isinstance(action, Cancel):
                await trader.cancel_order(action.order_id)
                self.stats.cancels += 1
            elif self.flow.batch_size == 1:
                placed = await trader.place_order(action.orders[0])
                answer = (placed["position"], placed.get("event_id"))
                self._placed(action, [placed["order_id"]], answer, started)
            else:
                batch = await trader.place_batch(action.orders, all_or_nothing=False)
                ids = [leg["order_id"] for leg in batch["orders"]]
                self._placed(action, ids, (batch["position"], batch.get("event_id")), started)
        except (Conflict, NotFound) as late:  # (a cancel of an order that filled or closed)
            self.stats.cancels_late += isinstance(action, Cancel)
            self._refused(late)
        except ExchangeError as refused:
            self._refused(refused)
        finally:
            self.stats.requests += 1
            self.stats.accept_ms.append((time.perf_counter() - started) * 1000)

    async def _pull(self, trader: ExchangeClient, order_ids: list[int]) -> None:
        """Cancel a trader's stale orders in one request (those that filled meanwhile answer
        ``not_open``: counted as late cancels)."""
        stats = self.stats
        started = time.perf_counter()
        try:
            answer = await trader.cancel_batch(order_ids)
        except Conflict as late:  # (none of them was open any more)
            stats.cancels_late += len(order_ids)
            self._refused(late)
        except ExchangeError as refused:
            self._refused(refused)
        else:
            statuses = Counter(leg["status"] for leg in answer["orders"])
            stats.cancels += statuses["cancel_requested"]
            stats.cancels_late += len(order_ids) - statuses["cancel_requested"]
        finally:
            stats.requests += 1
            stats.accept_ms.append((time.perf_counter() - started) * 1000)

    def _placed(
        self, action: Place, ids: list[int], answer: tuple[int, str | None], started: float
    ) -> None:
        """Count an acknowledged placement; probe its end-to-end path now and then (``answer``:
        the request's position and event id)."""
        stats = self.stats
        stats.placed += len(ids)
        stats.acknowledged.extend(ids)
        for order, order_id in zip(action.orders, ids, strict=True):
            self.flow.accepted(action.user, order, order_id)
        now = time.perf_counter()
        every = self.config.probe_every_s
        if every > 0 and now - self._last_probe >= every and len(self._probes) < MAX_PROBES:
            self._last_probe = now
            task = asyncio.ensure_future(self._probe(action.user, ids[-1], answer, started))
            self._probes.add(task)
            task.add_done_callback(self._probes.discard)

    async def _probe(
        self, user: int, order_id: int, answer: tuple[int, str | None], started: float
    ) -> None:
        try:
            await self.market.users[user].order_after(order_id, answer[0], caused_by=answer[1])
        except ExchangeError as failed:
            self._refused(failed)
            return
        self.stats.e2e_ms.append((time.perf_counter() - started) * 1000)

    def _refused(self, error: ExchangeError) -> None:
        self.stats.refused[error.code] += 1
        if len(self.stats.error_samples) < 5 and error.code != "ORDER_NOT_OPEN":
            self.stats.error_samples.append(str(error)[:200])
