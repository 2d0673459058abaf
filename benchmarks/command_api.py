"""Command API benchmark: single orders, batches of 100, and a no-I/O ceiling on the same setup.

    .venv/bin/python -m benchmarks.command_api                 # the test stack's command API
    .venv/bin/python -m benchmarks.command_api --url http://127.0.0.1:8001   # the dev stack

Lists a fresh instrument, registers ``--users`` funded users, then (1) drives ``POST /v1/orders``
(limit buys, one per request) from ``--concurrency`` keep-alive connections for ``--duration``
seconds or ``--max-orders`` orders, (2) drives ``POST /v1/orders/batch`` with batches of
``--batch-size``, and (3) serves ``benchmarks.ceiling_app`` (same uvicorn setup, same body
model, no I/O) on a free port and drives it the same way as (1). Loopback only. The last line
of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks.http_load import Tally, closed_loop, encode, loopback_target

console = Console(stderr=True)


def _wait_until_up(url: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(f"{url}/health", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _setup(url: str, admin_key: str, users: int) -> tuple[str, list[str]]:
    _wait_until_up(url)
    admin = {"Authorization": f"Bearer {admin_key}"}
    symbol = "B" + uuid.uuid4().hex[:8].upper()
    with httpx.Client(base_url=url, timeout=30) as api:
        api.post("/v1/instruments", json={"symbol": symbol}, headers=admin).raise_for_status()
        keys = []
        for _ in range(users):
            name = f"bench{uuid.uuid4().hex[:12]}"
            resp = api.post("/v1/users", json={"username": name}, headers=admin)
            resp.raise_for_status()
            key = resp.json()["api_key"]
            api.post(
                "/v1/deposits",
                json={"asset": "USD", "amount": "1000000000.00"},
                headers={"Authorization": f"Bearer {key}"},
            ).raise_for_status()
            keys.append(key)
    return symbol, keys


def _order_requests(host: str, prefix: str, symbol: str, keys: list[str]) -> list[bytes]:
    body = orjson.dumps({"symbol": symbol, "side": "buy", "price": "10.00", "quantity": 1})
    return [
        encode("POST", f"{prefix}/v1/orders", host, {"authorization": f"Bearer {k}"}, body)
        for k in keys
    ]


def _batch_requests(host: str, prefix: str, symbol: str, keys: list[str], size: int) -> list[bytes]:
    leg = {"symbol": symbol, "side": "buy", "price": "10.00", "quantity": 1}
    body = orjson.dumps({"orders": [leg] * size, "all_or_nothing": False})
    return [
        encode("POST", f"{prefix}/v1/orders/batch", host, {"authorization": f"Bearer {k}"}, body)
        for k in keys
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_ceiling(port: int, workers: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", "benchmarks.ceiling_app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--log-level", "warning", "--workers", str(workers),
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).raise_for_status()
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the ceiling app did not start")


async def _phase(
    progress: Progress, label: str, target: tuple[str, int], requests: list[bytes],
    args: argparse.Namespace, duration: float, max_requests: int, ok_status: int = 201,
) -> Tally:  # fmt: skip
    task = progress.add_task(label, total=max_requests)
    tally = await closed_loop(
        target[0], target[1], args.concurrency if ok_status else 1, duration, max_requests,
        lambda i: requests[i % len(requests)], ok_status,
        lambda n: progress.advance(task, n),
    )  # fmt: skip
    progress.update(task, completed=max_requests)
    return tally


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every phase and return the figures."""
    host, port, prefix = loopback_target(args.url)
    symbol, keys = _setup(args.url, args.admin_key, args.users)
    orders = _order_requests(host, prefix, symbol, keys)
    batches = _batch_requests(host, prefix, symbol, keys, args.batch_size)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:>8}"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress:
        await _phase(progress, "warm-up", (host, port), orders, args, 1.0, 2000)
        single = await _phase(progress, "POST /v1/orders", (host, port), orders, args,
                              args.duration, args.max_orders)  # fmt: skip
        args_b = argparse.Namespace(**{**vars(args), "concurrency": args.batch_concurrency})
        batch = await _phase(
            progress,
            f"POST /v1/orders/batch x{args.batch_size}",
            (host, port),
            batches,
            args_b,
            args.duration,
            args.max_orders // args.batch_size,
        )
        ceiling_port = _free_port()
        proc = _start_ceiling(ceiling_port, args.workers)
        try:
            ceiling_requests = _order_requests("127.0.0.1", "", symbol, keys)
            ceiling = await _phase(progress, "ceiling (no I/O)", ("127.0.0.1", ceiling_port),
                                   ceiling_requests, args, args.ceiling_duration,
                                   args.max_orders)  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(10)
    return _figures(single, batch, ceiling, args)


def _figures(
    single: Tally, batch: Tally, ceiling: Tally, args: argparse.Namespace
) -> dict[str, Any]:
    orders_per_s = single.ok / single.elapsed_s
    ceiling_per_s = ceiling.ok / ceiling.elapsed_s
    figures = {
        "benchmark": "command_api",
        "orders_per_s": round(orders_per_s),
        "p50_ms": round(single.percentile(50), 2),
        "p99_ms": round(single.percentile(99), 2),
        "ceiling_requests_per_s": round(ceiling_per_s),
        "ratio_to_ceiling": round(orders_per_s / ceiling_per_s, 3) if ceiling_per_s else None,
        "batch_orders_per_s": round(batch.ok * args.batch_size / batch.elapsed_s),
        "batch_p50_ms": round(batch.percentile(50), 2),
        "batch_p99_ms": round(batch.percentile(99), 2),
        "errors": single.errors + batch.errors + ceiling.errors,
        "orders": single.ok,
        "batches": batch.ok,
        "concurrency": args.concurrency,
        "batch_concurrency": args.batch_concurrency,
        "users": args.users,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    table = Table(title="command API")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, str(value))
    console.print(table)
    for sample in (single.error_samples + batch.error_samples + ceiling.error_samples)[:5]:
        console.print(f"[red]error sample[/red] {sample}")
    return figures


def main() -> None:
    """Parse the options, run, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_url = os.environ.get("EXCHANGE_COMMAND_API_URL", "http://127.0.0.1:8011")
    parser.add_argument("--url", default=default_url, help="the command API (loopback only)")
    parser.add_argument(
        "--admin-key", default=os.environ.get("EXCHANGE_ADMIN_KEY", "dev-admin-key")
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--ceiling-duration", type=float, default=5.0)
    parser.add_argument("--max-orders", type=int, default=500_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch-concurrency", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the ceiling")
    figures = asyncio.run(run(parser.parse_args()))
    print(orjson.dumps(figures).decode(), flush=True)


if __name__ == "__main__":
    main()
