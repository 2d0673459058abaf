"""Market read models: order books (L2 and L3), recent trades and OHLCV candles per symbol.

Fed by the engine's events on ``order-<id>`` streams. Orders of one symbol live on many
streams, hence on many events partitions that interleave differently, so every change here
commutes: a level's quantity moves by deltas (``L2``), a trade is keyed by its trade id, a
candle's open and close are the prices of its lowest and highest trade id.

An order is in the book from ``OrderAccepted`` (a GTC or DAY limit order) until its remainder
is filled, cancelled or expired; fills, reductions and amends move its level by its own limit
price (a taker's fill price is the maker's). Its time priority (the L3 score) is the position
of the event that put it at its level. ``bo:<order_id>`` remembers each resting order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from projections.base import Cache, Inputs, StoredEvent
from projections.changes import Changes
from projections.keys import MARKET, Space, side_code

INTERVALS: Final = {"1m": 60, "5m": 300, "1h": 3600, "1d": 86400}
"""Candle intervals and their length in seconds."""

RESTING_TIME_IN_FORCE: Final = frozenset({"GTC", "DAY"})
_NS: Final = 1_000_000_000
_TOUCHING: Final = frozenset(
    {"OrderFilled", "OrderCancelled", "OrderExpired", "OrderReduced", "OrderAmended"}
)


class MarketFold:
    """Books, trades and candles."""

    name = MARKET
    inputs = Inputs(types=_TOUCHING | {"OrderAccepted"})

    def wanted(self, events: Sequence[StoredEvent], space: Space, cache: Cache) -> list[str]:
        """Book entries of orders touched by the batch but not cached."""
        wanted: list[str] = []
        accepted: set[int] = set()
        for event in events:
            if event.type == "OrderAccepted":
                accepted.add(event.data["order_id"])
            elif event.type in _TOUCHING:
                order_id = event.data["order_id"]
                key = space.book_order(order_id)
                if order_id not in accepted and key not in cache:
                    wanted.append(key)
        return wanted

    def load(self, raw: bytes | str) -> Any:
        """A stored book entry."""
        return orjson.loads(raw)

    def fold(self, events: Sequence[StoredEvent], space: Space, cache: Cache, out: Changes) -> None:
        """Book, trade and candle changes of the batch."""
        for event in events:
            kind = event.type
            if kind == "OrderAccepted":
                _accepted(event, space, cache, out)
            elif kind == "OrderFilled":
                _filled(event, space, cache, out)
            elif kind in ("OrderCancelled", "OrderExpired"):
                entry = cache.get(space.book_order(event.data["order_id"]))
                if entry is not None:
                    _take(entry, entry["q"], event.data["order_id"], space, cache, out)
            elif kind == "OrderReduced":
                entry = cache.get(space.book_order(event.data["order_id"]))
                if entry is not None:
                    _take(entry, event.data["quantity"], event.data["order_id"], space, cache, out)
            elif kind == "OrderAmended":
                _amended(event, space, cache, out)


def _level_keys(space: Space, symbol: str, side: str) -> tuple[str, str, str, str]:
    return (space.levels(symbol, side), space.level_qty(symbol, side), symbol, side)


def _accepted(event: StoredEvent, space: Space, cache: Cache, out: Changes) -> None:
    data = event.data
    key = space.book_order(data["order_id"])
    rests = data["order_type"] == "limit" and data["time_in_force"] in RESTING_TIME_IN_FORCE
    if not rests or data["quantity"] <= 0:
        cache[key] = None
        out.evict.append(key)
        return
    entry = {
        "s": data["symbol"],
        "d": side_code(data["side"]),
        "p": data["price"],
        "q": data["quantity"],
        "t": event.position,
    }
    _put(entry, data["order_id"], space, cache, out, born=True)


def _put(
    entry: dict[str, Any],
    order_id: int,
    space: Space,
    cache: Cache,
    out: Changes,
    born: bool = False,
) -> None:
    """Add ``entry``'s quantity at its level (L2 and L3) and remember it (``born``: a new
    order, in no level and without a document before this batch)."""
    symbol, side, price = entry["s"], entry["d"], entry["p"]
    out.level(_level_keys(space, symbol, side), price, entry["q"])
    out.zadd(space.level_orders(symbol, side, price), str(order_id), entry["t"], born)
    key = space.book_order(order_id)
    cache[key] = entry
    out.set_doc(key, orjson.dumps(entry), born)


def _take(
    entry: dict[str, Any], quantity: int, order_id: int, space: Space, cache: Cache, out: Changes
) -> None:
    """Take ``quantity`` off a resting order (out of the book when nothing is left)."""
    quantity = min(quantity, entry["q"])
    symbol, side, price = entry["s"], entry["d"], entry["p"]
    out.level(_level_keys(space, symbol, side), price, -quantity)
    entry["q"] -= quantity
    key = space.book_order(order_id)
    if entry["q"] <= 0:
        out.zrem(space.level_orders(symbol, side, price), str(order_id))
        cache[key] = None
        out.set_doc(key, None)
        out.evict.append(key)
    else:
        out.set_doc(key, orjson.dumps(entry))


def _filled(event: StoredEvent, space: Space, cache: Cache, out: Changes) -> None:
    data = event.data
    order_id = data["order_id"]
    entry = cache.get(space.book_order(order_id))
    if entry is not None:
        _take(entry, data["quantity"], order_id, space, cache, out)
    if data["liquidity"] != "taker":
        return
    symbol, trade_id, price, quantity = (
        data["symbol"],
        data["trade_id"],
        data["price"],
        data["quantity"],
    )
    record = {
        "trade_id": trade_id,
        "price": price,
        "quantity": quantity,
        "taker_side": data["side"],
        "executed_at": data["at"],
        "position": event.position,
    }
    out.trade(space.trades(symbol), symbol, trade_id, orjson.dumps(record))
    seconds = data["at"] // _NS
    for index, prefix, length in _candle_keys(space, symbol):
        out.candle((index, prefix, seconds - seconds % length), trade_id, price, quantity)


_CANDLE_KEYS: dict[tuple[str, str], list[tuple[str, str, int]]] = {}


def _candle_keys(space: Space, symbol: str) -> list[tuple[str, str, int]]:
    """(index key, candle prefix, length) of each interval of a symbol, memoised."""
    found = _CANDLE_KEYS.get((space.base, symbol))
    if found is None:
        if len(_CANDLE_KEYS) > 10_000:
            _CANDLE_KEYS.clear()
        found = _CANDLE_KEYS[(space.base, symbol)] = [
            (space.candle_index(symbol, name), space.candle_prefix(symbol, name), length)
            for name, length in INTERVALS.items()
        ]
    return found


def _amended(event: StoredEvent, space: Space, cache: Cache, out: Changes) -> None:
    data = event.data
    order_id = data["order_id"]
    entry = cache.get(space.book_order(order_id))
    if entry is None:
        return
    remaining = data["remaining"]
    if data["priority_kept"] and data["price"] == entry["p"]:
        if remaining < entry["q"]:
            _take(entry, entry["q"] - remaining, order_id, space, cache, out)
        return
    moved = {"s": entry["s"], "d": entry["d"], "p": data["price"], "q": remaining}
    moved["t"] = entry["t"] if data["priority_kept"] else event.position
    _take(entry, entry["q"], order_id, space, cache, out)
    if remaining > 0:
        _put(moved, order_id, space, cache, out)
