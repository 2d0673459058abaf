"""Settlement back to back: one prepared store, the settlement phase of ``benchmarks.workers`` run
again and again on fresh copies of it, alternating between source trees.

    .venv/bin/python -m benchmarks.settlement_ab --tree /tmp/before --tree . --runs 3
    .venv/bin/python -m benchmarks.settlement_ab --tree . --runs 1 --py-spy   # + a flame profile

Why: on a shared machine two ``benchmarks.workers`` runs minutes apart differ by more than a
change to the settlement worker does, and each spends most of its time on the setup and the
matching phase. Here the setup (the standard workload seeded, relayed, matched by the matching
worker, its outputs relayed: as ``benchmarks.workers``) runs once; each run then copies that
database (``CREATE TABLE ... LIKE`` + ``INSERT ... SELECT``, untimed), starts
``python -m workers.settlement`` from one of the ``--tree`` directories (a checkout or a
``git archive`` of another commit) with a fresh consumer group on the same settlement topic, and
times it as ``benchmarks.workers`` does (spawn to done, steady, CPU of the worker, MariaDB and
Kafka), adding the MariaDB status counters' deltas over the phase (``SHOW GLOBAL STATUS``: rows
read and inserted, statements, bytes, redo log). The trees alternate within each round, so a
change in the machine's load hits both alike. ``--verify`` checks ``cli.invariants`` after each
run; one JSON line per run on stdout. ``--keep`` keeps the prepared store and topics for later
invocations (``--reuse <tag>``; drop them with a last run without ``--keep``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import orjson
import uvloop
from rich.console import Console
from sqlalchemy.engine import make_url

from benchmarks.matching_runner import load
from benchmarks.workers import progress_bars, standard_workload
from benchmarks.workers_bench import CACHE, Bench, relay_until, seed, warm_up
from benchmarks.workers_measure import Db, delete_topics, in_thread, stack_pids
from benchmarks.workers_phases import matching_phase, settlement_phase, verify
from cli import engine_build
from cli.databases import fresh_database, run_sql
from cli.profiles import PROFILES
from cli.stack import ensure_topics
from domain.instrument import Instrument
from event_store.connection import connect_raw

console = Console(stderr=True)

STATUS: Final = (
    "Com_select", "Com_insert", "Com_commit", "Questions", "Bytes_received", "Bytes_sent",
    "Innodb_rows_read", "Innodb_rows_inserted", "Innodb_os_log_written", "Innodb_data_written",
    "Handler_read_key", "Handler_read_next",
)  # fmt: skip
"""MariaDB's global counters whose deltas a run reports (the stack's other users add a little)."""


async def status(url: str) -> dict[str, int]:
    """The :data:`STATUS` counters of the server of ``url`` now."""
    conn = await connect_raw(url, autocommit=True)
    try:
        async with conn.cursor() as cur:
            names = ", ".join(f"'{name}'" for name in STATUS)
            await cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})")
            return {str(name): int(value) for name, value in await cur.fetchall()}
    finally:
        conn.close()


async def copy_database(url: str, source: str, target: str) -> None:
    """``target`` as a copy of ``source`` (tables, rows and the migration state)."""
    conn = await connect_raw(make_url(url).set(database=""), autocommit=True)
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{target}`")
            await cur.execute(
                f"CREATE DATABASE `{target}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
            await cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
                " AND table_type = 'BASE TABLE'",
                (source,),
            )
            for (table,) in await cur.fetchall():
                await cur.execute(f"CREATE TABLE `{target}`.`{table}` LIKE `{source}`.`{table}`")
                await cur.execute(
                    f"INSERT INTO `{target}`.`{table}` SELECT * FROM `{source}`.`{table}`"
                )
    finally:
        conn.close()


async def prepare(bench: Bench, progress: Any) -> None:
    """The store as ``benchmarks.workers`` has it before its settlement phase."""
    args = bench.args
    symbol, rows = load(args.workload)
    new_orders = sum(1 for r in rows if r["op"] == "new")
    instrument = Instrument.create(symbol, maker_fee_bps=10, taker_fee_bps=20)
    await asyncio.to_thread(engine_build.build)
    await asyncio.to_thread(in_thread, lambda: fresh_database(bench.url))
    await ensure_topics(bench.bootstrap, bench.relay_settings())
    db = await Db.open(bench.url)
    try:
        await seed(bench, rows, instrument, progress)
        await relay_until(bench, db, progress, "setup")
        await matching_phase(bench, db, progress, new_orders)
        await relay_until(bench, db, progress, "outputs")
    finally:
        db.close()


def py_spy(out: Path, started: float) -> asyncio.Task[None]:
    """Record the settlement worker (our child spawned after ``started``) with py-spy."""

    async def watch() -> None:
        pid = None
        while pid is None:
            await asyncio.sleep(0.01)
            pid = _child("workers.settlement")
        proc = await asyncio.create_subprocess_exec(
            ".venv/bin/py-spy", "record", "-p", str(pid), "-r", "250", "-f", "raw",
            "-o", str(out), "--nonblocking",
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        await proc.wait()

    return asyncio.ensure_future(watch())


def _child(module: str) -> int | None:
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if stat[1] == me and module.encode() in (entry / "cmdline").read_bytes():
                return int(entry.name)
    return None


async def one_run(
    bench: Bench, template: str, tree: Path, label: str, progress: Any
) -> dict[str, Any]:
    """One settlement phase from ``tree`` on a fresh copy of ``template``."""
    base = make_url(bench.url)
    name = f"{template}_{label}"
    await copy_database(bench.url, template, name)
    run = replace(bench, url=base.set(database=name).render_as_string(hide_password=False))
    run.tag, run.root = f"{bench.tag}-{label}", tree
    db = await Db.open(run.url)
    spy = py_spy(CACHE / f"settlement-{label}.pyspy", time.time()) if bench.args.py_spy else None
    try:
        trades = await db.value("SELECT COUNT(*) FROM events WHERE type = 'OrderFilled'") // 2
        load_before = os.getloadavg()[0]
        before = await status(run.url)
        _, figures = await settlement_phase(run, db, progress, trades)
        after = await status(run.url)
        problems = await verify(run, db, progress, trades)
    finally:
        db.close()
        if spy is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(spy, 30)
        await asyncio.to_thread(in_thread, lambda: run_sql(run.url, f"DROP DATABASE `{name}`"))
    us = 1e6 / trades
    cpu = figures["settlement_cpu_s"]
    return {
        "tree": str(tree),
        "label": label,
        "trades": trades,
        **figures,
        "worker_cpu_us_per_trade": round(figures["settlement_worker_cpu_s"] * us, 1),
        "worker_steady_cpu_us_per_trade": round(figures["settlement_worker_steady_cpu_s"] * us, 1),
        "mariadb_cpu_us_per_trade": round(cpu.get("mariadb", 0) * us, 1),
        "mariadb_status_per_trade": {k: round((after[k] - before[k]) / trades, 2) for k in after},
        "problems": problems[:10],
        "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    profile = PROFILES["test"]
    tag = args.reuse or str(os.getpid())
    template = f"{make_url(profile.database_url).database}_sab_{tag}"
    url = make_url(profile.database_url).set(database=template)
    bench = Bench(
        args, profile, url.render_as_string(hide_password=False), f"bench.orders.{tag}",
        f"bench.events.{tag}", f"bench.settlement.{tag}", f"bench-relay-{tag}",
        stack_pids(profile),
    )  # fmt: skip
    trees: list[Path] = args.trees
    results: list[dict[str, Any]] = []
    try:
        for tree in trees:
            await asyncio.to_thread(warm_up, replace(bench, root=tree))
        with progress_bars() as progress:
            if not args.reuse:
                await prepare(bench, progress)
            for round_ in range(args.runs):
                for index, tree in enumerate(trees):
                    result = await one_run(bench, template, tree, f"{round_}{index}", progress)
                    results.append(result)
                    sys.stdout.write(orjson.dumps(result).decode() + "\n")
                    sys.stdout.flush()
    finally:
        if args.keep:
            console.print(f"kept the prepared store and topics: --reuse {tag}")
        else:
            with contextlib.suppress(Exception):
                await delete_topics(bench.bootstrap, bench.topics)
            sql = f"DROP DATABASE IF EXISTS `{template}`"
            await asyncio.to_thread(in_thread, lambda: run_sql(bench.url, sql))
    return results


def main() -> None:
    """Parse the flags, run, print a line per run and a summary."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", action="append", required=True, help="a source tree to run")
    parser.add_argument("--runs", type=int, default=3, help="rounds (each runs every tree)")
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verify", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--py-spy", action="store_true", help="py-spy record each run (raw)")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep", action="store_true", help="keep the prepared store and topics")
    parser.add_argument("--reuse", metavar="TAG", help="run on the store and topics kept by TAG")
    args = parser.parse_args()
    args.workload = standard_workload(args.n, args.seed)
    args.trees = [Path(t).resolve() for t in args.tree]
    args.cold_start, args.profile_worker = False, []
    for result in uvloop.run(run(args)):
        console.print(
            f"{result['label']} {result['tree']}: {result['settlement_trades_per_s']:,} trades/s"
            f" (steady {result['settlement_steady_trades_per_s']:,}), first commit"
            f" {result['settlement_first_commit_s']} s, worker {result['worker_cpu_us_per_trade']}"
            f" us/trade (steady {result['worker_steady_cpu_us_per_trade']}), MariaDB"
            f" {result['mariadb_cpu_us_per_trade']} us/trade, load {result['load_1min']}"
        )


if __name__ == "__main__":
    main()
