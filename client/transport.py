"""HTTP under the client: keep-alive pools, problem+json to exceptions, retries with backoff.

A command carries an ``Idempotency-Key`` (made here when the caller gives none) that stays the
same on every retry, so a retry after a lost answer, a ``503`` or a ``429`` is harmless: the
command API answers the first response again. Queries are reads and always safe to repeat.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx
import orjson

from client.errors import RETRYABLE, ExchangeError, TransportFailed, error_for

POSITION_HEADER: Final = "x-projection-position"
POOL_CONNECTIONS: Final = 8
"""Connections per httpx pool. httpcore scans every connection of its pool for each request
(an idle one costs a ``getpeername`` and a readability check), so one pool of 64 busy
connections cost the client ~4 ms of CPU per request and bounded a load generator to ~100
single POSTs/s; pools of 8, picked by fewest requests in flight, keep that cost flat.

Requests go to the pools' httpx transports directly, not through ``httpx.AsyncClient``: the
client's layers (auth and redirect handling, a cookie jar that builds urllib requests to read
every response's headers, default headers, event hooks) cost ~30 % of a load generator's CPU
per request and the exchange's APIs use none of them (no cookies, no redirects, loopback
without proxies)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to resend (``attempts`` counts the first try)."""

    attempts: int = 8
    base_s: float = 0.05
    cap_s: float = 2.0
    deadline_s: float = 30.0
    retry_transport_errors: bool = True
    """Resend when the connection failed or the answer was lost (a restarting process)."""

    def delay_s(self, attempt: int, retry_after_s: float | None) -> float:
        """The pause before try ``attempt + 1``: ``Retry-After`` when given, else exponential
        backoff with full jitter (so many clients do not resend in step)."""
        if retry_after_s is not None:
            return min(retry_after_s, self.cap_s * 4)
        return random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


NO_RETRY: Final = RetryPolicy(attempts=1, retry_transport_errors=False)


@dataclass(slots=True)
class Reply:
    """A response as the retry loop needs it: status, headers (case-insensitive), whole body."""

    status: int
    headers: Mapping[str, str]
    content: bytes


class SendFailed(Exception):
    """A request got no answer (refused, reset, timed out): resent if the policy allows."""


class Sender(Protocol):
    """Sends one HTTP request over kept-alive connections (``HttpxSender`` by default;
    ``client.aiohttp_sender`` for load generators)."""

    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        params: Mapping[str, Any] | None,
    ) -> Reply:
        """One try; the whole body read. Raises ``SendFailed`` when no answer came."""
        ...

    async def aclose(self) -> None:
        """Close every connection."""
        ...


@dataclass(slots=True)
class Answer:
    """A successful response: its JSON body, status and projection position (queries)."""

    body: Any
    status: int
    projection_position: int | None


def retry_after_of(response: Reply) -> float | None:
    """``Retry-After`` in seconds (the delta-seconds form; an HTTP date is ignored)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _problem_of(response: Reply) -> dict[str, Any] | None:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None  # (nginx's own 502 page, say)
    return body if isinstance(body, dict) else None


class Transport:
    """Sends requests to the command and query APIs (a shared pool for every key)."""

    def __init__(
        self,
        command_url: str,
        query_url: str,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        max_connections: int = 100,
        http_transport: httpx.AsyncBaseTransport | None = None,
        idempotency_keys: bool = True,
        sender: Sender | None = None,
    ) -> None:
        self.command_url = command_url.rstrip("/")
        self.query_url = query_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.sender: Sender = sender or HttpxSender(max_connections, timeout_s, http_transport)
        """Sends every request (httpx unless another sender is given)."""
        self.idempotency_keys = idempotency_keys
        """Make an ``Idempotency-Key`` for every command the caller sends without one (off:
        only to measure what the keys cost; a resent command may then be applied twice)."""
        self.retries = 0
        """Resends so far (every cause): a figure for load generators and chaos runs."""

    async def aclose(self) -> None:
        """Close the connections."""
        await self.sender.aclose()

    async def command(
        self,
        method: str,
        path: str,
        api_key: str | None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Answer:
        """Send a write with its ``Idempotency-Key`` (a fresh one when ``None``)."""
        headers = _auth(api_key)
        if idempotency_key is None and self.idempotency_keys:
            idempotency_key = uuid.uuid4().hex
        if idempotency_key is not None:
            headers["idempotency-key"] = idempotency_key
        content = None
        if body is not None:
            content = orjson.dumps(body)
            headers["content-type"] = "application/json"
        return await self._send(method, self.command_url + path, headers, content, None)

    async def query(
        self, path: str, api_key: str | None, params: Mapping[str, Any] | None = None
    ) -> Answer:
        """Send a read (``None`` parameters are left out)."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return await self._send("GET", self.query_url + path, _auth(api_key), None, clean)

    async def get(self, url: str) -> Answer:
        """A bare GET of a full URL (``/health``, ``/ready``), without retries."""
        try:
            reply = await self.sender.send("GET", url, {}, None, None)
        except SendFailed as exc:
            raise TransportFailed(0, "TRANSPORT", str(exc)) from exc
        if 200 <= reply.status < 300:
            return Answer(orjson.loads(reply.content), reply.status, None)
        raise error_for(reply.status, _problem_of(reply), retry_after_of(reply))

    async def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        params: dict[str, Any] | None,
    ) -> Answer:
        policy = self.retry
        deadline = time.monotonic() + policy.deadline_s
        attempt = 0
        while True:
            try:
                response = await self.sender.send(method, url, headers, content, params)
            except SendFailed as exc:
                failure: ExchangeError = TransportFailed(0, "TRANSPORT", str(exc))
                if not policy.retry_transport_errors:
                    raise failure from exc
            else:
                if 200 <= response.status < 300:
                    return _answer(response)
                failure = error_for(
                    response.status, _problem_of(response), retry_after_of(response)
                )
                if response.status not in RETRYABLE:
                    raise failure
            attempt += 1
            pause = policy.delay_s(attempt, failure.retry_after_s)
            if attempt >= policy.attempts or time.monotonic() + pause > deadline:
                raise failure
            self.retries += 1
            await asyncio.sleep(pause)


class HttpxSender:
    """The default sender: small httpx connection pools, each request on the pool with the
    fewest requests in flight (see ``POOL_CONNECTIONS``)."""

    def __init__(
        self,
        max_connections: int,
        timeout_s: float,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._pools = _pools(max_connections, http_transport)
        self._in_flight = [0] * len(self._pools)
        self._extensions = {"timeout": httpx.Timeout(timeout_s).as_dict()}

    async def aclose(self) -> None:
        """Close the pools."""
        for pool in self._pools:
            await pool.aclose()

    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        params: Mapping[str, Any] | None,
    ) -> Reply:
        """One try, on the pool with the fewest requests in flight; the body read in full."""
        request = httpx.Request(
            method, url, headers=headers, content=content, params=params,
            extensions=self._extensions,
        )  # fmt: skip
        in_flight = self._in_flight
        index = in_flight.index(min(in_flight))
        in_flight[index] += 1
        try:
            response = await self._pools[index].handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise SendFailed(repr(exc)) from exc
        finally:
            in_flight[index] -= 1
        return Reply(response.status_code, response.headers, response.content)


def _pools(
    max_connections: int, http_transport: httpx.AsyncBaseTransport | None
) -> list[httpx.AsyncBaseTransport]:
    """Enough pools of at most ``POOL_CONNECTIONS`` for ``max_connections`` (just the given
    ``http_transport``, which holds its own connections, if any)."""
    if http_transport is not None:
        return [http_transport]
    count = -(-max_connections // POOL_CONNECTIONS)
    size = -(-max_connections // count)
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    return [httpx.AsyncHTTPTransport(limits=limits) for _ in range(count)]


def _auth(api_key: str | None) -> dict[str, str]:
    return {} if api_key is None else {"authorization": f"Bearer {api_key}"}


def _answer(response: Reply) -> Answer:
    position = response.headers.get(POSITION_HEADER)
    body = orjson.loads(response.content) if response.content else None
    return Answer(body, response.status, None if position is None else int(position))
