"""Market routes (anyone): instruments, books, trades, candles."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from projections import market_reads
from query_api.deps import Listed, Models, Reflected

router = APIRouter(prefix="/v1", tags=["market"])

PROBLEMS: Final[dict[int | str, dict[str, Any]]] = {
    s: {"description": "problem+json", "content": {"application/problem+json": {}}}
    for s in (404, 422, 503)
}
Interval = Literal["1m", "5m", "1h", "1d"]


def json_response(body: object) -> Response:
    """A JSON response encoded with orjson."""
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/instruments",
    summary="Every listed instrument",
    responses={status: PROBLEMS[status] for status in (422, 503)},  # (never a 404)
)
async def instruments(position: Reflected, found: Models) -> Response:
    """``[{"symbol","tick_size","lot_size","self_trade","maker_fee_bps","taker_fee_bps",
    "currency"}]``, by symbol."""
    return json_response(await found.instruments())


@router.get("/books/{symbol}", summary="The order book (L2), best first", responses=PROBLEMS)
async def book(
    request: Request,
    position: Reflected,
    instrument: Listed,
    found: Models,
    depth: Annotated[int, Query(ge=1, le=market_reads.MAX_DEPTH)] = 10,
) -> Response:
    """``{"symbol","bids":[["101.25",30],…],"asks":[…],"seq","position"}``; bids descending,
    asks ascending; ``seq`` is the market-data sequence the book reflects (see the WebSocket)."""
    shown = await market_reads.book(found, instrument, depth)
    request.state.projection_position = shown["position"]  # (read with the levels: >= position)
    return json_response(shown)


@router.get(
    "/books/{symbol}/orders", summary="The order book (L3): orders per level", responses=PROBLEMS
)
async def book_orders(
    position: Reflected,
    instrument: Listed,
    found: Models,
    depth: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """Per level, best first: ``{"price","quantity","orders":[[order_id, quantity],…]}`` with the
    orders in time priority (oldest first)."""
    shown = await market_reads.book_orders(found, instrument, depth)
    return json_response(shown)


@router.get("/trades/{symbol}", summary="Recent trades, newest first", responses=PROBLEMS)
async def trades(
    position: Reflected,
    instrument: Listed,
    found: Models,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, description="Page below this trade id.")] = None,
) -> Response:
    """``[{"trade_id","price","quantity","taker_side","executed_at","position"}]``; the last
    1000 trades of each symbol are kept."""
    return json_response(await market_reads.trades(found, instrument, limit, before))


@router.get("/candles/{symbol}", summary="OHLCV candles, oldest first", responses=PROBLEMS)
async def candles(
    position: Reflected,
    instrument: Listed,
    found: Models,
    interval: Interval = "1m",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=0, description="Page below this bucket start (epoch seconds).")
    ] = None,
) -> Response:
    """The newest ``limit`` candles: ``[{"start","interval","open","high","low","close",
    "volume","trades"}]``; open and close are the prices of the bucket's first and last trade
    (by trade id)."""
    return json_response(await market_reads.candles(found, instrument, interval, limit, before))
