"""Full-pipeline benchmark: orders through the running stack, end to end.

    EXCHANGE_PORT_OFFSET=<n> .venv/bin/python -m benchmarks.pipeline --profile test --orders 100000

command API → MariaDB → relay → Kafka → matching → settlement → projector → query API. Three
phases on fresh users and symbols (``client.loadgen``, the standard flow): (1) ``--orders``
orders in batches of ``--batch-size`` flat out, then wait until every consumer drained;
(2) ``--single-orders`` single POSTs flat out (``--single-concurrency`` in flight), drained;
(3) batches at half of (1)'s sustained rate for ``--e2e-duration`` seconds with dense
end-to-end probes. Sustained rates count from the
first POST to the drain (the whole pipeline's throughput); accept rates count only the POSTs.
Then every acknowledged order is checked against the store and the read side (``lost``,
``doubled``, see ``pipeline_check.py``). Meanwhile each process's CPU and memory and each
consumer's lag are sampled every second; the lag chart goes to ``--chart``. The last line of
output is one JSON object. Loopback only.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop
from rich.console import Console
from rich.table import Table

from benchmarks.pipeline_check import last_position, trades_between, verdict
from benchmarks.pipeline_monitor import (
    Monitor,
    canary_summary,
    lag_chart,
    lag_summary,
    windows,
)
from cli.bench import HTTP_CLIENTS, admin_client, figures, table
from cli.check import wait_until_drained
from cli.profiles import PROFILES, Profile
from cli.supervisor import Supervisor
from client.loadgen import Driver, LoadConfig, LoadStats, Market, prepare
from client.workload import Flow, Mix
from common.settings import InfraSettings
from event_store.mariadb import MariaDbEventStore

console = Console(stderr=True)

SINGLE_IN_FLIGHT = 256
"""Single POSTs in flight in phase (2) (64 until the sixth session). Every process works in
batches of what arrived meanwhile (group commits, Kafka fetches, projector and settlement
batches), so more in flight costs less CPU per order: single_posts, back to back, all
processes ~2,900-3,000 µs per order at 64, ~2,100 at 256, ~1,600 at 1,024; the accept p99
rises with it (Little's law): ~0.5-0.7 s, ~1.2 s, ~4.5 s."""
GROUPS = ["matching", "settlement", "projector"]
IDLE = frozenset({"nginx", "scheduler"})
"""Programs the batch phase leaves idle: left out of the window table (kept in the JSON)."""


def _settings(profile: Profile) -> InfraSettings:
    env = {**profile.service_env(), **os.environ}
    return InfraSettings(
        database_url=env["EXCHANGE_DATABASE_URL"],
        kafka_bootstrap=env["EXCHANGE_KAFKA_BOOTSTRAP"],
        redis_url=env["EXCHANGE_REDIS_URL"],
    )


async def drained(settings: InfraSettings, timeout_s: float) -> float:
    """Wait until the relay and every consumer caught up; the moment it happened."""
    store = MariaDbEventStore.from_url(settings.database_url)
    try:
        with console.status("waiting for the pipeline to drain"):
            done = await wait_until_drained(store, settings, GROUPS, timeout_s)
    finally:
        await store.close()
    if not done:
        console.print(f"[yellow]! not drained after {timeout_s:.0f} s[/]")
    return time.perf_counter()


async def phase(
    market: Market, config: LoadConfig, label: str, monitor: Monitor, args: Any
) -> dict[str, Any]:
    """Run one load phase, wait for the drain; its figures and stats."""
    settings = monitor.settings
    mix = Mix(max_open=args.max_open, stale_ticks=args.stale_ticks)
    flow = Flow(market.symbols, len(market.users), config.seed, config.batch_size, mix,
                tag=f"{market.tag}{label[0]}")  # fmt: skip
    driver = Driver(market, config, flow)
    monitor.mark(label)
    monitor.follow(lambda: driver.stats.placed)
    before = await last_position(settings.database_url)
    started = time.perf_counter()
    console.rule(label)
    stats = await driver.run()
    ended = await drained(settings, args.drain_timeout)
    upto = await last_position(settings.database_url)
    shown = figures(stats, config)
    span = ended - started
    shown |= {"sustained_orders_per_s": round(stats.placed / span), "drained_s": round(span, 2)}
    return {"figures": shown, "stats": stats, "label": label, "positions": (before, upto),
            "span_s": span}  # fmt: skip


async def count_trades(database_url: str, phases: list[dict[str, Any]]) -> None:
    """Each phase's trades and trades/s into its figures, then its table printed.

    Called after the monitor stopped: the count scans every event of the phase's positions
    (~0.3 µs of MariaDB's CPU per event: 0.17-0.19 s for the 560k events of a 100k-order batch
    phase, 2026-12-04), which the monitor charged to the batch phase's last window (~4 µs per
    order of a 50k-order window there, ~10x the events after a million orders)."""
    for found in phases:
        shown, stats = found["figures"], found["stats"]
        trades = await trades_between(database_url, *found["positions"])
        shown["trades"] = trades
        shown["trades_per_s"] = round(trades / found["span_s"])
        console.print(table(shown, found["label"]))
        for sample in stats.error_samples:
            console.print(f"[yellow]sample refusal[/] {sample}", markup=False, highlight=False)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """All three phases, the checks and the chart."""
    profile = PROFILES[args.profile]
    settings = _settings(profile)
    load_before = os.getloadavg()
    start = await last_position(settings.database_url)
    connections = max(args.concurrency, args.single_concurrency) * 2 + 64
    async with admin_client(profile, args.via, connections, http=args.http) as admin:
        with console.status(f"registering {args.users} users, {args.symbols} symbols"):
            market = await prepare(admin, args.users, args.symbols)
        monitor = Monitor(settings, Supervisor(profile).pids())
        async with monitor:
            batch = await phase(market, _config(args, args.orders, args.batch_size), "batches",
                                monitor, args)  # fmt: skip
            single_config = _config(args, args.single_orders, 1, args.single_concurrency)
            single = await phase(market, single_config, "single POSTs", monitor, args)
            half_rate = args.e2e_rate or batch["figures"]["sustained_orders_per_s"] / 2
            half_config = _config(args, 10**9, args.batch_size, rate=half_rate,
                                  duration=args.e2e_duration, probe_every=0.02)  # fmt: skip
            half = await phase(market, half_config, "half rate", monitor, args)
    await count_trades(settings.database_url, [batch, single, half])
    batch["windows"] = windows(monitor, "batches", args.window_orders)
    Console(stderr=True, width=200).print(window_table(batch["windows"]))
    acknowledged = [
        *batch["stats"].acknowledged, *single["stats"].acknowledged, *half["stats"].acknowledged
    ]  # fmt: skip
    with console.status(f"checking {len(acknowledged)} acknowledged orders"):
        found = await verdict(settings.database_url, settings.redis_url, args.prefix, start,
                              market.tag, acknowledged, market.symbols)  # fmt: skip
    lag_chart(monitor, Path(args.chart), _title(args, load_before))
    return _result(args, batch, single, half, found, monitor, load_before, half_rate)


def _config(
    args: argparse.Namespace, orders: int, batch_size: int, concurrency: int | None = None,
    *, rate: float = 0.0, duration: float | None = None, probe_every: float = 0.2,
) -> LoadConfig:  # fmt: skip
    return LoadConfig(
        orders, duration or args.max_phase_s, rate, concurrency or args.concurrency, batch_size,
        probe_every, args.seed,
    )  # fmt: skip


def _title(args: argparse.Namespace, load: tuple[float, float, float]) -> str:
    return (
        f"consumer lag: {args.orders:,} orders in batches of {args.batch_size}, "
        f"{args.single_orders:,} single, {args.e2e_duration:.0f} s at half rate "
        f"(load before {load[0]:.1f})"
    )


def _result(
    args: argparse.Namespace, batch: dict[str, Any], single: dict[str, Any],
    half: dict[str, Any], found: Any, monitor: Monitor, load_before: tuple[float, ...],
    half_rate: float,
) -> dict[str, Any]:  # fmt: skip
    b, s, h = batch["figures"], single["figures"], half["figures"]
    stats: LoadStats = half["stats"]
    total = b["orders"] + s["orders"] + h["orders"]
    return {
        "benchmark": "pipeline",
        "orders": total,
        "orders_per_s": b["sustained_orders_per_s"],
        "accept_orders_per_s": b["orders_per_s"],
        "batch_accept_p50_ms": b["accept_p50_ms"],
        "batch_accept_p99_ms": b["accept_p99_ms"],
        "batch_accept_p999_ms": b["accept_p999_ms"],
        "batch_e2e_p99_ms": b["e2e_p99_ms"],
        "single_orders_per_s": s["sustained_orders_per_s"],
        "single_accept_orders_per_s": s["orders_per_s"],
        "single_accept_p50_ms": s["accept_p50_ms"],
        "single_accept_p99_ms": s["accept_p99_ms"],
        "single_accept_p999_ms": s["accept_p999_ms"],
        "half_rate_target": round(half_rate),
        "half_rate_orders_per_s": h["orders_per_s"],
        "e2e_samples": len(stats.e2e_ms),
        "e2e_p50_ms": round(stats.percentile(stats.e2e_ms, 50), 1),
        "e2e_p99_ms": round(stats.percentile(stats.e2e_ms, 99), 1),
        "e2e_p999_ms": round(stats.percentile(stats.e2e_ms, 99.9), 1),
        "trades_per_s": b["trades_per_s"],
        "trades": found.trades,
        "unsettled": found.trades * 2 - found.settlements,
        "lost": found.lost,
        "lost_in_store": found.lost_in_store,
        "lost_in_read_side": found.lost_in_read_side,
        "doubled": found.doubled,
        "refused": {"batches": b["refused"], "single": s["refused"], "half": h["refused"]},
        "processes": (processes := monitor.processes()),
        "cpu_us_per_order": {
            name: round(shown["cpu_s"] * 1e6 / max(1, total), 1)
            for name, shown in processes.items()
        },
        "batch_windows": batch["windows"],
        "host_canary_us": canary_summary(monitor),
        "lag_peak": lag_summary(monitor),
        "chart": args.chart,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def window_table(found: list[dict[str, Any]]) -> Table:
    """The batch phase's windows: orders/s and each process's CPU µs per order."""
    names = [n for n in found[0]["cpu_us_per_order"] if n not in IDLE] if found else []
    view = Table(title="batches: CPU µs per order per window")
    for column in ("orders up to", "orders/s", "events/order", *names, "host canary µs", "steal %"):
        view.add_column(column, justify="right")
    for window in found:
        cpu = window["cpu_us_per_order"]
        view.add_row(f"{window['orders_upto']:,}", str(window["orders_per_s"]),
                     str(window["events_per_order"]), *(f"{cpu.get(n, 0):.0f}" for n in names),
                     str(window["canary_us"] or "-"), str(window["steal_pct"]))  # fmt: skip
    return view


def main() -> None:
    """Parse the options, run, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="test", choices=sorted(PROFILES))
    parser.add_argument("--via", default="direct", choices=("direct", "nginx"))
    parser.add_argument("--http", default="raw", choices=HTTP_CLIENTS,
                        help="the load generator's HTTP client")  # fmt: skip
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders sent in batches")
    parser.add_argument("--single-orders", type=int, default=None,
                        help="orders sent one per POST (default: --orders / 10)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8, help="batches in flight")
    parser.add_argument("--single-concurrency", type=int, default=SINGLE_IN_FLIGHT,
                        help="single POSTs in flight")  # fmt: skip
    parser.add_argument("--e2e-duration", type=float, default=30.0)
    parser.add_argument("--e2e-rate", type=float, default=0.0,
                        help="orders/s of phase (3) (default: half the batch phase's)")  # fmt: skip
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-open", type=int, default=Mix().max_open,
                        help="older resting orders kept per trader and symbol")  # fmt: skip
    parser.add_argument("--stale-ticks", type=int, default=Mix().stale_ticks,
                        help="a trader pulls its orders this far from the mid")  # fmt: skip
    parser.add_argument("--max-phase-s", type=float, default=3600.0)
    parser.add_argument("--drain-timeout", type=float, default=3600.0)
    parser.add_argument("--prefix", default="x", help="the read models' Redis key prefix")
    parser.add_argument("--chart", default="docs/pipeline_lag.png")
    parser.add_argument("--window-orders", type=int, default=100_000,
                        help="orders per window of the batch phase's CPU table")  # fmt: skip
    args = parser.parse_args()
    if args.single_orders is None:
        args.single_orders = max(1, args.orders // 10)
    figures_ = uvloop.run(run(args))  # (the load generator on the loop the services use)
    print(orjson.dumps(figures_).decode(), flush=True)


if __name__ == "__main__":
    main()
