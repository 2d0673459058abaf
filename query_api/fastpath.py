"""The two hottest reads beside FastAPI: ``GET /v1/books/{symbol}`` and ``GET /v1/account``.

FastAPI's routing, dependencies and validation cost more per request than the read itself
(one Lua call that returns the data and the projection's position together). This pure-ASGI
layer sits inside the edge middleware (correlation id, shedding and metrics still apply) and
answers only the common, well-formed case: a symbol whose instrument this process already
knows, at most a valid ``depth`` as query string, and for the account a key this process
already resolved. Anything else - ``min_position``, an unknown symbol or key, a bad
parameter - goes to FastAPI unchanged, so both paths give the same bytes.

Identical reads in flight are shared: a book read of a symbol and depth (or an account read of
a user) that arrives while the same read is waiting for Redis joins it and gets the same bytes
- one Redis call and one rendering for all of them. The answer reflects a state read after the
first of them arrived, and its ``X-Projection-Position`` is that state's; the freshness
guarantee is ``min_position`` (never on this path).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Final

import orjson
from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.types import ASGIApp, Receive, Scope, Send

from common.problems import problem_response
from projections import market_reads, user_reads
from projections.reads import ReadModels

BOOKS: Final = "/v1/books/"
ACCOUNT: Final = "/v1/account"
DEFAULT_DEPTH: Final = 10
_HEADERS: Final = [(b"content-type", b"application/json")]
REDIS_DOWN: Final = problem_response(
    503,
    "SERVICE_UNAVAILABLE",
    "The read models (Redis) are unreachable; retry shortly.",
    headers={"Retry-After": "2"},
)


class _Route:
    """What the edge's metrics read of a route (``scope["route"].path``)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


_BOOK_ROUTE: Final = _Route("/v1/books/{symbol}")
_ACCOUNT_ROUTE: Final = _Route("/v1/account")


Answer = tuple[bytes, int] | None
"""The encoded body and the projection position it reflects (``None``: not for this path)."""


class Shared:
    """One call per key in flight: callers that arrive while it runs await the same result."""

    def __init__(self) -> None:
        self._flight: dict[Hashable, asyncio.Future[Answer]] = {}

    async def get(self, key: Hashable, read: Callable[[], Awaitable[Answer]]) -> Answer:
        """``read()``'s result, shared with every caller of ``key`` while it runs."""
        found = self._flight.get(key)
        if found is None:
            found = self._flight[key] = asyncio.ensure_future(read())
            found.add_done_callback(lambda _: self._flight.pop(key, None))
        # (shielded: a caller that goes away does not cancel the others' read)
        return await asyncio.shield(found)


class ReadFastPath:
    """Serves the common book and account reads; passes everything else on."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api
        self._shared = Shared()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            answer: Answer = None
            try:
                if path.startswith(BOOKS):
                    answer = await self._book(path[len(BOOKS) :], scope["query_string"])
                    route = _BOOK_ROUTE
                elif path == ACCOUNT and not scope["query_string"]:
                    answer = await self._account(scope["headers"])
                    route = _ACCOUNT_ROUTE
            except (RedisConnectionError, RedisTimeoutError):
                await REDIS_DOWN(scope, receive, send)
                return
            if answer is not None:
                encoded, position = answer
                scope.setdefault("state", {})["projection_position"] = position
                scope["route"] = route
                headers = [*_HEADERS, (b"content-length", str(len(encoded)).encode())]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": encoded})
                return
        await self.app(scope, receive, send)

    def _models(self) -> ReadModels | None:
        return getattr(self.api.state, "models", None)

    async def _book(self, symbol: str, query: bytes) -> Answer:
        models = self._models()
        depth = _depth(query)
        if models is None or depth is None or "/" in symbol:
            return None
        instrument = models.known_instrument(symbol)
        if instrument is None:
            return None

        async def read() -> Answer:
            levels = await market_reads.book_levels(models, symbol, depth)
            return _encoded(market_reads.book_view(instrument, *levels))

        return await self._shared.get((BOOKS, symbol, depth), read)

    async def _account(self, headers: list[tuple[bytes, bytes]]) -> Answer:
        models = self._models()
        if models is None:
            return None
        for name, value in headers:
            if name == b"authorization":
                scheme, _, key = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer":
                    return None
                cache: dict[str, int] = self.api.state.key_cache
                user_id = cache.get(key)
                return None if user_id is None else await self._account_of(models, user_id)
        return None

    async def _account_of(self, models: ReadModels, user_id: int) -> Answer:
        async def read() -> Answer:
            return _encoded(await user_reads.account(models, user_id))

        return await self._shared.get((ACCOUNT, user_id), read)


def _encoded(body: dict[str, Any]) -> Answer:
    return orjson.dumps(body), body["position"]


def _depth(query: bytes) -> int | None:
    """The ``depth`` of a query string that holds nothing else (``None``: let FastAPI judge)."""
    if not query:
        return DEFAULT_DEPTH
    name, _, value = query.partition(b"=")
    if name != b"depth" or not value.isdigit() or len(value) > 4:
        return None
    depth = int(value)
    return depth if 1 <= depth <= market_reads.MAX_DEPTH else None
