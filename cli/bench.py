"""``exchange bench``: a bounded load generator against a running stack (loopback only).

Registers ``--users`` funded users and lists ``--symbols`` fresh symbols (with the admin key of
the settings), then drives the standard flow (``client/workload.py``: limits near the mid,
cancels, crossing limits, market orders; ``--batch-size`` > 1 for batches) at ``--rate`` orders/s
or flat out, until ``--orders`` or ``--duration``. A live table shows the rate, accept and
end-to-end latency (POST → the order's outcome visible in the query API) and refusals; the
last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Annotated, Any

import orjson
import typer
import uvloop
from rich.console import Console
from rich.live import Live
from rich.table import Table

from cli.profiles import PROFILES, Profile
from client.aiohttp_sender import AiohttpSender
from client.api import ExchangeClient
from client.loadgen import Driver, LoadConfig, LoadStats, loopback_only, prepare
from client.raw_sender import RawSender
from client.transport import Sender, Transport

console = Console(stderr=True)


def _profile(name: str) -> Profile:
    if name not in PROFILES:
        raise typer.BadParameter(f"unknown profile {name!r}; choose {', '.join(PROFILES)}")
    return PROFILES[name]


HTTP_CLIENTS = ("raw", "aiohttp", "httpx")
"""What a load generator sends with: ``client.raw_sender`` (bare keep-alive HTTP/1.1, the
default), aiohttp (~85 µs of CPU per request here) or the client's own httpx transports
(~400 µs; to compare)."""


def admin_client(
    profile: Profile,
    via: str,
    connections: int,
    idempotency_keys: bool = True,
    http: str = "raw",
) -> ExchangeClient:
    """An admin client of ``profile``'s stack (``via``: ``direct`` or ``nginx``) sending with
    ``http`` (one of ``HTTP_CLIENTS``); the admin key is ``EXCHANGE_ADMIN_KEY`` when set, else
    the profile's."""
    env = {**profile.service_env(), **os.environ}
    key = env["EXCHANGE_ADMIN_KEY"]
    if via == "nginx":
        urls = (
            f"{env['EXCHANGE_NGINX_URL']}/api/command",
            f"{env['EXCHANGE_NGINX_URL']}/api/query",
        )
    elif via == "direct":
        urls = (env["EXCHANGE_COMMAND_API_URL"], env["EXCHANGE_QUERY_API_URL"])
    else:
        raise typer.BadParameter(f"--via is direct or nginx, not {via!r}")
    loopback_only(*urls)
    if http not in HTTP_CLIENTS:
        raise typer.BadParameter(f"--http is one of {', '.join(HTTP_CLIENTS)}, not {http!r}")
    sender: Sender | None = None
    if http == "raw":
        sender = RawSender(connections)
    elif http == "aiohttp":
        sender = AiohttpSender(connections)
    transport = Transport(
        *urls, max_connections=connections, idempotency_keys=idempotency_keys, sender=sender
    )
    return ExchangeClient(*urls, key, read_your_writes=False, transport=transport)


def figures(stats: LoadStats, config: LoadConfig) -> dict[str, Any]:
    """The run's figures (latencies in ms)."""
    pct = stats.percentile
    return {
        "orders": stats.placed,
        "orders_per_s": round(stats.rate()),
        "requests": stats.requests,
        "cancels": stats.cancels,
        "cancels_late": stats.cancels_late,
        "accept_p50_ms": round(pct(stats.accept_ms, 50), 2),
        "accept_p99_ms": round(pct(stats.accept_ms, 99), 2),
        "accept_p999_ms": round(pct(stats.accept_ms, 99.9), 2),
        "e2e_samples": len(stats.e2e_ms),
        "e2e_p50_ms": round(pct(stats.e2e_ms, 50), 1),
        "e2e_p99_ms": round(pct(stats.e2e_ms, 99), 1),
        "e2e_p999_ms": round(pct(stats.e2e_ms, 99.9), 1),
        "refused": dict(stats.refused),
        "elapsed_s": round(stats.elapsed_s or time.perf_counter() - stats.started, 2),
        "batch_size": config.batch_size,
        "target_rate": config.rate,
        "concurrency": config.concurrency,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def table(shown: dict[str, Any], title: str) -> Table:
    """The figures as a two-column table."""
    view = Table(title=title)
    view.add_column("figure")
    view.add_column("value", justify="right")
    for key, value in shown.items():
        view.add_row(key, str(value))
    return view


async def run_load(
    admin: ExchangeClient, users: int, symbols: int, config: LoadConfig, title: str
) -> LoadStats:
    """Prepare the market, then drive it with a live table (refreshed a few times a second)."""
    with console.status(f"registering {users} users, listing {symbols} symbols"):
        market = await prepare(admin, users, symbols)
    driver = Driver(market, config)
    with Live(table(figures(driver.stats, config), title), console=console) as live:

        async def refresh() -> None:
            while True:
                await asyncio.sleep(0.5)
                live.update(table(figures(driver.stats, config), title))

        painter = asyncio.ensure_future(refresh())
        try:
            stats = await driver.run()
        finally:
            painter.cancel()
        live.update(table(figures(stats, config), title))
    return stats


def bench(
    profile: Annotated[str, typer.Option("--profile", "-p", help="dev or test")] = "dev",
    orders: Annotated[int, typer.Option(help="stop after this many orders", min=1)] = 10_000,
    duration: Annotated[float, typer.Option(help="stop after this many seconds", min=0.1)] = 60,
    rate: Annotated[float, typer.Option(help="target orders/s (0: flat out)", min=0)] = 0,
    users: Annotated[int, typer.Option(help="funded users (half buy, half sell)", min=2)] = 20,
    symbols: Annotated[int, typer.Option(help="fresh symbols", min=1)] = 4,
    concurrency: Annotated[int, typer.Option(help="requests in flight", min=1)] = 32,
    batch_size: Annotated[int, typer.Option(help="orders per request (>1: batches)")] = 1,
    probe_every: Annotated[float, typer.Option(help="s between end-to-end probes")] = 0.05,
    via: Annotated[str, typer.Option(help="direct (the APIs' ports) or nginx")] = "direct",
    seed: Annotated[int, typer.Option(help="seed of the flow")] = 1,
    client_order_ids: Annotated[
        bool, typer.Option(help="give each order a client_order_id (one claim event each)")
    ] = True,
    idempotency_keys: Annotated[
        bool, typer.Option(help="an Idempotency-Key on every command (off: to measure its cost)")
    ] = True,
    http: Annotated[
        str, typer.Option(help="the load's HTTP client: raw, aiohttp or httpx")
    ] = "raw",
) -> None:
    """Drive a realistic order flow through a running stack and measure it (loopback only)."""
    config = LoadConfig(
        orders, duration, rate, concurrency, batch_size, probe_every, seed, client_order_ids
    )

    async def go() -> LoadStats:
        connections = concurrency + 32
        client = admin_client(_profile(profile), via, connections, idempotency_keys, http)
        async with client as admin:
            return await run_load(admin, users, symbols, config, f"exchange bench ({profile})")

    try:
        stats = uvloop.run(go())  # (as the services run: the client's loop costs less CPU)
    except ValueError as exc:  # (a non-loopback target)
        console.print(f"[red]✗ {exc}[/]")
        raise typer.Exit(2) from exc
    for sample in stats.error_samples:
        console.print(f"[yellow]sample refusal[/] {sample}", markup=True, highlight=False)
    print(orjson.dumps(figures(stats, config)).decode(), flush=True)
