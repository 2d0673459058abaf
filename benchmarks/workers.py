"""Worker benchmark: the matching worker, then settlement, draining the standard workload, durable.

    .venv/bin/python -m benchmarks.workers                 # 200,000 commands, seed 1
    .venv/bin/python -m benchmarks.workers --n 50000 --keep
    .venv/bin/python -m benchmarks.workers --profile-worker settlement   # cProfile that worker

Everything runs on the **test stack**'s MariaDB and Kafka (``cli.profiles.PROFILES["test"]``) but
apart from its data: a private database ``exchange_test_bench_<pid>`` (migrated, dropped at the
end unless ``--keep``), private topics ``bench.orders.<pid>`` / ``bench.events.<pid>`` /
``bench.settlement.<pid>`` (4 partitions each, deleted at the end) and private consumer groups
and relay name.

Setup (not timed): the workload file (``../shared/bench/workload.py``, generated into
``.cache/bench/`` when missing) becomes what the command API would have appended
(``benchmarks/workers_setup.py``: the listing, funded users, per order ``FundsReserved`` +
``OrderPlaced``, per cancel ``CancelRequested``), in appends of thousands of events; then
``workers.relay.Relay`` publishes it to the private topics (timed apart, reported as relay
figures). The in-process engine figure (``engine_commands_per_s``) is measured on the same file
with ``benchmarks/matching.py``'s child runner and the compiled build.

(A) ``python -m workers.matching`` as a subprocess (so it loads the mypyc build, built first
with ``cli.engine_build.build()``), timed from its spawn until every orders partition's last
``MatchingInputConsumed.last_position`` covers that partition's last input (the store is
polled every 20 ms). (B) The engine's outputs are relayed (timed apart), then
``python -m workers.settlement`` consumes the settlement topic (its inputs only, keyed by user)
with a fresh group and is timed until every settlement partition's last
``SettlementInputConsumed.last_position`` covers that partition's last input (its last
``OrderFilled`` / ``OrderCancelled`` / ``OrderExpired`` / ``OrderRejected`` of an ``order-*``
stream, partitioned by the order's user): exact, since the worker appends that checkpoint in the
transaction that books the input.

Besides the wall-clock rates (spawn to done: process start, group join, shard load included),
each phase reports a steady rate from the store's own commit times (``recorded_at`` of the first
and last checkpoint rows, the first batch excluded), the time between consecutive batch commits
(p50/p99), CPU seconds of the worker, MariaDB and Kafka over the phase (``/proc``; the stack's
MariaDB and Kafka serve other users too) and the worker's peak RSS (``VmHWM``). Afterwards the
whole store is folded and checked with ``cli.invariants`` (``--no-verify`` skips it), the trade
count is compared with the in-process engine's, and ``TradeSettled`` must be two per trade. The
last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import uvloop
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from benchmarks.matching import measure
from benchmarks.matching_runner import load
from benchmarks.workers_bench import (
    CACHE,
    Bench,
    relay_until,
    seed,
    warm_up,
)
from benchmarks.workers_measure import (
    Db,
    Phase,
    delete_topics,
    in_thread,
    stack_pids,
)
from benchmarks.workers_phases import matching_phase, settlement_phase, settlement_targets, verify
from cli import engine_build
from cli.databases import fresh_database, run_sql
from cli.profiles import PROFILES, ROOT
from cli.stack import ensure_topics
from domain.instrument import Instrument

console = Console(stderr=True)


def engine_figures(workload: str, compiled: Path | None) -> dict[str, Any]:
    """The in-process engine on the same file (``benchmarks/matching.py``'s child runner)."""
    each = measure("ours", "each", workload, compiled, False)
    many = measure("ours", "many", workload, compiled, False)
    return {
        "engine_commands_per_s": round(each["commands_per_s"]),
        "engine_commands_per_cpu_s": round(each["commands_per_cpu_s"]),
        "engine_many_commands_per_s": round(many["commands_per_s"]),
        "engine_trades": each["trades"],
        "engine_build": "mypyc" if compiled else "pure-python",
    }


def print_profile(path: Path | None, worker: str) -> None:
    """The top of a worker's cProfile (own time and cumulative time)."""
    if path is None or not path.exists():
        return
    import pstats

    console.rule(f"cProfile of the {worker} worker ({path})")
    stats = pstats.Stats(str(path), stream=console.file)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)


# --- the whole run ------------------------------------------------------------------------------


def standard_workload(n: int, seed: int) -> str:
    """``.cache/bench/workload-<n>-seed<seed>.jsonl``, generated once with workload.py."""
    target = CACHE / f"workload-{n}-seed{seed}.jsonl"
    if target.exists():
        return str(target)
    generator = ROOT.parent / "shared" / "bench" / "workload.py"
    if not generator.exists():
        raise SystemExit(f"{generator} is missing: pass --workload FILE")
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with console.status(f"generating {target.name}"):
        flags = ["--n", str(n), "--seed", str(seed), "--out", str(partial)]
        subprocess.run([sys.executable, str(generator), *flags], check=True)
    partial.rename(target)
    return str(target)


@contextlib.contextmanager
def progress_bars() -> Iterator[Progress]:
    columns = (
        TextColumn("{task.description:<34}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f} %"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        yield progress


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build, seed, relay, time both workers, verify; return the figures."""
    profile = PROFILES["test"]
    base = make_url(profile.database_url)
    tag = str(os.getpid())
    name = f"{base.database}_bench_{tag}"
    bench = Bench(
        args,
        profile,
        base.set(database=name).render_as_string(hide_password=False),
        f"bench.orders.{tag}",
        f"bench.events.{tag}",
        f"bench.settlement.{tag}",
        f"bench-relay-{tag}",
        stack_pids(profile),
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    symbol, rows = load(args.workload)
    new_orders = sum(1 for r in rows if r["op"] == "new")
    instrument = Instrument.create(
        symbol, maker_fee_bps=args.maker_fee_bps, taker_fee_bps=args.taker_fee_bps
    )

    with console.status("mypyc engine build (cli.engine_build.build)"):
        compiled, note = await asyncio.to_thread(engine_build.build)
    console.print(note)
    with console.status("in-process engine on the same file (compiled build, child process)"):
        figures: dict[str, Any] = await asyncio.to_thread(engine_figures, args.workload, compiled)
    console.print(f"in-process engine: {figures['engine_commands_per_s']:,} commands/s")

    with console.status(f"private database {name} and topics"):
        await asyncio.to_thread(in_thread, lambda: fresh_database(bench.url))
        await ensure_topics(bench.bootstrap, bench.relay_settings())
    with console.status("warming the workers' bytecode cache"):
        await asyncio.to_thread(warm_up, bench)
    db = await Db.open(bench.url)
    problems_found: list[str] = []
    try:
        with progress_bars() as progress:
            plan, setup_s = await seed(bench, rows, instrument, progress)
            relay_in = await relay_until(bench, db, progress, "setup")
            matching, matching_figures = await matching_phase(bench, db, progress, new_orders)
            _, _, trades = await settlement_targets(db)
            if args.matching_only:
                relay_out: dict[str, Any] = {"events": None, "events_per_s": 0}
                settlement: Phase | None = None
                settlement_figures: dict[str, Any] = {}
            else:
                relay_out = await relay_until(bench, db, progress, "outputs")
                settlement, settlement_figures = await settlement_phase(bench, db, progress, trades)
                problems_found = await verify(bench, db, progress, trades)
    finally:
        db.close()
        with contextlib.suppress(Exception):
            await delete_topics(bench.bootstrap, bench.topics)
        if not args.keep:
            sql = f"DROP DATABASE IF EXISTS `{name}`"
            await asyncio.to_thread(in_thread, lambda: run_sql(bench.url, sql))
    for worker in ("matching",) if args.matching_only else ("matching", "settlement"):
        print_profile(bench.command(f"workers.{worker}", worker)[1], worker)
    if figures["engine_trades"] != trades:
        problems_found.append(
            f"the worker made {trades} trades, the in-process engine {figures['engine_trades']}"
        )
    figures = {
        "benchmark": "workers",
        "commands": len(rows),
        "new_orders": new_orders,
        "cancels": plan.cancels,
        "trades": trades,
        **matching_figures,
        **settlement_figures,
        **figures,
        "durability": "innodb_flush_log_at_trx_commit=1 (test stack)",
        "durable_overhead": round(
            figures["engine_commands_per_s"] / matching_figures["matching_inputs_per_s"], 1
        ),
        "setup_events": plan.events,
        "setup_seconds": round(setup_s, 2),
        "relay_setup_events_per_s": relay_in["events_per_s"],
        "relay_outputs_events": relay_out["events"],
        "relay_outputs_events_per_s": relay_out["events_per_s"],
        "fees_bps": [args.maker_fee_bps, args.taker_fee_bps],
        "verified": not problems_found,
        "problems": problems_found[:20],
        "database": name if args.keep else None,
        "load_average": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    show(figures, matching, settlement)
    return figures


def show(figures: dict[str, Any], matching: Phase, settlement: Phase | None) -> None:
    """The per-phase table on stderr."""
    table = Table(title=f"workers: {figures['commands']:,} commands, {figures['trades']:,} trades")
    for column in ("phase", "rate (wall)", "steady", "s", "batches", "p50/p99 ms",
                   "worker CPU s", "MariaDB CPU s", "Kafka CPU s", "peak RSS MiB"):  # fmt: skip
        table.add_column(column, justify="right")
    table.add_row(
        "matching",
        f"{figures['matching_orders_per_s']:,} orders/s",
        f"{figures['matching_steady_orders_per_s'] or 0:,} orders/s",
        f"{matching.seconds:.2f}",
        str(matching.batches),
        f"{matching.batch_p50_ms:.0f} / {matching.batch_p99_ms:.0f}",
        f"{matching.worker_cpu_s:.2f}",
        f"{matching.cpu.get('mariadb', 0):.2f}",
        f"{matching.cpu.get('kafka', 0):.2f}",
        f"{matching.worker_peak_rss_mb:.0f}",
    )
    if settlement is not None:
        _settlement_row(table, figures, settlement)
    console.print(table)
    console.print(
        f"in-process engine {figures['engine_commands_per_s']:,} commands/s"
        f" ({figures['engine_build']}); through the matching worker"
        f" {figures['matching_inputs_per_s']:,} inputs/s"
        f" ({figures['matching_worker_steady_busy']:.0%} busy while steady); relay"
        f" {figures['relay_setup_events_per_s']:,} / {figures['relay_outputs_events_per_s']:,}"
        " events/s (setup / outputs)"
    )
    if figures["problems"]:
        for line in figures["problems"]:
            console.print(f"[red]✗[/] {line}")
    elif settlement is not None:
        console.print("[green]✓[/] trades match the in-process engine; invariants hold")


def _settlement_row(table: Table, figures: dict[str, Any], settlement: Phase) -> None:
    table.add_row(
        "settlement",
        f"{figures['settlement_trades_per_s']:,} trades/s",
        f"{figures['settlement_steady_trades_per_s'] or 0:,} trades/s",
        f"{settlement.seconds:.2f}",
        str(settlement.batches),
        f"{settlement.batch_p50_ms:.0f} / {settlement.batch_p99_ms:.0f}",
        f"{settlement.worker_cpu_s:.2f}",
        f"{settlement.cpu.get('mariadb', 0):.2f}",
        f"{settlement.cpu.get('kafka', 0):.2f}",
        f"{settlement.worker_peak_rss_mb:.0f}",
    )


def main() -> None:
    """Parse the flags, run, print the closing JSON line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200_000, help="commands (default 200,000)")
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    parser.add_argument("--workload", help="a workload.py JSON-lines file (overrides --n/--seed)")
    parser.add_argument("--keep", action="store_true", help="keep the private database")
    parser.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fold the store afterwards and check the invariants (default on)",
    )
    parser.add_argument(
        "--profile-worker",
        action="append",
        default=[],
        choices=["matching", "settlement"],
        help="run that worker under cProfile and print its top functions",
    )
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="start the workers with this environment's bytecode settings (no cache)",
    )
    parser.add_argument(
        "--matching-only",
        action="store_true",
        help="time the matching worker only (no settlement phase, no invariants check)",
    )
    parser.add_argument("--maker-fee-bps", type=int, default=10)
    parser.add_argument("--taker-fee-bps", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per worker phase")
    args = parser.parse_args()
    args.workload = args.workload or standard_workload(args.n, args.seed)
    figures = uvloop.run(run(args))
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")


if __name__ == "__main__":
    main()
