"""Levels with many orders: FIFO survives trimming of the filled front and tombstone compaction,
and the engine trades exactly like an independent engine on a long random order flow."""

from __future__ import annotations

import random

import pytest

from domain import MatchingEngine

from .builders import SYMBOL, cancel, engine, limit, market, queue, trades


def test_fifo_holds_while_the_filled_front_of_a_long_level_is_trimmed() -> None:
    eng = engine()
    for order_id in range(1, 301):
        eng.process(limit(order_id, 1, "sell", 100, 1))
    taken: list[int] = []
    for taker_id in range(1001, 1201):  # 200 takers, one share each
        taken += [maker for _, _, _, maker in trades(eng.process(market(taker_id, 2, "buy", 1)))]
    assert taken == list(range(1, 201))
    assert queue(eng, "sell") == [(order_id, 1) for order_id in range(201, 301)]
    level = eng.book(SYMBOL).asks.levels[-100]
    assert len(level.queue) - level.head == 100
    assert len(level.queue) < 300, "the filled front is trimmed"


def test_fifo_holds_when_a_level_full_of_tombstones_is_compacted() -> None:
    eng = engine()
    for order_id in range(1, 201):
        eng.process(limit(order_id, 1, "buy", 100, 1))
    for order_id in range(1, 201):
        if order_id % 4:
            eng.process(cancel(order_id, 1))
    level = eng.book(SYMBOL).bids.levels[100]
    assert level.dead < 150, "tombstones were compacted away"
    assert queue(eng, "buy") == [(order_id, 1) for order_id in range(4, 201, 4)]
    fills = trades(eng.process(limit(999, 2, "sell", 100, 50)))
    assert [maker for _, _, _, maker in fills] == list(range(4, 201, 4))
    assert queue(eng, "buy") == []


def _flow(seed: int, count: int) -> list[dict[str, object]]:
    """A random order flow like the standard benchmark's: passive, aggressive, market, cancel."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    passive: list[tuple[int, int]] = []
    mid = 10_000
    for order_id in range(1, count + 1):
        mid += rng.choice((-1, 0, 0, 1))
        roll = rng.random()
        side = rng.choice(("buy", "sell"))
        user = rng.randrange(0, 500, 2) + (0 if side == "buy" else 1)  # buyers even, sellers odd
        sign = -1 if side == "buy" else 1
        if roll < 0.25 and passive:
            victim, owner = passive.pop(rng.randrange(len(passive)))
            rows.append({"op": "cancel", "id": victim, "user": owner})
        elif roll < 0.30:
            rows.append({"op": "market", "id": order_id, "user": user, "side": side, "qty": 40})
        elif roll < 0.40:
            price = mid - sign * rng.randint(0, 5)
            rows.append(
                {"op": "limit", "id": order_id, "user": user, "side": side, "price": price,
                 "qty": rng.randint(1, 60), "tif": "GTC"}
            )  # fmt: skip
        else:
            price = mid + sign * rng.randint(1, 50)
            tif = "IOC" if rng.random() < 0.05 else "GTC"
            rows.append(
                {"op": "limit", "id": order_id, "user": user, "side": side, "price": price,
                 "qty": rng.randint(1, 60), "tif": tif}
            )  # fmt: skip
            passive.append((order_id, user))
    return rows


def _our_trades(rows: list[dict[str, object]]) -> list[tuple[int, int, int, int]]:
    eng: MatchingEngine = engine()
    out: list[tuple[int, int, int, int]] = []
    for row in rows:
        order_id, user = int(str(row["id"])), int(str(row["user"]))
        if row["op"] == "cancel":
            command = cancel(order_id, user)
        elif row["op"] == "market":
            command = market(order_id, user, "buy" if row["side"] == "buy" else "sell", 40)
        else:
            side = "buy" if row["side"] == "buy" else "sell"
            tif = "IOC" if row["tif"] == "IOC" else "GTC"
            price, qty = int(str(row["price"])), int(str(row["qty"]))
            command = limit(order_id, user, side, price, qty, tif)
        out += trades(eng.process(command))
    return out


def _peer_trades(rows: list[dict[str, object]]) -> list[tuple[int, int, int, int]]:
    peer = pytest.importorskip("matching_engine.engine")
    vocabulary = pytest.importorskip("matching_engine.domain")
    trade_type = pytest.importorskip("matching_engine.events").Trade
    side_of = {"buy": vocabulary.Side.BUY, "sell": vocabulary.Side.SELL}
    limit_type, market_type = vocabulary.OrderType.LIMIT, vocabulary.OrderType.MARKET
    gtc, ioc = vocabulary.TimeInForce.GTC, vocabulary.TimeInForce.IOC

    eng = peer.MatchingEngine()
    out: list[tuple[int, int, int, int]] = []
    for seq, row in enumerate(rows, 1):
        command: object
        if row["op"] == "cancel":
            command = vocabulary.CancelOrder(row["id"], row["user"])
        elif row["op"] == "market":
            command = vocabulary.NewOrder(
                row["id"], row["user"], side_of[str(row["side"])], 0, 40, market_type, ioc
            )
        else:
            command = vocabulary.NewOrder(
                row["id"], row["user"], side_of[str(row["side"])], row["price"], row["qty"],
                limit_type, ioc if row["tif"] == "IOC" else gtc,
            )  # fmt: skip
        for event in eng.process(vocabulary.SequencedCommand(seq, 0, command)):
            if isinstance(event, trade_type):
                out.append((event.price, event.qty, event.taker_order_id, event.maker_order_id))
    return out


def test_trades_match_an_independent_engine_fill_for_fill() -> None:
    rows = _flow(seed=7, count=20_000)
    ours = _our_trades(rows)
    assert len(ours) > 3_000
    assert ours == _peer_trades(rows)
