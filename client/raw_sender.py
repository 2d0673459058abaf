"""A :class:`client.transport.Sender` on a bare asyncio protocol, for load generators.

A load generator shares the machine's cores with the stack it measures, so its HTTP costs
count against the figures. aiohttp was ~46 % of the single-POST load generator's samples
(request and response objects, yarl URLs, its stream reader, the request written in two
``send`` calls, so the server also woke twice per request). This sender keeps plain
HTTP/1.1 keep-alive connections (``Content-Length`` bodies out; httptools, uvicorn's C parser,
reads the answers, chunked ones too), writes each request in one call and gives back status,
headers and the whole body. Every request is still a real, independent HTTP request on a
kept-alive connection, one order each; retries, keys and problem+json stay
``client.transport``'s. Plain ``http://`` only (the load generators talk to loopback).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httptools

from client.transport import Reply, SendFailed


class _Connection(asyncio.Protocol):
    """One kept-alive connection answering one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Reply] | None = None
        self.closed = False
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(SendFailed(f"connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.abort(SendFailed(f"bad response: {exc!r}"))

    def abort(self, exc: Exception) -> None:
        """Fail the request in flight and drop the connection."""
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if not self.parser.should_keep_alive():
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        reply = Reply(status, self._headers, b"".join(self._body))
        self._headers, self._body = {}, []
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)


class RawSender:
    """Kept-alive HTTP/1.1 connections per host, at most ``max_connections`` each."""

    def __init__(self, max_connections: int = 100, timeout_s: float = 10.0) -> None:
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self._idle: dict[str, list[_Connection]] = {}
        self._open: dict[str, int] = {}
        self._all: set[_Connection] = set()
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        params: Mapping[str, Any] | None,
    ) -> Reply:
        """One try; the whole body read (``SendFailed`` when no answer came)."""
        if not url.startswith("http://"):
            raise ValueError(f"RawSender sends plain http:// only, not {url!r}")
        cut = url.find("/", 7)
        netloc, target = (url[7:], "/") if cut < 0 else (url[7:cut], url[cut:])
        if params:
            target += "?" + urlencode({k: _text(v) for k, v in params.items()})
        lines = [f"{method} {target} HTTP/1.1\r\nhost: {netloc}\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        if content is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {0 if content is None else len(content)}\r\n")
        lines.append("\r\n")
        request = "".join(lines).encode("latin-1") + (content or b"")
        connection = await self._connection(netloc)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Reply] = loop.create_future()
        connection.waiter = waiter
        late = loop.call_later(self.timeout_s, connection.abort, SendFailed("timed out"))
        try:
            assert connection.transport is not None
            connection.transport.write(request)
            return await waiter
        finally:
            late.cancel()
            self._release(netloc, connection)

    async def _connection(self, netloc: str) -> _Connection:
        idle = self._idle.setdefault(netloc, [])
        while True:
            while idle:
                connection = idle.pop()
                if not connection.closed:
                    return connection
                self._forget(netloc, connection)
            if self._open.get(netloc, 0) < self.max_connections:
                break
            freed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.append(freed)
            await freed
        self._open[netloc] = self._open.get(netloc, 0) + 1
        host, _, port = netloc.rpartition(":")
        try:
            _, connection = await asyncio.wait_for(
                asyncio.get_running_loop().create_connection(_Connection, host, int(port)),
                self.timeout_s,
            )
        except (OSError, TimeoutError) as exc:
            self._forget(netloc, None)
            raise SendFailed(repr(exc)) from exc
        self._all.add(connection)
        return connection

    def _release(self, netloc: str, connection: _Connection) -> None:
        if connection.waiter is not None:  # (cancelled while waiting: state unknown)
            connection.abort(SendFailed("cancelled"))
        if connection.closed:
            self._forget(netloc, connection)
            return
        self._idle[netloc].append(connection)
        self._notify()

    def _forget(self, netloc: str, connection: _Connection | None) -> None:
        if connection is not None:
            self._all.discard(connection)
        self._open[netloc] = self._open.get(netloc, 1) - 1
        self._notify()

    def _notify(self) -> None:
        """Wake one request waiting for a connection."""
        while self._waiting:
            freed = self._waiting.popleft()
            if not freed.done():
                freed.set_result(None)
                return

    async def aclose(self) -> None:
        """Close every connection."""
        for connection in list(self._all):
            if connection.transport is not None:
                connection.transport.close()
        self._all.clear()
        self._idle.clear()
        self._open.clear()


def _text(value: Any) -> str:
    """A query value as httpx writes it (``true``/``false`` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
