"""The query API application factory: reads Redis only (never MariaDB, never Kafka).

Its readiness probes Redis alone. Every HTTP response carries ``X-Projection-Position`` (the
store position every events partition of the read models has reached when the request read
them; see ``deps.py`` for ``min_position``). Redis unreachable: ``503 SERVICE_UNAVAILABLE``
with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final

import redis.asyncio as aioredis
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.health import Readiness, redis_probe
from common.problems import Problem, problem_of, problem_response
from common.settings import QueryApiSettings
from common.webapp import new_api
from projections.keys import Control
from projections.reads import ReadModels
from projections.resp import RespPipe
from query_api import feed, market, positions, user
from query_api.deps import listed
from query_api.fastpath import ReadFastPath

POSITION_HEADER: Final = b"x-projection-position"


def redis_lifespan(
    settings: QueryApiSettings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Open the Redis client, the read models and the market feed; readiness = Redis."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = aioredis.from_url(
            settings.redis_url, socket_connect_timeout=1, socket_timeout=5, max_connections=512
        )
        control = Control(settings.projection_prefix)
        pipe = RespPipe(settings.redis_url)
        app.state.models = ReadModels(client, control, settings.events_partitions, pipe)
        app.state.feed = feed.MarketFeed(app.state.models, settings.ws_queue_max)
        app.state.readiness = Readiness(
            {"redis": redis_probe(client)}, settings.dependency_timeout_s
        )
        stop = asyncio.Event()
        moves = asyncio.ensure_future(positions.watch_moves(app.state.models, stop))
        try:
            yield
        finally:
            stop.set()
            await moves
            await app.state.feed.close()
            await pipe.close()
            await client.aclose()

    return lifespan


class PositionHeader:
    """Adds ``X-Projection-Position`` to HTTP responses (read now if the route did not; not on
    a ``503``, which may be load shedding)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_position(message: Message) -> None:
            if message["type"] == "http.response.start":
                position = scope.get("state", {}).get("projection_position")
                if position is None and message["status"] != 503:  # (no extra load when shedding)
                    position = await _position_or_none(scope)
                if position is not None:
                    headers = list(message.get("headers", []))
                    headers.append((POSITION_HEADER, str(position).encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_position)


async def _position_or_none(scope: Scope) -> int | None:
    models: ReadModels | None = getattr(scope["app"].state, "models", None)
    if models is None:
        return None
    try:
        return await models.position()
    except (RedisConnectionError, RedisTimeoutError):
        return None


def create_app(settings: QueryApiSettings | None = None) -> FastAPI:
    """Build the query API with its real adapters."""
    settings = settings or QueryApiSettings()
    app = new_api("query_api", "Exchange query API", settings, lifespan=redis_lifespan(settings))
    app.state.settings = settings
    app.state.key_cache = {}
    app.include_router(market.router)
    app.include_router(user.router)
    app.add_middleware(PositionHeader)
    # Innermost of the user middleware: inside the edge (metrics, shedding, correlation id).
    app.user_middleware.append(Middleware(ReadFastPath, api=app))

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def _redis_down(_: Request, exc: Exception) -> Response:
        return problem_response(
            503,
            "SERVICE_UNAVAILABLE",
            "The read models (Redis) are unreachable; retry shortly.",
            headers={"Retry-After": "2"},
        )

    @app.websocket("/v1/ws/market/{symbol}")
    async def market_feed(websocket: WebSocket, symbol: str) -> None:
        """Snapshot, then book and trade deltas with a gap-free ``seq`` (see ``feed.py``)."""
        models: ReadModels = websocket.app.state.models
        try:
            instrument = await listed(symbol, models)
        except Problem as unknown:
            if "websocket.http.response" in websocket.scope.get("extensions", {}):
                # the handshake's answer is the same 404 problem+json as the book's
                await websocket.send_denial_response(problem_of(unknown))
            else:  # (a server without the extension: a bare 403)
                await websocket.close(1008, f"unknown symbol {symbol[:16]!r}")
            return
        await websocket.accept()
        await feed.serve(websocket, websocket.app.state.feed, instrument)

    return app
