"""A minimal keep-alive HTTP/1.1 load generator for loopback benchmarks.

httpx costs more CPU per request than the server under test on a 2-core machine, so the
benchmarks send pre-encoded requests over raw asyncio streams and read only the status line,
the ``content-length`` and the body.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


def loopback_target(url: str) -> tuple[str, int, str]:
    """(host, port, path prefix) of ``url``; refuses anything but a loopback address."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    address = socket.gethostbyname(host)
    if not ipaddress.ip_address(address).is_loopback:
        raise SystemExit(f"refusing to load a non-loopback host: {host} ({address})")
    return address, parts.port or 80, parts.path.rstrip("/")


class Connection:
    """One keep-alive connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        """Connect to ``host:port``."""
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send one encoded request; return its status and body."""
        self.writer.write(request)
        status_line = await self.reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        """Close the socket."""
        self.writer.close()


def encode(method: str, path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """An HTTP/1.1 request as bytes."""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"host: {host}",
        f"content-length: {len(body)}",
        "content-type: application/json",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Tally:
    """Outcomes and latencies of one load phase."""

    ok: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    error_samples: list[str] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile latency in ms (0 without samples)."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


async def closed_loop(
    host: str,
    port: int,
    concurrency: int,
    duration_s: float,
    max_requests: int,
    next_request: Callable[[int], bytes],
    ok_status: int,
    on_progress: Callable[[int], None] | None = None,
) -> Tally:
    """``concurrency`` connections each sending its next request when the last one answered."""
    tally = Tally()
    deadline = time.perf_counter() + duration_s
    sent = 0

    async def worker(index: int) -> None:
        nonlocal sent
        conn = await Connection.open(host, port)
        try:
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                started = time.perf_counter()
                status, body = await conn.send(next_request(index))
                tally.latencies_ms.append((time.perf_counter() - started) * 1000)
                if status == ok_status:
                    tally.ok += 1
                else:
                    tally.errors += 1
                    if len(tally.error_samples) < 5:
                        tally.error_samples.append(f"{status} {body[:200]!r}")
                if on_progress is not None:
                    on_progress(1)
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    tally.elapsed_s = time.perf_counter() - started
    return tally
