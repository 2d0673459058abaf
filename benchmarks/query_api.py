"""Query API benchmark: book and account reads against a filled projection (test stack's Redis).

    .venv/bin/python -m benchmarks.query_api [--duration 10] [--concurrency 32] [--workers 1]

Fills a key prefix of its own with the standard workload of ``benchmarks.projections``
(``random_flow(seed=2)``, 20,000 orders: two books with their depth, 12 funded traders with
their API keys), starts ``python -m query_api`` on a free port reading that prefix, and drives
it with keep-alive connections in a closed loop (``benchmarks.http_load``): first
``GET /v1/books/SIMA?depth=10``, then ``GET /v1/account`` with the traders' keys. The last line
is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from typing import Any

import orjson
import redis.asyncio as aioredis
from rich.console import Console

from benchmarks.http_load import Tally, closed_loop, encode
from cli.profiles import PROFILES, ROOT
from domain import streams
from event_store.outbox import partition_of
from projections.keys import Control
from projections.simulation import SimEvent, random_flow
from projections.writer import ProjectionWriter

console = Console(stderr=True)
PARTITIONS = 4
USERS = range(1, 13)


def api_key(user: int) -> str:
    """The benchmark's API key of a simulated trader."""
    return f"bench-key-{user}"


async def fill(client: aioredis.Redis, control: Control) -> int:
    """Project the workload (plus the traders' keys) under ``control``; the events applied."""
    flow = random_flow(seed=2, orders=20_000)
    events = list(flow.events)
    for user in USERS:
        key_hash = hashlib.sha256(api_key(user).encode()).hexdigest()
        data = {"user_id": user, "username": f"sim{user}", "key_hash": key_hash, "at": 0}
        events.append(
            SimEvent(len(events) + 1, f"apikey-{key_hash}", 1, streams.API_KEY_ISSUED, data)
        )
    writer = ProjectionWriter(client, control)
    by_partition: dict[int, list[SimEvent]] = {p: [] for p in range(PARTITIONS)}
    for event in events:
        by_partition[partition_of(event.stream_id.encode(), PARTITIONS)].append(event)
    for partition, mine in by_partition.items():
        await writer.claim(partition)
        for start in range(0, len(mine), 5000):
            await writer.apply(partition, mine[start : start + 5000], None)
        await writer.raise_position(partition, len(events))
    return len(events)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _start(prefix: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **PROFILES["test"].service_env(),
        "EXCHANGE_PROJECTION_PREFIX": prefix,
        "EXCHANGE_PORT": str(port),
        "EXCHANGE_WORKERS": str(workers),
        "EXCHANGE_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "query_api"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_ready(port: int) -> None:
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("the query API did not get ready")


async def _phase(port: int, requests: list[bytes], args: argparse.Namespace) -> Tally:
    def next_request(index: int) -> bytes:
        return requests[index % len(requests)]

    return await closed_loop(
        "127.0.0.1", port, args.concurrency, args.duration, 10**9, next_request, 200
    )


def _figures(name: str, tally: Tally) -> dict[str, Any]:
    return {
        f"{name}_reads_per_s": round(tally.ok / tally.elapsed_s) if tally.elapsed_s else 0,
        f"{name}_p50_ms": round(tally.percentile(50), 2),
        f"{name}_p99_ms": round(tally.percentile(99), 2),
        f"{name}_errors": tally.errors,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    client = aioredis.from_url(PROFILES["test"].redis_url)
    control = Control(f"qbench{uuid.uuid4().hex[:6]}")
    port = _free_port()
    figures: dict[str, Any] = {"workers": args.workers, "concurrency": args.concurrency}
    process = None
    try:
        with console.status("filling the projection"):
            figures["events"] = await fill(client, control)
        process = _start(control.prefix, port, args.workers)
        await asyncio.to_thread(_wait_ready, port)
        host = f"127.0.0.1:{port}"
        figures["load_before"] = repr(os.getloadavg())
        book = [encode("GET", "/v1/books/SIMA?depth=10", host, {}, b"")]
        with console.status("book reads"):
            figures |= _figures("book", await _phase(port, book, args))
        accounts = [
            encode("GET", "/v1/account", host, {"authorization": f"Bearer {api_key(u)}"}, b"")
            for u in USERS
        ]
        with console.status("account reads"):
            figures |= _figures("account", await _phase(port, accounts, args))
        figures["errors"] = figures["book_errors"] + figures["account_errors"]
        figures["load_after"] = repr(os.getloadavg())
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=20)
        batch = [key async for key in client.scan_iter(match=f"{control.prefix}:*", count=5000)]
        for start in range(0, len(batch), 5000):
            await client.unlink(*batch[start : start + 5000])
        await client.aclose()
    console.print(figures)
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")


if __name__ == "__main__":
    asyncio.run(main())
