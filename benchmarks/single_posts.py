"""Single POSTs through the running stack, and what each process spends on one order.

    EXCHANGE_PORT_OFFSET=<n> .venv/bin/python -m benchmarks.single_posts --orders 3000

The pipeline benchmark's single phase alone (``client.loadgen``, the standard flow with its
cancels, ``client_order_id`` on every order, fresh users and symbols): ``--orders`` single POSTs
flat out from ``--concurrency`` tasks, then the wait until every consumer drained. Each stack
process's CPU (user + system, children included) and the load generator's own are read before
and after, so the figure that matters on a shared machine, CPU-µs per order per process, does
not depend on what the other stacks were doing. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import orjson
import psutil
import uvloop
from rich.console import Console

from benchmarks.pipeline import SINGLE_IN_FLIGHT, _settings, drained
from cli.bench import HTTP_CLIENTS, admin_client, figures, table
from cli.profiles import PROFILES
from cli.supervisor import Supervisor
from client.loadgen import Driver, LoadConfig, prepare
from client.workload import Flow

console = Console(stderr=True)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each program and its children, and by this
    process (``loadgen``)."""
    used: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        total = 0.0
        for proc in family:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        used[name] = total
    own = os.times()
    used["loadgen"] = own.user + own.system
    return used


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Register the market, send the single POSTs, wait for the drain; the figures."""
    profile = PROFILES[args.profile]
    settings = _settings(profile)
    load_before = os.getloadavg()
    connections = args.concurrency * 2 + 64
    async with admin_client(profile, "direct", connections, http=args.http) as admin:
        market = await prepare(admin, args.users, args.symbols)
        pids = Supervisor(profile).pids()
        config = LoadConfig(
            args.orders, args.max_s, 0.0, args.concurrency, 1, args.probe_every, args.seed
        )
        flow = Flow(market.symbols, len(market.users), args.seed, 1, tag=f"{market.tag}s")
        before = cpu_seconds(pids)
        started = time.perf_counter()
        stats = await Driver(market, config, flow).run()
        ended = await drained(settings, args.drain_timeout)
        after = cpu_seconds(pids)
    shown = figures(stats, config)
    shown["sustained_orders_per_s"] = round(stats.placed / (ended - started))
    console.print(table(shown, "single POSTs"))
    per_order = {
        name: round((after[name] - before[name]) * 1e6 / max(1, stats.placed))
        for name in sorted(after, key=lambda n: before.get(n, 0.0) - after[n])
        if name in before
    }
    return {
        "benchmark": "single_posts",
        "http": args.http,
        **shown,
        "cpu_us_per_order": per_order,
        "cpu_us_per_order_total": sum(per_order.values()),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    """Parse the options, run, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="test", choices=sorted(PROFILES))
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=SINGLE_IN_FLIGHT)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--probe-every", type=float, default=0.2)
    parser.add_argument("--max-s", type=float, default=600.0)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--http", default="raw", choices=HTTP_CLIENTS)
    args = parser.parse_args()
    print(orjson.dumps(uvloop.run(run(args))).decode(), flush=True)


if __name__ == "__main__":
    main()
