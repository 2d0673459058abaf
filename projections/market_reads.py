"""Market reads: the book (L2, L3), recent trades, candles, market-data snapshots and deltas."""

from __future__ import annotations

from decimal import Decimal
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
local function side(levels, quantities, descending)
  local prices
  if descending then
    prices = redis.call('ZREVRANGE', levels, 0, n)
  else
    prices = redis.call('ZRANGE', levels, 0, n)
  end
  if #prices == 0 then return '' end
  local qs = redis.call('HMGET', quantities, unpack(prices))
  local out = {}
  for i = 1, #prices do out[i] = prices[i] .. ' ' .. (qs[i] or '0') end
  return table.concat(out, ' ')
end
local position = -1
for i = 6, #KEYS do
  local reached = tonumber(redis.call('GET', KEYS[i]) or '0')
  if position < 0 or reached < position then position = reached end
end
return {side(KEYS[1], KEYS[2], true), side(KEYS[3], KEYS[4], false),
  redis.call('GET', KEYS[5]) or '0', string.format('%d', math.max(position, 0))}
"""
"""Both sides best first (``"price qty price qty …"``), the market-data sequence and the
projection's position, read at one instant (one round trip, one flat reply to parse)."""

Levels = list[tuple[int, int]]


def _levels(flat: bytes) -> Levels:
    numbers = flat.split()
    return [(int(numbers[i]), int(numbers[i + 1])) for i in range(0, len(numbers), 2)]


async def book_levels(
    models: ReadModels, symbol: str, depth: int
) -> tuple[Levels, Levels, int, int]:
    """(bids, asks, seq, position): up to ``depth`` levels per side as (price ticks, quantity)."""
    space = await models.space(MARKET)
    keys = [
        space.levels(symbol, BIDS),
        space.level_qty(symbol, BIDS),
        space.levels(symbol, ASKS),
        space.level_qty(symbol, ASKS),
        models.control.market_seq(symbol),
        *models.position_keys,
    ]
    bids, asks, seq, position = await models.run(BOOK_LUA, keys, [min(depth, MAX_DEPTH)])
    return _levels(bids), _levels(asks), int(seq), int(position)


_PRICES: dict[tuple[Decimal, int], str] = {}
"""Rendered prices by (tick size, ticks): a book shows the same few prices again and again."""


def price_text(instrument: Instrument, ticks: int) -> str:
    """``instrument.format_price(ticks)``, memoised."""
    key = (instrument.tick_size, ticks)
    found = _PRICES.get(key)
    if found is None:
        if len(_PRICES) >= 200_000:
            _PRICES.clear()
        found = _PRICES[key] = instrument.format_price(ticks)
    return found


def book_view(
    instrument: Instrument, bids: Levels, asks: Levels, seq: int, position: int
) -> dict[str, Any]:
    """``{"symbol","bids":[["101.25",30],…],"asks":[…],"seq","position"}``, best first."""

    def fmt(ticks: int) -> str:
        return price_text(instrument, ticks)

    return {
        "symbol": instrument.symbol,
        "bids": [[fmt(p), q] for p, q in bids],
        "asks": [[fmt(p), q] for p, q in asks],
        "seq": seq,
        "position": position,
    }


async def book(models: ReadModels, instrument: Instrument, depth: int) -> dict[str, Any]:
    """The book as :func:`book_view` shows it."""
    return book_view(instrument, *await book_levels(models, instrument.symbol, depth))


async def book_orders(models: ReadModels, instrument: Instrument, depth: int) -> dict[str, Any]:
    """L3: per level (best first), its orders in time priority as ``[order_id, quantity]``."""
    symbol = instrument.symbol
    bids, asks, seq, position = await book_levels(models, symbol, depth)
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
    shown: dict[str, Any] = {"symbol": symbol, "seq": seq, "position": position}
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
