"""A :class:`client.transport.Sender` on aiohttp, for load generators.

The client stays httpx-based for its users; a load generator shares the machine's cores with
the stack it measures, so its HTTP costs count against the figures. Measured on this machine
(64 requests in flight, a loopback server answering a fixed 201): httpx's transports, even
without ``httpx.AsyncClient``'s layers, ~400 µs of CPU per request (httpcore's HTTP/1.1 state
machine, anyio streams, pool bookkeeping); aiohttp, whose connector and C response parser do
the same work, ~85 µs. Same retries, keys and problem+json mapping: only the sending differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from client.transport import Reply, SendFailed

SKIPPED_HEADERS = ("User-Agent", "Accept", "Accept-Encoding")
"""Headers aiohttp would add that the exchange's APIs do not read."""


class AiohttpSender:
    """Kept-alive connections of one ``aiohttp.ClientSession`` (made on first use, inside the
    running event loop as aiohttp asks)."""

    def __init__(self, max_connections: int = 100, timeout_s: float = 10.0) -> None:
        self.max_connections = max_connections
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_connect=timeout_s, sock_read=timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    def _opened(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self.timeout, skip_auto_headers=SKIPPED_HEADERS
            )
        return self._session

    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        params: Mapping[str, Any] | None,
    ) -> Reply:
        """One try; the whole body read (``SendFailed`` when no answer came)."""
        query = None if not params else {k: _text(v) for k, v in params.items()}
        try:
            async with self._opened().request(
                method, url, headers=headers, data=content, params=query
            ) as response:
                body = await response.read()
                return Reply(response.status, response.headers, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendFailed(repr(exc)) from exc

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _text(value: Any) -> str:
    """A query value as httpx writes it (``true``/``false`` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
