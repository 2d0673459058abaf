"""What every load-generator sender owes the retry loop: a refused connection is a transport
failure (``TRANSPORT``), which the retry policy may resend."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from client import NO_RETRY, TransportFailed
from client.aiohttp_sender import AiohttpSender
from client.raw_sender import RawSender
from client.transport import Sender, Transport

SENDERS: dict[str, Callable[[], Sender]] = {
    "raw": lambda: RawSender(timeout_s=2),
    "aiohttp": lambda: AiohttpSender(timeout_s=2),
}


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("sender", sorted(SENDERS))
async def test_a_refused_connection_is_a_transport_failure(sender: str) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    transport = Transport(url, url, retry=NO_RETRY, sender=SENDERS[sender]())
    try:
        with pytest.raises(TransportFailed) as failed:
            await transport.command("POST", "/v1/orders", "k", {"symbol": "A"})
    finally:
        await transport.aclose()

    assert failed.value.code == "TRANSPORT"
