"""uvicorn's httptools protocol with deadlines for reading a request's headers and body.

uvicorn 0.54 bounds only the idle time between keep-alive requests (``timeout_keep_alive``):
a client that sends half its headers, or a body a byte at a time, holds its connection (and,
once the headers are in, an in-flight slot of the edge middleware) for as long as it likes. So
a few thousand slow sockets refuse everyone else (slowloris). This protocol gives the headers
of each request ``header_timeout_s`` from their first byte (or from the connection's opening)
and its body ``body_timeout_s`` from the end of the headers; past either, it answers
``408`` problem+json if nothing has been answered yet, and closes the connection, which tells
the application the client is gone (``http.disconnect``) and frees its slot.

A response that closes the connection before the request's body has all arrived (``413``,
``401`` before the body) is followed by a *lingering* close, as nginx does: the answer is sent
and the write side shut, then what the client still sends is discarded (never buffered) for at
most ``LINGER_S`` before the socket closes. Closing at once with unread bytes would reset the
connection, and a client still writing its body would lose the answer.

Served with ``http="common.http_protocol:TimedHttpToolsProtocol"``; the deadlines are
``EXCHANGE_HEADER_TIMEOUT_S`` and ``EXCHANGE_BODY_TIMEOUT_S`` (``ApiSettings``).
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from common.problems import problem_body
from common.settings import ApiSettings


@cache
def deadlines() -> tuple[float, float]:
    """The header and body read deadlines of this process, in seconds."""
    settings = ApiSettings()
    return settings.header_timeout_s, settings.body_timeout_s


def _closing_problem(status: int, reason: str, code: str, detail: str) -> bytes:
    """A whole problem+json response that closes the connection, as raw bytes (answered by
    the protocol itself, before or without the application)."""
    body = problem_body(status, code, detail, title=reason.capitalize())
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def _timeout_response(what: str) -> bytes:
    detail = f"The request's {what} did not arrive in time."
    return _closing_problem(408, "Request Timeout", "REQUEST_TIMEOUT", detail)


LINGER_S = 2.0
_HEADERS_LATE = _timeout_response("headers")
_BODY_LATE = _timeout_response("body")
_NOT_HTTP = _closing_problem(400, "Bad Request", "BAD_REQUEST", "Not a valid HTTP/1.1 request.")


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that closes connections whose headers or body arrive too late."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s, self.body_timeout_s = deadlines()
        self._deadline: asyncio.TimerHandle | None = None
        self._armed: bytes | None = None
        """The answer the armed deadline would send (``_HEADERS_LATE``, ``_BODY_LATE``)."""
        self._wanted: bytes | None = None
        """The deadline the parser's state asks for, set once each read is parsed."""
        self._lingering: asyncio.TimerHandle | None = None

    def send_400_response(self, msg: str) -> None:
        """A request the HTTP parser refuses (a bad ``Content-Length``, an unknown
        ``Transfer-Encoding``, a NUL in the path): ``400`` problem+json, not uvicorn's text."""
        self.transport.write(_NOT_HTTP)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the first request's header deadline."""
        super().connection_made(transport)
        self._arm(self.header_timeout_s, _HEADERS_LATE)

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm()
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse, then arm (or drop) the deadline the parser's state asks for.

        The callbacks below only note which deadline applies; the timer is set once the read
        is parsed. A request that arrives whole in one read (nearly every one) then costs no
        timer at all: arming at each request's first byte and again at its headers' end, and
        cancelling both, was ~5 % of the command API's CPU under single POSTs."""
        super().data_received(data)
        self._settle()

    def on_message_begin(self) -> None:
        """The first byte of a keep-alive connection's next request: its headers' deadline."""
        super().on_message_begin()
        if self._wanted is None:
            self._wanted = _HEADERS_LATE

    def on_headers_complete(self) -> None:
        """Headers in time: the body's deadline starts (an upgrade to WebSocket has none)."""
        self._wanted = None
        super().on_headers_complete()
        if not self.parser.should_upgrade():
            self._wanted = _BODY_LATE
            self.cycle.transport = _LingeringClose(self)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        """The whole request arrived: no deadline while the application answers."""
        self._wanted = None
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        """A WebSocket's connection is the WebSocket protocol's from here."""
        self._wanted = None
        self._disarm()
        super().handle_websocket_upgrade()

    def _settle(self) -> None:
        """Arm the wanted deadline unless it already runs (its clock started earlier)."""
        wanted = self._wanted
        if wanted is None:
            self._disarm()
        elif wanted is not self._armed:
            seconds = self.header_timeout_s if wanted is _HEADERS_LATE else self.body_timeout_s
            self._arm(seconds, wanted)

    def _arm(self, seconds: float, answer: bytes) -> None:
        self._wanted = answer
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, answer)
        self._armed = answer

    def _disarm(self) -> None:
        self._armed = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def linger(self) -> None:
        """Shut the write side, discard what still comes for ``LINGER_S``, then close."""
        if self.transport.is_closing():
            return
        self._wanted = None
        self._disarm()
        self.transport.write_eof()
        self._lingering = self.loop.call_later(LINGER_S, self.transport.close)

    def _expire(self, answer: bytes) -> None:
        self._deadline = None
        self._armed = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if answer is _HEADERS_LATE or (cycle is not None and not cycle.response_started):
            self.transport.write(answer)
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # (the application's receive gets http.disconnect)
            cycle.message_event.set()
        self.transport.close()


class _LingeringClose:
    """The request cycle's transport: its ``close`` lingers while the body is still coming,
    and a response's head goes out with its body.

    uvicorn writes a response's status line and headers, then its body, in two ``write``
    calls: two ``send`` system calls per answer, ~7 % of the command API's samples under single
    POSTs. The head of a response with a ``Content-Length`` body (never a ``HEAD`` answer's,
    never ``100 Continue``, which precedes the response) is held until the body's first
    write, which sends both; ``close`` sends a held head first."""

    def __init__(self, protocol: TimedHttpToolsProtocol) -> None:
        self._protocol = protocol
        self._transport = protocol.transport
        self._cycle = protocol.cycle
        self._head: bytes | None = None
        self._wrote = False

    def write(self, data: bytes) -> None:
        """Write ``data``, or hold it if it is the head of a body that will follow."""
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
            return
        if not self._wrote:
            self._wrote = True
            cycle = self._cycle
            if (
                cycle.response_started
                and not cycle.chunked_encoding
                and cycle.expected_content_length > 0
                and cycle.scope["method"] != "HEAD"
            ):
                self._head = data
                return
        self._transport.write(data)

    def close(self) -> None:
        """Close, lingering first if the request's body has not all arrived."""
        if self._head is not None:
            self._transport.write(self._head)
            self._head = None
        cycle = self._protocol.cycle
        if cycle is not None and cycle.more_body and self._transport.can_write_eof():
            self._protocol.linger()
        else:
            self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
