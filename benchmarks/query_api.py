"""Query API benchmark: book and account reads against a filled projection (test stack's Redis).

    .venv/bin/python -m benchmarks.query_api [--duration 10] [--concurrency 32] [--workers 2]
        [--client wrk|python] [--compare]

Fills a key prefix of its own with the standard workload of ``benchmarks.projections``
(``random_flow(seed=2)``, 20,000 orders: two books with their depth, 12 funded traders with
their API keys), starts ``python -m query_api`` on a free port reading that prefix, and drives
it with keep-alive connections in a closed loop: first ``GET /v1/books/SIMA?depth=10``, then
``GET /v1/account`` with the traders' keys. The load generator is ``wrk`` when it is installed
(``apt-get install wrk``; ``benchmarks.query_api_wrk``), else the Python one
(``benchmarks.http_load``), which on two cores eats about as much CPU as the server.
``--compare`` runs every (client, workers) pair one after the other in the same run. The last
line is one JSON object with the figures (of ``--client``/``--workers``; the pairs in ``runs``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
import psutil
import redis.asyncio as aioredis
from rich.console import Console

from benchmarks import query_api_wrk
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
    for _ in range(1200):
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
        **({f"{name}_error_samples": tally.error_samples[:3]} if tally.errors else {}),
    }


def _wrk_figures(name: str, found: dict[str, Any]) -> dict[str, Any]:
    errors = found["status_errors"] + found["socket_errors"]
    seconds = found["duration_us"] / 1e6
    return {
        f"{name}_reads_per_s": round((found["requests"] - errors) / seconds) if seconds else 0,
        f"{name}_p50_ms": round(found["p50_us"] / 1000, 2),
        f"{name}_p99_ms": round(found["p99_us"] / 1000, 2),
        f"{name}_errors": errors,
    }


READS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "book": [("/v1/books/SIMA?depth=10", {})],
    "account": [("/v1/account", {"authorization": f"Bearer {api_key(u)}"}) for u in USERS],
}


def _cpu_s(server: psutil.Process) -> float:
    """CPU seconds of the server process and its children (uvicorn's workers)."""
    total = 0.0
    for process in (server, *server.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


async def _redis_cpu_s(client: aioredis.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _measure(
    port: int, client: str, args: argparse.Namespace, server: psutil.Process, redis: aioredis.Redis
) -> dict[str, Any]:
    """Book reads, then account reads, with ``client`` (``wrk`` or ``python``); beside each,
    the CPU the server and Redis spent per read (what the reads cost, whatever the load)."""
    figures: dict[str, Any] = {"client": client, "load_before": repr(os.getloadavg())}
    host = f"127.0.0.1:{port}"
    for name, reads in READS.items():
        with console.status(f"{name} reads ({client})"):
            cpu, redis_cpu = _cpu_s(server), await _redis_cpu_s(redis)
            if client == "wrk":
                found = await query_api_wrk.run(port, reads, args.concurrency, args.duration)
                figures |= _wrk_figures(name, found)
            else:
                encoded = [encode("GET", path, host, headers, b"") for path, headers in reads]
                figures |= _figures(name, await _phase(port, encoded, args))
            done = max(figures[f"{name}_reads_per_s"] * args.duration, 1)
            figures[f"{name}_server_cpu_us"] = round((_cpu_s(server) - cpu) / done * 1e6, 1)
            used = await _redis_cpu_s(redis) - redis_cpu
            figures[f"{name}_redis_cpu_us"] = round(used / done * 1e6, 1)
    figures["errors"] = figures["book_errors"] + figures["account_errors"]
    figures["load_after"] = repr(os.getloadavg())
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    default_client = "wrk" if query_api_wrk.available() else "python"
    parser.add_argument("--client", choices=("wrk", "python"), default=default_client)
    parser.add_argument("--compare", action="store_true", help="also 1 and 2 workers, both clients")
    args = parser.parse_args()
    client = aioredis.from_url(PROFILES["test"].redis_url)
    control = Control(f"qbench{uuid.uuid4().hex[:6]}")
    pairs = [(args.client, args.workers)]
    if args.compare:
        clients = ["python", *(["wrk"] if query_api_wrk.available() else [])]
        pairs += [(c, w) for c in clients for w in (1, 2) if (c, w) != pairs[0]]
    figures: dict[str, Any] = {"workers": args.workers, "concurrency": args.concurrency}
    runs = []
    try:
        with console.status("filling the projection"):
            figures["events"] = await fill(client, control)
        for load_client, workers in pairs:
            found = await _serve_and_measure(control.prefix, load_client, workers, args, client)
            console.print(found)
            runs.append(found)
    finally:
        batch = [key async for key in client.scan_iter(match=f"{control.prefix}:*", count=5000)]
        for start in range(0, len(batch), 5000):
            await client.unlink(*batch[start : start + 5000])
        await client.aclose()
    figures |= runs[0]
    if args.compare:
        figures["runs"] = runs
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")


async def _serve_and_measure(
    prefix: str, load_client: str, workers: int, args: argparse.Namespace, redis: aioredis.Redis
) -> dict[str, Any]:
    """Start ``python -m query_api`` with ``workers`` processes on a free port and measure it."""
    port = _free_port()
    process = _start(prefix, port, workers)
    try:
        await asyncio.to_thread(_wait_ready, port)
        await asyncio.sleep(1.0)  # (every worker process up, not only the first)
        server = psutil.Process(process.pid)
        return {"workers": workers, **await _measure(port, load_client, args, server, redis)}
    finally:
        process.terminate()
        process.wait(timeout=20)


if __name__ == "__main__":
    asyncio.run(main())
