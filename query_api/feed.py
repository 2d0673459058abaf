"""``WS /v1/ws/market/{symbol}``: a snapshot, then book and trade deltas with a gap-free ``seq``.

The projector publishes one message per batch and symbol on ``<prefix>:md:<SYMBOL>``, numbered
by a per-symbol counter incremented in the same Lua script that changed the book, so ``seq``
is gap-free and in apply order. Each process holds one pattern subscription and fans messages
out to its clients' bounded queues. A client first gets registered, then reads the snapshot
(book + ``seq`` at one instant), then receives every delta with a larger ``seq``: it can check
``seq == previous + 1`` and resubscribe on a gap. A client whose queue fills (it reads too
slowly) is closed with ``1013`` rather than slowing anyone else down.

Messages (JSON):
``{"type":"snapshot","symbol","seq","bids":[["101.25",30],…],"asks":[…],"trades":[…]}``, then
``{"type":"update","symbol","seq","book":[{"side":"bid"|"ask","price","quantity"}],"trades":[…]}``
(a level's ``quantity`` is its new total; 0 = the level is gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect

from domain.instrument import Instrument
from projections import market_reads
from projections.reads import ReadModels

log = logging.getLogger("query_api.feed")

SLOW_CLIENT: Final = 1013
GONE: Final = 1011
SNAPSHOT_DEPTH: Final = 50
SNAPSHOT_TRADES: Final = 50
SEND_TIMEOUT_S: Final = 5.0
"""A client that accepts nothing for this long is as slow as one whose queue overflowed."""


@dataclass(eq=False, slots=True)
class Client:
    """One subscriber: its queue of raw messages, and whether it fell behind."""

    queue: asyncio.Queue[bytes | None]
    overflowed: bool = False


@dataclass(slots=True)
class MarketFeed:
    """The process's subscription to every symbol's market data, fanned out to clients."""

    models: ReadModels
    queue_max: int
    clients: dict[str, set[Client]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _pubsub: PubSub | None = None

    def _ensure_reader(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        pattern = self.models.control.channel("*")
        prefix_len = len(self.models.control.channel(""))
        pubsub = self._pubsub = self.models.redis.pubsub()
        try:
            await pubsub.psubscribe(pattern)
            while self.clients:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                symbol = message["channel"][prefix_len:].decode()
                for client in tuple(self.clients.get(symbol, ())):
                    self._offer(client, message["data"])
        except RedisError as exc:
            log.warning("market feed lost Redis", extra={"error": repr(exc)})
            for clients in self.clients.values():
                for client in clients:
                    self._offer(client, None)
        finally:
            with contextlib.suppress(RedisError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _offer(self, client: Client, data: bytes | None) -> None:
        try:
            client.queue.put_nowait(data)
        except asyncio.QueueFull:
            client.overflowed = True
            with contextlib.suppress(asyncio.QueueEmpty):
                client.queue.get_nowait()
            client.queue.put_nowait(None)

    def subscribe(self, symbol: str) -> Client:
        """Register a client of ``symbol`` (before its snapshot is read)."""
        client = Client(asyncio.Queue(self.queue_max))
        self.clients.setdefault(symbol, set()).add(client)
        self._ensure_reader()
        return client

    def unsubscribe(self, symbol: str, client: Client) -> None:
        """Forget a client."""
        clients = self.clients.get(symbol)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self.clients[symbol]

    async def close(self) -> None:
        """Stop the reader (at shutdown)."""
        self.clients.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError):
                await self._task


async def snapshot(models: ReadModels, instrument: Instrument) -> dict[str, Any]:
    """The book and recent trades with the ``seq`` they reflect."""
    shown = await market_reads.book(models, instrument, SNAPSHOT_DEPTH)
    recent = await market_reads.trades(models, instrument, SNAPSHOT_TRADES, None)
    return {"type": "snapshot", **shown, "trades": recent}


async def serve(websocket: WebSocket, feed: MarketFeed, instrument: Instrument) -> None:
    """Send the snapshot and then the deltas until the client leaves or falls behind."""
    symbol = instrument.symbol
    client = feed.subscribe(symbol)
    try:
        first = await snapshot(feed.models, instrument)
        await _send(websocket, first)
        last = int(first["seq"])
        while True:
            raw = await client.queue.get()
            if raw is None:
                code = SLOW_CLIENT if client.overflowed else GONE
                await websocket.close(code, "too slow" if client.overflowed else "feed lost")
                return
            update = market_reads.market_message(instrument, raw)
            if update["seq"] <= last:
                continue  # already in the snapshot
            last = update["seq"]
            await _send(websocket, update)
    except TimeoutError:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(SLOW_CLIENT, "too slow")
    except (WebSocketDisconnect, RedisError):
        return
    finally:
        feed.unsubscribe(symbol, client)


async def _send(websocket: WebSocket, message: dict[str, Any]) -> None:
    await asyncio.wait_for(websocket.send_text(orjson.dumps(message).decode()), SEND_TIMEOUT_S)
