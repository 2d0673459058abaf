"""The load generators' aiohttp sender maps what the retry loop needs as httpx's does."""

from __future__ import annotations

import socket

import pytest

from client import NO_RETRY, TransportFailed
from client.aiohttp_sender import AiohttpSender, _text
from client.transport import Transport


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_refused_connection_is_a_transport_failure() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    transport = Transport(url, url, retry=NO_RETRY, sender=AiohttpSender(timeout_s=2))
    try:
        with pytest.raises(TransportFailed) as failed:
            await transport.command("POST", "/v1/orders", "k", {"symbol": "A"})
    finally:
        await transport.aclose()

    assert failed.value.code == "TRANSPORT"


def test_query_values_are_written_as_httpx_writes_them() -> None:
    assert [_text(v) for v in (True, False, 7, "AAPL")] == ["true", "false", "7", "AAPL"]
