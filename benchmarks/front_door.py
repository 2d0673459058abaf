"""Many concurrent keep-alive clients through nginx: all held open at once, none reset.

    .venv/bin/python -m benchmarks.front_door [--clients 10000] [--path /api/query/health]

Every client opens its own connection (at most ``--connecting`` handshakes at a time), sends one
request, and keeps the connection open until every client has connected and been answered: at
that moment all of them are open together. Then each sends a second request on the same
connection, spread over ``clients / --rate`` seconds (a crowd that is connected, not one that
fires at the same instant), and closes. A reset, an early close or a timeout is an error;
``statuses`` counts the answers. The last line is one JSON object with the figures, and the
nginx error log lines written meanwhile (``worker_connections are not enough`` was the failure
at 2,000 clients before the limits were raised). The default target is the test stack's nginx;
``tests/integration/test_front_door.py`` runs the same code with 1,000 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from benchmarks.http_load import Connection, loopback_target
from cli.profiles import PROFILES

TIMEOUT_S = 60.0


@dataclass
class Crowd:
    """What happened to a crowd of keep-alive clients."""

    clients: int
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    held_together: int = 0
    """Connections open at the moment every client had been answered once."""
    latencies_ms: list[float] = field(default_factory=list)
    connect_s: float = 0.0
    elapsed_s: float = 0.0

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile request latency in ms."""
        ordered = sorted(self.latencies_ms) or [0.0]
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    def summary(self) -> dict[str, Any]:
        """The figures, for printing."""
        return {
            "clients": self.clients,
            "held_together": self.held_together,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors),
            "connect_s": round(self.connect_s, 2),
            "elapsed_s": round(self.elapsed_s, 2),
            "p50_ms": round(self.percentile(50), 1),
            "p99_ms": round(self.percentile(99), 1),
        }


def raise_open_files(needed: int) -> None:
    """Lift this process's soft open-files limit towards ``needed`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def hold_crowd(
    url: str, clients: int, path: str, connecting: int = 500, rate: float = 1000.0
) -> Crowd:
    """Run the crowd described in the module docstring against ``url`` (loopback only)."""
    host, port, _ = loopback_target(url)
    request = f"GET {path} HTTP/1.1\r\nhost: {host}:{port}\r\n\r\n".encode()
    crowd = Crowd(clients)
    gate = asyncio.Semaphore(connecting)
    everyone_answered = asyncio.Event()
    answered = open_now = 0
    spread_s = clients / rate

    async def ask(conn: Connection) -> None:
        started = time.perf_counter()
        try:
            status, _ = await asyncio.wait_for(conn.send(request), TIMEOUT_S)
        except IndexError as exc:  # (no status line: the server closed the connection)
            raise ConnectionAbortedError("closed by the server") from exc
        crowd.latencies_ms.append((time.perf_counter() - started) * 1000)
        crowd.statuses[status] += 1

    async def client() -> None:
        nonlocal answered, open_now
        conn: Connection | None = None
        try:
            async with gate:
                conn = await asyncio.wait_for(Connection.open(host, port), TIMEOUT_S)
                open_now += 1
                await ask(conn)
            answered += 1
            if answered == clients:
                crowd.held_together = open_now
                everyone_answered.set()
            await everyone_answered.wait()
            await asyncio.sleep(random.uniform(0, spread_s))
            await ask(conn)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            crowd.errors[type(exc).__name__] += 1
            if not everyone_answered.is_set():
                answered += 1
                if answered == clients:
                    crowd.held_together = open_now
                    everyone_answered.set()
        finally:
            if conn is not None:
                conn.close()
                open_now -= 1

    started = time.perf_counter()
    tasks = [asyncio.ensure_future(client()) for _ in range(clients)]
    await everyone_answered.wait()
    crowd.connect_s = time.perf_counter() - started
    await asyncio.gather(*tasks)
    crowd.elapsed_s = time.perf_counter() - started
    return crowd


def main() -> None:
    """Run the crowd and print its figures (one JSON line)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"http://127.0.0.1:{PROFILES['test'].nginx_port}")
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--path", default="/api/query/health")
    parser.add_argument("--connecting", type=int, default=500)
    parser.add_argument("--rate", type=float, default=1000.0, help="second requests per second")
    args = parser.parse_args()
    raise_open_files(args.clients + 1024)
    log = PROFILES["test"].logs / "nginx-error.log"
    log_start = log.stat().st_size if log.exists() else 0
    crowd = asyncio.run(hold_crowd(args.url, args.clients, args.path, args.connecting, args.rate))
    nginx_errors = []
    if log.exists():
        with log.open("rb") as f:
            f.seek(log_start)
            nginx_errors = [line.decode(errors="replace").strip() for line in f][-5:]
    print(orjson.dumps({**crowd.summary(), "nginx_error_log": nginx_errors}).decode())


if __name__ == "__main__":
    main()
