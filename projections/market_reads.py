"""Market reads: the book (L2, L3), recent trades, candles, market-data snapshots and deltas."""

from __future__ import annotations

from typing import Any, Final

import orjson

from domain.instrument import Instrument
from projections import render
from projections.keys import ASKS, BIDS, MARKET
from projections.market import INTERVALS
from projections.reads import ReadModels

MAX_DEPTH: Final = 1000

BOOK_LUA: Final = """
local n = tonumber(ARGV[1]) - 1
local bp = redis.call('ZREVRANGE', KEYS[1], 0, n)
local bq = {}
if #bp > 0 then bq = redis.call('HMGET', KEYS[2], unpack(bp)) end
local ap = redis.call('ZRANGE', KEYS[3], 0, n)
local aq = {}
if #ap > 0 then aq = redis.call('HMGET', KEYS[4], unpack(ap)) end
return {bp, bq, ap, aq, redis.call('GET', KEYS[5]) or '0'}
"""
"""Both sides best first and the market-data sequence, read at one instant."""


async def book_levels(
    models: ReadModels, symbol: str, depth: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int]:
    """(bids, asks, seq): up to ``depth`` levels per side as (price ticks, quantity)."""
    space = await models.space(MARKET)
    script = models.script(BOOK_LUA)
    keys = [
        space.levels(symbol, BIDS),
        space.level_qty(symbol, BIDS),
        space.levels(symbol, ASKS),
        space.level_qty(symbol, ASKS),
        models.control.market_seq(symbol),
    ]
    bp, bq, ap, aq, seq = await script(keys=keys, args=[min(depth, MAX_DEPTH)])
    bids = [(int(p), int(q)) for p, q in zip(bp, bq, strict=True)]
    asks = [(int(p), int(q)) for p, q in zip(ap, aq, strict=True)]
    return bids, asks, int(seq)


async def book(models: ReadModels, instrument: Instrument, depth: int) -> dict[str, Any]:
    """``{"symbol","bids":[["101.25",30],…],"asks":[…],"seq"}``, best first."""
    bids, asks, seq = await book_levels(models, instrument.symbol, depth)
    fmt = instrument.format_price
    return {
        "symbol": instrument.symbol,
        "bids": [[fmt(p), q] for p, q in bids],
        "asks": [[fmt(p), q] for p, q in asks],
        "seq": seq,
    }


async def book_orders(models: ReadModels, instrument: Instrument, depth: int) -> dict[str, Any]:
    """L3: per level (best first), its orders in time priority as ``[order_id, quantity]``."""
    symbol = instrument.symbol
    bids, asks, seq = await book_levels(models, symbol, depth)
    space = await models.space(MARKET)
    pipe = models.redis.pipeline(transaction=False)
    for side, levels in ((BIDS, bids), (ASKS, asks)):
        for price, _ in levels:
            pipe.zrange(space.level_orders(symbol, side, price), 0, -1)
    order_lists: list[list[bytes]] = await pipe.execute()
    ids = [int(member) for members in order_lists for member in members]
    docs = await models.redis.mget([space.book_order(i) for i in ids]) if ids else []
    remaining = {
        i: orjson.loads(doc)["q"] for i, doc in zip(ids, docs, strict=True) if doc is not None
    }
    shown: dict[str, Any] = {"symbol": symbol, "seq": seq}
    cursor = 0
    for name, levels in (("bids", bids), ("asks", asks)):
        rows = []
        for price, quantity in levels:
            members = [int(m) for m in order_lists[cursor]]
            cursor += 1
            orders = [[i, remaining[i]] for i in members if i in remaining]
            shown_price = instrument.format_price(price)
            rows.append({"price": shown_price, "quantity": quantity, "orders": orders})
        shown[name] = rows
    return shown


async def trades(
    models: ReadModels, instrument: Instrument, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """Newest first; ``before`` = a trade id to page below."""
    space = await models.space(MARKET)
    raw = await models.page(space.trades(instrument.symbol), before, limit)
    return [_trade(instrument, orjson.loads(member)) for member in raw]


def _trade(instrument: Instrument, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "trade_id": record["trade_id"],
        "price": instrument.format_price(record["price"]),
        "quantity": record["quantity"],
        "taker_side": record["taker_side"],
        "executed_at": render.iso(record["executed_at"]),
        "position": record["position"],
    }


async def candles(
    models: ReadModels, instrument: Instrument, interval: str, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """Oldest first, the newest ``limit`` buckets (``before``: a bucket start, s, to page)."""
    symbol = instrument.symbol
    space = await models.space(MARKET)
    buckets = await models.page(space.candle_index(symbol, interval), before, limit)
    pipe = models.redis.pipeline(transaction=False)
    for bucket in buckets:
        pipe.hgetall(space.candle(symbol, interval, int(bucket)))
    rows: list[dict[bytes, bytes]] = await pipe.execute()
    shown = []
    fmt = instrument.format_price
    for bucket, row in zip(reversed(buckets), reversed(rows), strict=True):
        start = int(bucket)
        shown.append(
            {
                "start": render.iso(start * 1_000_000_000),
                "interval": interval,
                "open": fmt(int(row[b"o"])),
                "high": fmt(int(row[b"h"])),
                "low": fmt(int(row[b"l"])),
                "close": fmt(int(row[b"c"])),
                "volume": int(row[b"v"]),
                "trades": int(row[b"n"]),
            }
        )
    return shown


def market_message(instrument: Instrument, raw: bytes) -> dict[str, Any]:
    """A published market-data delta for the wire (levels are absolute: 0 = gone)."""
    message = orjson.loads(raw)
    fmt = instrument.format_price
    return {
        "type": "update",
        "symbol": instrument.symbol,
        "seq": message["seq"],
        "book": [
            {"side": "bid" if side == BIDS else "ask", "price": fmt(p), "quantity": q}
            for side, p, q in message["book"]
        ],
        "trades": [_trade(instrument, t) for t in message["trades"]],
    }


__all__ = ["INTERVALS", "book", "book_orders", "candles", "market_message", "trades"]
