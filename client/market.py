"""The market-data WebSocket as an async iterator that never shows a gap.

The query API sends a snapshot, then updates numbered by a gap-free ``seq``. When an update's
``seq`` is not the previous one plus one (a message was lost), or the socket drops (the query
API restarted, or closed us as too slow), the subscription connects again and yields the new
snapshot: a consumer that applies a snapshot by replacing its book and an update by changing
levels always holds the current book.

Messages are the feed's JSON: ``{"type": "snapshot", "symbol", "seq", "bids", "asks",
"trades"}`` and ``{"type": "update", "symbol", "seq", "book": [{"side", "price",
"quantity"}], "trades"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from client.errors import NotFound, TransportFailed

UNKNOWN_SYMBOL_STATUSES: Final = frozenset({403, 404})
"""The handshake's answer when the symbol is not listed: ``404`` problem+json, or a bare ``403``
from a server without ASGI's denial-response extension (it closes with 1008 before accepting)."""


class MarketSubscription:
    """Snapshots and updates of one symbol (``async for message in subscription``)."""

    def __init__(
        self, url: str, symbol: str, *, max_resubscribes: int = 100, open_timeout_s: float = 5.0
    ) -> None:
        self.url = url
        self.symbol = symbol
        self.max_resubscribes = max_resubscribes
        self.open_timeout_s = open_timeout_s
        self.seq: int | None = None
        """The ``seq`` of the last message yielded."""
        self.resubscribes = 0
        """Connections after the first (each followed by a fresh snapshot)."""
        self.gaps = 0
        """Updates whose ``seq`` skipped (each one caused a resubscription)."""
        self._socket: ClientConnection | None = None

    async def __aenter__(self) -> MarketSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> MarketSubscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while True:
            socket = self._socket or await self._connect()
            try:
                raw = await socket.recv()
            except ConnectionClosed:
                await self._resubscribe()
                continue
            message: dict[str, Any] = orjson.loads(raw)
            seq = int(message["seq"])
            if message["type"] != "snapshot" and self.seq is not None and seq != self.seq + 1:
                self.gaps += 1
                await self._resubscribe()
                continue
            self.seq = seq
            return message

    async def aclose(self) -> None:
        """Close the socket."""
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close()

    async def _resubscribe(self) -> None:
        await self.aclose()
        self.resubscribes += 1
        if self.resubscribes > self.max_resubscribes:
            raise TransportFailed(0, "TRANSPORT", f"market feed of {self.symbol} kept failing")

    async def _connect(self) -> ClientConnection:
        attempt = 0
        while True:
            try:
                self._socket = await connect(self.url, open_timeout=self.open_timeout_s)
                return self._socket
            except InvalidStatus as exc:
                if exc.response.status_code in UNKNOWN_SYMBOL_STATUSES:
                    detail = f"{self.symbol} is not listed"
                    with contextlib.suppress(orjson.JSONDecodeError, TypeError, KeyError):
                        detail = orjson.loads(exc.response.body)["detail"]
                    raise NotFound(404, "UNKNOWN_SYMBOL", detail) from exc
                failure: Exception = exc
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                failure = exc
            attempt += 1
            if attempt > self.max_resubscribes:
                raise TransportFailed(0, "TRANSPORT", repr(failure)) from failure
            await asyncio.sleep(min(2.0, 0.05 * 2**attempt))


async def close_quietly(subscription: MarketSubscription) -> None:
    """Close a subscription whose socket may already be gone."""
    with contextlib.suppress(ConnectionClosed, OSError):
        await subscription.aclose()
