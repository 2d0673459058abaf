"""Bounded bodies, bounded read times and health under overload, over raw sockets (issue 13).

The body tests run against the test stack's API. The deadline and overload tests serve a fresh
command API (on the test stack's store) with uvicorn in this process, with deadlines of a
second and four in-flight slots, so each test takes seconds.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson
import pytest
import uvicorn

from command_api.app import create_app
from common import http_protocol
from common.settings import CommandApiSettings
from tests.integration.command_api.conftest import Trader, new_symbol, new_trader

pytestmark = pytest.mark.integration

LIMIT = 1_048_576
CHUNK = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], dict[str, object]]:
    """One response: status, headers, JSON body."""
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, orjson.loads(body)


def _send_chunked(url: str, path: str, auth: str, megabytes: int) -> tuple[int, str, int]:
    """Send a chunked body of ``megabytes`` MiB, reading all along: the answer's status and
    code, once the API closed the connection, and how many bytes it took before."""
    sock = socket.create_connection(_address(url), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n{auth}"
    sock.sendall((head + "transfer-encoding: chunked\r\n\r\n").encode())
    sock.setblocking(False)
    sent, pending, received, sending = 0, memoryview(CHUNK), b"", True
    deadline = time.monotonic() + 60  # (a bound on a broken server, not a timing assert)
    with sock:
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                data = None
            except ConnectionResetError:
                break  # closed (with our unread chunks in its buffer: a reset)
            if data == b"":
                break  # closed
            received += data or b""
            if not sending or sent >= megabytes * 2**20:
                time.sleep(0.01)
                continue
            try:
                done = sock.send(pending)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except (BrokenPipeError, ConnectionResetError):
                sending = False  # it stopped reading; its answer may still be in our buffer
                continue
            sent, pending = sent + done, pending[done:] or memoryview(CHUNK)
        else:
            raise AssertionError("the API kept the connection open")
    head_bytes, _, body = received.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head_bytes.lower(), received[:300]
    return int(head_bytes.split()[1]), orjson.loads(body)["code"], sent


@pytest.fixture
async def trader(command_api_url: str) -> Trader:
    async with httpx.AsyncClient(base_url=command_api_url, timeout=30) as api:
        await new_symbol(api)
        return await new_trader(api)


@pytest.mark.parametrize("path", ["/v1/orders", "/v1/deposits", "/v1/orders/batch"])
async def test_a_chunked_body_past_the_limit_is_refused_as_it_is_read(
    command_api_url: str, trader: Trader, path: str
) -> None:
    """``/v1/orders`` is read by the fast path first, ``/v1/deposits`` by FastAPI."""
    auth = f"authorization: {trader.headers['Authorization']}\r\n"

    status, code, sent = await asyncio.to_thread(_send_chunked, command_api_url, path, auth, 64)

    assert (status, code) == (413, "PAYLOAD_TOO_LARGE")
    assert sent < 64 * 2**20  # reading stopped: the rest never went


async def test_a_body_without_a_key_is_refused_before_it_is_read(command_api_url: str) -> None:
    status, code, sent = await asyncio.to_thread(
        _send_chunked, command_api_url, "/v1/orders", "", 64
    )

    assert (status, code) == (401, "UNAUTHORIZED")
    assert sent < 64 * 2**20


async def test_an_unknown_key_is_answered_before_the_body_arrives(command_api_url: str) -> None:
    reader, writer = await asyncio.open_connection(*_address(command_api_url))
    writer.write(
        b"POST /v1/deposits HTTP/1.1\r\nhost: t\r\nauthorization: Bearer nobody\r\n"
        b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n"
    )

    status, headers, body = await asyncio.wait_for(_answer(reader), 10)
    writer.close()

    assert (status, body["code"]) == (401, "UNAUTHORIZED")
    assert headers["www-authenticate"] == "Bearer" and headers["connection"] == "close"


async def test_a_declared_length_past_the_limit_is_refused_unread(command_api_url: str) -> None:
    reader, writer = await asyncio.open_connection(*_address(command_api_url))
    writer.write(
        b"POST /v1/deposits HTTP/1.1\r\nhost: t\r\nauthorization: Bearer x\r\n"
        + f"content-length: {LIMIT + 1}\r\n\r\n".encode()
    )

    status, headers, body = await asyncio.wait_for(_answer(reader), 10)
    writer.close()

    assert (status, body["code"], headers["connection"]) == (413, "PAYLOAD_TOO_LARGE", "close")


@asynccontextmanager
async def _served(deadline_s: str, max_in_flight: int) -> AsyncIterator[str]:
    """A command API with these read deadlines and in-flight slots, served on a free port."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EXCHANGE_HEADER_TIMEOUT_S", deadline_s)
        env.setenv("EXCHANGE_BODY_TIMEOUT_S", deadline_s)
        http_protocol.deadlines.cache_clear()
        app = create_app(CommandApiSettings(max_in_flight=max_in_flight))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            app, http="common.http_protocol:TimedHttpToolsProtocol", log_config=None
        )
        server = uvicorn.Server(config)
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        try:
            for _ in range(600):  # (uvicorn has no event for "started")
                if server.started:
                    break
                await asyncio.sleep(0.05)
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            await task
            http_protocol.deadlines.cache_clear()


@pytest.fixture
async def small_api() -> AsyncIterator[str]:
    """1 s read deadlines, 64 in-flight slots."""
    async with _served("1", 64) as url:
        yield url


@pytest.fixture
async def busy_api() -> AsyncIterator[str]:
    """30 s read deadlines, 4 in-flight slots."""
    async with _served("30", 4) as url:
        yield url


async def _in_flight(api: httpx.AsyncClient) -> float:
    """The in-flight gauge, not counting the ``/metrics`` request that reads it."""
    text = (await api.get("/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith("http_requests_in_flight{"))
    return float(line.rsplit(" ", 1)[1]) - 1


async def _closed_within(url: str, data: bytes, seconds: float) -> bytes:
    """What the API answers a request stalled after ``data``, and that it closes the socket."""
    reader, writer = await asyncio.open_connection(*_address(url))
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(), seconds)
    finally:
        writer.close()


async def test_unfinished_headers_get_a_408_and_the_connection_closed(small_api: str) -> None:
    answer = await _closed_within(small_api, b"POST /v1/deposits HTTP/1.1\r\nhost: t\r\n", 10)

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"code":"REQUEST_TIMEOUT"' in answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1/deposits HTTP/1.1\r\nhost: t\r\ncontent-length: -1\r\n\r\n",
        b"POST /v1/deposits HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"GET /v1/\x00 HTTP/1.1\r\nhost: t\r\n\r\n",
    ],
)
async def test_what_the_http_parser_refuses_is_a_400_problem(
    small_api: str, request_bytes: bytes
) -> None:
    answer = await _closed_within(small_api, request_bytes, 10)  # (and closed)

    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/problem+json" in answer
    assert b'"code":"BAD_REQUEST"' in answer


async def test_a_silent_connection_is_closed(small_api: str) -> None:
    assert (await _closed_within(small_api, b"", 10)).startswith(b"HTTP/1.1 408 ")


async def test_unfinished_bodies_get_a_408_and_free_their_slots(small_api: str) -> None:
    async with httpx.AsyncClient(base_url=small_api, timeout=30) as api:
        trader = await new_trader(api)
    stalled = _stalled_deposit(trader)

    answers = await asyncio.gather(*(_closed_within(small_api, stalled, 10) for _ in range(6)))

    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers
    async with httpx.AsyncClient(base_url=small_api, timeout=30) as api:
        assert await _in_flight(api) == 0  # every slot was freed


async def test_health_ready_and_metrics_answer_while_orders_are_shed(busy_api: str) -> None:
    async with httpx.AsyncClient(base_url=busy_api, timeout=30) as api:
        trader = await new_trader(api)
        stalled = _stalled_deposit(trader)
        holders = [asyncio.open_connection(*_address(busy_api)) for _ in range(4)]
        writers = []
        for reader_writer in await asyncio.gather(*holders):
            reader_writer[1].write(stalled)
            writers.append(reader_writer[1])
        for _ in range(100):  # until the four bodies are being read: every slot taken
            if await _in_flight(api) >= 4:
                break
            await asyncio.sleep(0.1)

        shed = await api.post(
            "/v1/deposits", json={"asset": "USD", "amount": "1.00"}, headers=trader.headers
        )
        probes = [(await api.get(path)).status_code for path in ("/health", "/ready", "/metrics")]
        for writer in writers:
            writer.close()

    assert (shed.status_code, shed.json()["code"]) == (503, "OVERLOADED")
    assert probes == [200, 200, 200]


def _stalled_deposit(trader: Trader) -> bytes:
    """A keyed deposit whose body never arrives past its first byte (of 100 announced)."""
    return (
        f"POST /v1/deposits HTTP/1.1\r\nhost: t\r\n"
        f"authorization: {trader.headers['Authorization']}\r\n"
        "content-type: application/json\r\ncontent-length: 100\r\n\r\n{"
    ).encode()
