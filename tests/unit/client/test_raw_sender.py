"""The load generators' raw sender: what the retry loop needs, from a real loopback server (a
refused connection: ``test_senders.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from client import NO_RETRY, TransportFailed
from client.raw_sender import RawSender
from client.transport import Transport


async def _serve(answer: bytes, requests: list[bytes]) -> asyncio.Server:
    """A server answering ``answer`` to each request (its head and body kept in ``requests``)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            requests.append(head + await reader.readexactly(length))
            writer.write(answer)
            await writer.drain()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.fixture
async def chunked_server() -> AsyncIterator[tuple[str, list[bytes]]]:
    requests: list[bytes] = []
    answer = (
        b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
        b"X-Projection-Position: 42\r\ntransfer-encoding: chunked\r\n\r\n"
        b'5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'
    )
    server = await _serve(answer, requests)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", requests


async def test_requests_share_a_kept_alive_connection_and_read_chunked_answers(
    chunked_server: tuple[str, list[bytes]],
) -> None:
    url, requests = chunked_server
    transport = Transport(url, url, retry=NO_RETRY, sender=RawSender(max_connections=1))
    try:
        first = await transport.command("POST", "/v1/orders", "k", {"symbol": "A"}, "key-1")
        second = await transport.query("/v1/orders", "k", {"open": True, "symbol": "A"})
    finally:
        await transport.aclose()

    assert (first.status, first.body) == (201, {"a": 1})
    assert second.projection_position == 42
    assert requests[0].startswith(b"POST /v1/orders HTTP/1.1\r\n")
    assert b"authorization: Bearer k\r\n" in requests[0]
    assert b"idempotency-key: key-1\r\n" in requests[0]
    assert requests[0].endswith(b'\r\n\r\n{"symbol":"A"}')
    assert requests[1].startswith(b"GET /v1/orders?open=true&symbol=A HTTP/1.1\r\n")


async def test_a_silent_server_times_out_as_a_transport_failure() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    transport = Transport(url, url, retry=NO_RETRY, sender=RawSender(timeout_s=0.2))
    try:
        with pytest.raises(TransportFailed) as failed:
            await transport.command("DELETE", "/v1/orders/1", "k")
    finally:
        await transport.aclose()
        server.close()  # (not ``wait_closed``: the silent handler never closes its side)

    assert failed.value.code == "TRANSPORT"
