"""Crowded price levels: the list FIFO's trimming and tombstone compaction under every rule.

Random flows pile hundreds of orders onto one or two prices, cancel most of them, amend some and
send takers of the same users (self-trade prevention) and DAY expiries through them. After every
few commands the book's own bookkeeping is checked against a recount, the fast paths must give
exactly the reference path's events, and a snapshot taken mid-flow must restore to the same
state. The flows are sized so that fronts are trimmed and tombstones compacted many times.
"""

from __future__ import annotations

import random

import pytest

from domain import AmendOrder, CancelOrder, ExpireOrders, MatchingEngine, NewOrder
from domain.commands import Command
from domain.instrument import SELF_TRADE_MODES, SelfTradeMode
from domain.matching.book import BookSide, OrderBook

from .builders import SYMBOL, cancel, engine, kinds, limit, market, queue, trades


def _flow(rng: random.Random, rounds: int) -> list[Command]:
    commands: list[Command] = []
    owner: dict[int, int] = {}
    next_id, at = 1, 0
    for _ in range(rounds):
        side = rng.choice(("buy", "sell"))
        other = "sell" if side == "buy" else "buy"
        price = rng.choice((100, 101))
        placed: list[int] = []
        for _ in range(rng.randint(60, 220)):
            user = rng.randint(1, 4)
            day = rng.random() < 0.1
            commands.append(
                NewOrder(
                    SYMBOL, next_id, user, side, "limit", price, rng.randint(1, 5),
                    "DAY" if day else "GTC", at, False, None,
                    at + rng.randint(1, 60) if day else None,
                )
            )  # fmt: skip
            owner[next_id] = user
            placed.append(next_id)
            next_id += 1
        rng.shuffle(placed)
        for victim in placed[: int(len(placed) * rng.uniform(0.3, 0.95))]:
            at += rng.randint(0, 1)
            roll = rng.random()
            if roll < 0.75:
                commands.append(CancelOrder(SYMBOL, victim, owner[victim], at))
            elif roll < 0.85:
                new_quantity = rng.choice((None, rng.randint(1, 6)))
                new_price = rng.choice((None, 100, 101, 102))
                commands.append(
                    AmendOrder(SYMBOL, victim, owner[victim], new_quantity, new_price, at)
                )
            else:
                user = rng.randint(1, 8)  # 1-4 also rest orders: self-trade prevention
                tif = rng.choice(("IOC", "FOK", "GTC"))
                limit_price = rng.choice((99, 100, 101, 102, None))
                commands.append(
                    NewOrder(
                        SYMBOL, next_id, user, other, "limit" if limit_price else "market",
                        limit_price, rng.randint(1, 30),
                        tif if limit_price else rng.choice(("IOC", "FOK")), at,
                    )
                )  # fmt: skip
                owner[next_id] = user
                next_id += 1
            if rng.random() < 0.02:
                commands.append(ExpireOrders(at))
        for _ in range(rng.randint(0, 4)):
            commands.append(
                NewOrder(
                    SYMBOL, next_id, rng.randint(1, 8), other, "market", None,
                    rng.randint(10, 200), "IOC", at,
                )
            )  # fmt: skip
            next_id += 1
    return commands


def _check_side(book: OrderBook, side: BookSide, per_user: dict[int, list[int]]) -> None:
    assert side.keys == sorted(side.levels), "keys sorted, one per level"
    for key, level in side.levels.items():
        assert level.key == key and level.qty > 0
        live = list(level.entries())
        assert level.dead == sum(1 for order in live if not order.remaining)
        assert level.qty == sum(order.remaining for order in live)
        assert 0 <= level.head <= len(level.queue)
        for order in live:
            if order.remaining:
                assert order.level_key is key
                assert book.orders[order.order_id] is order
                per_user.setdefault(order.user_id, [0, 0])[0 if side.bid else 1] += 1


def _check(engine_: MatchingEngine) -> None:
    """Every derived structure of the book equals a recount from its queues."""
    book = engine_.book(SYMBOL)
    per_user: dict[int, list[int]] = {}
    _check_side(book, book.bids, per_user)
    _check_side(book, book.asks, per_user)
    assert sum(map(sum, per_user.values())) == len(book.orders)
    for user, counts in book.open_counts.items():
        assert [counts.bids, counts.asks] == per_user.get(user, [0, 0])
    for order in book.orders.values():
        assert order.counts is book.open_counts[order.user_id]


class _Housekeeping:
    """Counts trims (the same list got shorter: only a trim removes) and compactions (new list)."""

    def __init__(self) -> None:
        self.trims = 0
        self.compactions = 0
        self._seen: dict[int, tuple[object, list[object], int]] = {}

    def observe(self, engine_: MatchingEngine) -> None:
        book = engine_.book(SYMBOL)
        for side in (book.bids, book.asks):
            for key, level in side.levels.items():
                slot = key if side.bid else key - (1 << 40)
                before = self._seen.get(slot)
                if before is not None and before[0] is level:
                    if before[1] is not level.queue:
                        self.compactions += 1
                    elif len(level.queue) < before[2]:
                        self.trims += 1
                self._seen[slot] = (level, level.queue, len(level.queue))


def test_self_trade_prevention_that_compacts_a_level_mid_match_keeps_fifo() -> None:
    eng = engine("cancel_oldest")
    eng.process(limit(1, 1, "sell", 100, 1))  # the taker's own order, first in the queue
    eng.process(limit(2, 2, "sell", 100, 1))
    for order_id in range(3, 43):
        eng.process(limit(order_id, 3, "sell", 100, 1))
    eng.process(limit(43, 2, "sell", 100, 5))
    for order_id in range(3, 35):  # 32 tombstones: one more compacts the level
        eng.process(cancel(order_id, 3))
    events = eng.process(market(99, 1, "buy", 10))
    assert kinds(events)[:2] == ["OrderAccepted", "OrderCancelled"]  # own order 1 cancelled
    assert [maker for _, _, _, maker in trades(events)] == [2, *range(35, 43), 43]
    _check(eng)
    assert queue(eng, "sell") == [(43, 4)]
    assert [maker for _, _, _, maker in trades(eng.process(market(100, 4, "buy", 4)))] == [43]


def test_a_level_trimmed_at_the_front_then_compacted_keeps_fifo() -> None:
    eng = engine()
    for order_id in range(1, 201):
        eng.process(limit(order_id, 2, "sell", 100, 1))
    for taker_id in range(1001, 1081):  # 80 fills from the front: head 80, not yet trimmed
        eng.process(market(taker_id, 1, "buy", 1))
    level = eng.book(SYMBOL).asks.levels[-100]
    assert level.head == 80
    for order_id in range(81, 151):  # 70 cancels: the level compacts (at 61) with head > 0
        eng.process(cancel(order_id, 2))
    assert level.dead < 61, "compacted"
    assert level.head == 0
    assert queue(eng, "sell") == [(order_id, 1) for order_id in range(151, 201)]
    fills = trades(eng.process(market(2000, 1, "buy", 50)))
    assert [maker for _, _, _, maker in fills] == list(range(151, 201))


@pytest.mark.parametrize("mode", SELF_TRADE_MODES)
def test_crowded_levels_keep_their_books_exact(mode: SelfTradeMode) -> None:
    housekeeping = _Housekeeping()
    for seed in range(3):
        rng = random.Random(f"{mode}-{seed}")
        fast, reference = engine(mode), engine(mode)
        for step, command in enumerate(_flow(rng, rounds=12)):
            assert fast.process(command) == reference.process_reference(command), (seed, step)
            housekeeping.observe(fast)
            if step % 7 == 0:
                _check(fast)
                _check(reference)
            if step % 400 == 200:
                snapshot = fast.snapshot()
                assert snapshot == reference.snapshot()
                fast = MatchingEngine.restore(snapshot)
                _check(fast)
        _check(fast)
        assert fast.state_hash() == reference.state_hash()
    assert housekeeping.trims > 0, "the flows must trim spent fronts"
    assert housekeeping.compactions > 0, "the flows must compact tombstones"
