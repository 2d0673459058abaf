"""Worker benchmark: the matching worker, then settlement, draining the standard workload, durable.

    .venv/bin/python -m benchmarks.workers                 # 200,000 commands, seed 1
    .venv/bin/python -m benchmarks.workers --n 50000 --keep
    .venv/bin/python -m benchmarks.workers --profile-worker settlement   # cProfile that worker

Everything runs on the **test stack**'s MariaDB and Kafka (``cli.profiles.PROFILES["test"]``) but
apart from its data: a private database ``exchange_test_bench_<pid>`` (migrated, dropped at the
end unless ``--keep``), private topics ``bench.orders.<pid>`` / ``bench.events.<pid>`` (4
partitions each, deleted at the end) and private consumer groups and relay name.

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
``python -m workers.settlement`` consumes the whole events topic with a fresh group and is timed
until every events partition's last ``SettlementInputConsumed.last_position`` covers that
partition's last settlement input (its last ``OrderFilled`` / ``OrderCancelled`` /
``OrderExpired`` / ``OrderRejected`` of an ``order-*`` stream): exact, since the worker appends
that checkpoint in the transaction that books the input.

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
import bisect
import contextlib
import itertools
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, Final

import orjson
import uvloop
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from benchmarks import workers_setup
from benchmarks.matching import measure
from benchmarks.matching_runner import load
from cli import engine_build
from cli.check import fold_store
from cli.databases import fresh_database, run_sql
from cli.invariants import problems
from cli.profiles import PROFILES, ROOT, Profile
from cli.stack import ensure_topics
from common.settings import InfraSettings, RelaySettings
from domain.instrument import Instrument
from event_store.connection import connect_raw
from event_store.mariadb import MariaDbEventStore
from event_store.outbox import partition_of
from workers.relay import Relay

console = Console(stderr=True)

PARTITIONS: Final = 4
POLL_S: Final = 0.02
IN_FLIGHT_APPENDS: Final = 3
CACHE: Final = ROOT / ".cache" / "bench"
PYCACHE: Final = CACHE / "pycache"
WARM_UP: Final = (
    "import logging\n"
    "from workers.compiled import use_compiled_engine\n"
    "use_compiled_engine(logging.getLogger('warm-up'))\n"
    "import common.health, event_store.mariadb, workers.consumer, workers.service\n"
    "import workers.matching.worker, workers.settlement\n"
)
SETTLED_TYPES: Final = ("OrderFilled", "OrderCancelled", "OrderExpired", "OrderRejected")
CLK_TCK: Final = os.sysconf("SC_CLK_TCK")


# --- processes: CPU and memory from /proc ------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (``VmHWM``), in MiB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def stack_pids(profile: Profile) -> dict[str, int]:
    """The test stack's MariaDB and Kafka processes (the ones found)."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        found["mariadb"] = int((profile.run_dir / "mariadb.pid").read_text().strip())
    kafka_conf = str(profile.run_dir / "kafka.properties").encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if b"kafka.Kafka" in cmdline and kafka_conf in cmdline:
                found["kafka"] = int(entry.name)
    return found


def own_cpu() -> float:
    """CPU seconds of this process (the benchmark's poller, relay, setup)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds of the stack's MariaDB and Kafka (and this process) over an interval."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._start = self._sample()

    def _sample(self) -> dict[str, float]:
        sample = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        sample["benchmark"] = own_cpu()
        return sample

    def used(self) -> dict[str, float]:
        """CPU seconds used since the meter was made, per process."""
        now = self._sample()
        return {name: round(now[name] - self._start[name], 2) for name in now}


# --- the private database and topics ----------------------------------------------------------


def in_thread(call: Callable[[], None]) -> None:
    """Run ``call`` in a thread of its own (Alembic and ``asyncio.run`` need a loop-free one)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(call).result()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    """Delete the private topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


class Db:
    """One autocommit connection to the private database, for polling and counting."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, url: str) -> Db:
        return cls(await connect_raw(url, autocommit=True, connect_timeout_s=5))

    async def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self._conn.cursor() as cur:
            await cur.execute(sql, params)
            found: list[tuple[Any, ...]] = list(await cur.fetchall())
            return found

    async def value(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        found = await self.rows(sql, params)
        return int(found[0][0] or 0) if found else 0

    async def last_consumed(self, stream_id: str) -> int:
        """The ``last_position`` of a worker's newest checkpoint event (0 if none)."""
        return await self.value(
            "SELECT JSON_VALUE(data, '$.last_position') FROM events WHERE stream_id = %s"
            " ORDER BY stream_version DESC LIMIT 1",
            (stream_id,),
        )

    async def checkpoint_rows(self, prefix: str) -> list[Checkpoint]:
        """Every checkpoint event of a worker (``matching-``/``settlement-``), in position order."""
        found = await self.rows(
            "SELECT position, stream_id, recorded_at, data FROM events"
            " WHERE stream_id LIKE %s ORDER BY position",
            (prefix + "%",),
        )
        return [
            Checkpoint(
                int(position),
                int(stream_id.removeprefix(prefix)),
                recorded.replace(tzinfo=UTC).timestamp(),
                orjson.loads(data),
            )
            for position, stream_id, recorded, data in found
        ]

    def close(self) -> None:
        self._conn.close()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One ``MatchingInputConsumed`` / ``SettlementInputConsumed`` row."""

    position: int
    partition: int
    at: float
    """Its ``recorded_at`` (commit-time clock of MariaDB), seconds since the epoch."""
    data: dict[str, Any]


# --- figures ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values`` (0 if empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def batch_intervals_ms(rows: list[Checkpoint]) -> list[float]:
    """Milliseconds between consecutive checkpoint commits (one per batch the worker applied)."""
    times = sorted(row.at for row in rows)
    return [(b - a) * 1000 for a, b in itertools.pairwise(times)]


def new_orders_per_batch(rows: list[Checkpoint], new_positions: dict[int, list[int]]) -> list[int]:
    """New orders each matching batch consumed (positions of ``OrderPlaced`` per partition)."""
    last: dict[int, int] = {}
    counts = []
    for row in rows:
        placed = new_positions.get(row.partition, [])
        end = int(row.data["last_position"])
        start = last.get(row.partition, 0)
        counts.append(bisect.bisect_right(placed, end) - bisect.bisect_right(placed, start))
        last[row.partition] = end
    return counts


@dataclass(slots=True)
class Phase:
    """One timed worker phase, as measured."""

    seconds: float
    startup_s: float
    steady_s: float
    worker_cpu_s: float
    worker_peak_rss_mb: float
    cpu: dict[str, float]
    batches: int
    batch_p50_ms: float
    batch_p99_ms: float
    engine: str = ""


# --- running a worker ---------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on loopback now (for the worker's operations endpoints)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(slots=True)
class Bench:
    """The run's private resources and settings."""

    args: argparse.Namespace
    profile: Profile
    url: str
    orders_topic: str
    events_topic: str
    relay_name: str
    pids: dict[str, int]
    tag: str = field(default_factory=lambda: str(os.getpid()))

    @property
    def bootstrap(self) -> str:
        return self.profile.kafka_bootstrap

    def worker_env(self, **extra: str) -> dict[str, str]:
        """The worker's environment: the test stack's, pointed at the private DB and topics.

        Unless ``--cold-start``, bytecode is cached under ``.cache/bench/pycache`` (this machine
        sets ``PYTHONDONTWRITEBYTECODE=1`` and ``.venv`` holds no ``.pyc``: every start would
        compile the imports again, ~6 CPU-seconds); :func:`warm_up` fills it before the clock.
        """
        env = {**os.environ, **self.profile.service_env()}
        if not self.args.cold_start:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
        env.update(
            EXCHANGE_DATABASE_URL=self.url,
            EXCHANGE_KAFKA_BOOTSTRAP=self.bootstrap,
            EXCHANGE_ORDERS_TOPIC=self.orders_topic,
            EXCHANGE_EVENTS_TOPIC=self.events_topic,
            EXCHANGE_ORDERS_PARTITIONS=str(PARTITIONS),
            EXCHANGE_EVENTS_PARTITIONS=str(PARTITIONS),
            EXCHANGE_OPS_PORT=str(free_port()),
            EXCHANGE_LOG_LEVEL="INFO",
            **extra,
        )
        return env

    def command(self, module: str, worker: str) -> tuple[list[str], Path | None]:
        """The worker's command line (under cProfile when asked) and its profile file."""
        if worker not in self.args.profile_worker:
            return [sys.executable, "-m", module], None
        out = CACHE / f"workers-{self.tag}-{worker}.prof"
        return [sys.executable, "-m", "cProfile", "-o", str(out), "-m", module], out

    def relay_settings(self) -> RelaySettings:
        return RelaySettings(
            database_url=self.url,
            kafka_bootstrap=self.bootstrap,
            orders_topic=self.orders_topic,
            orders_partitions=PARTITIONS,
            events_topic=self.events_topic,
            events_partitions=PARTITIONS,
            relay_name=self.relay_name,
        )


async def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 60.0) -> None:
    """SIGTERM our child, then SIGKILL it if it has not exited within ``grace_s``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(proc.wait, grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        await asyncio.to_thread(proc.wait)


def spawn(command: list[str], env: dict[str, str], log_file: Any) -> subprocess.Popen[bytes]:
    """Start a worker from the repository root, its output (JSON log lines) to ``log_file``."""
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)


def warm_up(bench: Bench) -> None:
    """Import what the workers import once, so their starts find the bytecode cached."""
    if not bench.args.cold_start:
        subprocess.run(
            [sys.executable, "-c", WARM_UP], cwd=ROOT, env=bench.worker_env(), check=True
        )


def log_tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def engine_used(path: Path) -> str:
    """Which engine build the worker's log says it loaded."""
    text = path.read_text(errors="replace")
    if "using the compiled (mypyc) engine" in text:
        return "mypyc"
    return "pure-python" if "pure-Python engine" in text else "unknown"


async def run_worker(
    bench: Bench,
    db: Db,
    progress: Progress,
    name: str,
    env: dict[str, str],
    targets: dict[int, int],
) -> tuple[float, float, float, float, dict[str, float], Path, float]:
    """Spawn a worker; poll its checkpoint streams until they cover ``targets`` (partition →
    last input position). Returns (seconds, spawn wall time, worker CPU s, worker peak RSS MiB,
    CPU of the stack over the phase, its log, worker CPU at its first checkpoint)."""
    module = f"workers.{name}"
    command, _ = bench.command(module, name)
    log_path = CACHE / f"workers-{bench.tag}-{name}.log"
    total = sum(targets.values())
    task = progress.add_task(f"({name}) worker draining", total=total)
    meter = CpuMeter(bench.pids)
    with log_path.open("wb") as log_file:
        spawned_wall = time.time()
        started = time.perf_counter()
        proc = spawn(command, env, log_file)
        first_cpu = -1.0
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{module} exited ({proc.returncode}):\n{log_tail(log_path)}"
                    )
                covered = {p: await db.last_consumed(f"{name}-{p}") for p in targets}
                if first_cpu < 0 and any(covered.values()):
                    first_cpu = cpu_seconds(proc.pid)
                progress.update(task, completed=sum(min(covered[p], targets[p]) for p in targets))
                if all(covered[p] >= targets[p] for p in targets):
                    break
                if time.perf_counter() - started > bench.args.timeout:
                    raise TimeoutError(f"{module} did not drain within {bench.args.timeout} s")
                await asyncio.sleep(POLL_S)
            seconds = time.perf_counter() - started
            worker_cpu = cpu_seconds(proc.pid)
            rss = peak_rss_mb(proc.pid)
            cpu = meter.used()
        finally:
            await stop_process(proc)
    progress.update(task, completed=total)
    return seconds, spawned_wall, worker_cpu, rss, cpu, log_path, max(first_cpu, 0.0)


# --- phases ---------------------------------------------------------------------------------


async def seed(
    bench: Bench, rows: list[dict[str, Any]], instrument: Instrument, progress: Progress
) -> tuple[workers_setup.Plan, float]:
    """Append what the command API would have for the workload (a few appends in flight)."""
    store = MariaDbEventStore.from_url(bench.url)
    plan = workers_setup.Plan(instrument)
    task = progress.add_task("(setup) appending commands", total=len(rows))
    started = time.perf_counter()
    try:
        in_flight: list[asyncio.Future[Any]] = []
        done_commands = 0
        for appends in workers_setup.plan(instrument, rows, time.time_ns(), plan):
            # Tasks start in creation order and each submits its append before yielding, so
            # the store takes them (and assigns positions) in the workload's order.
            in_flight.append(asyncio.ensure_future(store.append(*appends)))
            if len(in_flight) >= IN_FLIGHT_APPENDS:
                await in_flight.pop(0)
            commands = plan.new_orders + plan.cancels
            progress.advance(task, commands - done_commands)
            done_commands = commands
        await asyncio.gather(*in_flight)
    finally:
        await store.close()
    progress.update(task, completed=len(rows))
    return plan, time.perf_counter() - started


async def relay_until(bench: Bench, db: Db, progress: Progress, label: str) -> dict[str, Any]:
    """Run the relay on the private DB/topics until the broker acknowledged the last event."""
    target = await db.value("SELECT COALESCE(MAX(position), 0) FROM events")
    start = await db.value(
        "SELECT position FROM checkpoints WHERE consumer = %s", (bench.relay_name,)
    )
    relay = Relay(bench.relay_settings())
    stop = asyncio.Event()
    task = progress.add_task(f"({label}) relay → Kafka", total=target - start)
    meter = CpuMeter(bench.pids)
    started = time.perf_counter()
    running = asyncio.ensure_future(relay.run(stop))
    try:
        while relay.checkpoint < target:
            if running.done():
                running.result()
                raise RuntimeError("the relay stopped before reaching the last position")
            progress.update(task, completed=max(relay.checkpoint - start, 0))
            await asyncio.sleep(POLL_S)
        seconds = time.perf_counter() - started
    finally:
        stop.set()
        await running
    progress.update(task, completed=target - start)
    events = target - start
    return {
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds),
        "cpu": meter.used(),
    }


async def input_positions(db: Db) -> tuple[dict[int, int], dict[int, list[int]], int]:
    """Per orders partition: last input position and the positions of its ``OrderPlaced``."""
    rows = await db.rows(
        "SELECT position, type, JSON_VALUE(metadata, '$.order_symbol') FROM events"
        " WHERE JSON_VALUE(metadata, '$.order_symbol') IS NOT NULL ORDER BY position"
    )
    last: dict[int, int] = {}
    placed: dict[int, list[int]] = {}
    partition_of_symbol: dict[str, int] = {}
    for position, kind, symbol in rows:
        p = partition_of_symbol.get(symbol)
        if p is None:
            p = partition_of_symbol[symbol] = partition_of(symbol.encode(), PARTITIONS)
        last[p] = int(position)
        if kind == "OrderPlaced":
            placed.setdefault(p, []).append(int(position))
    return last, placed, len(rows)


async def matching_phase(
    bench: Bench, db: Db, progress: Progress, new_orders: int
) -> tuple[Phase, dict[str, Any]]:
    """(A) the matching worker, from spawn until every input is consumed."""
    targets, placed, inputs = await input_positions(db)
    before = await db.value("SELECT COALESCE(MAX(position), 0) FROM events")
    env = bench.worker_env(EXCHANGE_MATCHING_GROUP=f"bench-matching-{bench.tag}")
    seconds, spawned, worker_cpu, rss, cpu, log_path, first_cpu = await run_worker(
        bench, db, progress, "matching", env, targets
    )
    rows = await db.checkpoint_rows("matching-")
    counts = new_orders_per_batch(rows, placed)
    steady_s = rows[-1].at - rows[0].at if len(rows) > 1 else 0.0
    steady_inputs = sum(int(r.data["inputs"]) for r in rows[1:])
    steady_orders = sum(counts[1:])
    intervals = batch_intervals_ms(rows)
    after = await db.value("SELECT COALESCE(MAX(position), 0) FROM events")
    phase = Phase(
        seconds=seconds,
        startup_s=rows[0].at - spawned if rows else 0.0,
        steady_s=steady_s,
        worker_cpu_s=worker_cpu,
        worker_peak_rss_mb=rss,
        cpu=cpu,
        batches=len(rows),
        batch_p50_ms=percentile(intervals, 0.5),
        batch_p99_ms=percentile(intervals, 0.99),
        engine=engine_used(log_path),
    )
    figures = {
        "matching_orders_per_s": round(new_orders / seconds),
        "matching_inputs_per_s": round(inputs / seconds),
        "matching_seconds": round(seconds, 3),
        "matching_steady_orders_per_s": round(steady_orders / steady_s) if steady_s else None,
        "matching_steady_inputs_per_s": round(steady_inputs / steady_s) if steady_s else None,
        "matching_steady_seconds": round(steady_s, 3),
        "matching_startup_s": round(phase.startup_s, 3),
        "matching_inputs": inputs,
        "matching_events_appended": after - before,
        "matching_batches": len(rows),
        "matching_batch_mean_inputs": round(inputs / len(rows)) if rows else 0,
        "matching_batch_p50_ms": round(phase.batch_p50_ms, 1),
        "matching_batch_p99_ms": round(phase.batch_p99_ms, 1),
        "matching_worker_cpu_s": round(worker_cpu, 2),
        "matching_worker_steady_cpu_s": round(worker_cpu - first_cpu, 2),
        "matching_worker_peak_rss_mb": round(rss, 1),
        "matching_cpu_s": cpu,
        "matching_engine_build": phase.engine,
    }
    return phase, figures


async def settlement_targets(db: Db) -> tuple[dict[int, int], int, int]:
    """Per events partition, the position of its last settlement input; inputs; trades."""
    kinds = ", ".join(f"'{kind}'" for kind in SETTLED_TYPES)
    rows = await db.rows(
        "SELECT stream_id, MAX(position), COUNT(*) FROM events"
        f" WHERE stream_id LIKE 'order-%%' AND type IN ({kinds}) GROUP BY stream_id"
    )
    targets: dict[int, int] = {}
    inputs = 0
    for stream_id, position, count in rows:
        p = partition_of(str(stream_id).encode(), PARTITIONS)
        targets[p] = max(targets.get(p, 0), int(position))
        inputs += int(count)
    fills = await db.value("SELECT COUNT(*) FROM events WHERE type = 'OrderFilled'")
    return targets, inputs, fills // 2


async def settlement_phase(
    bench: Bench, db: Db, progress: Progress, trades: int
) -> tuple[Phase, dict[str, Any]]:
    """(B) the settlement worker over the whole events topic, until every input is booked."""
    targets, inputs, _ = await settlement_targets(db)
    topic_events = await db.value("SELECT COALESCE(MAX(position), 0) FROM events")
    env = bench.worker_env(EXCHANGE_SETTLEMENT_GROUP=f"bench-settlement-{bench.tag}")
    seconds, spawned, worker_cpu, rss, cpu, log_path, first_cpu = await run_worker(
        bench, db, progress, "settlement", env, targets
    )
    rows = await db.checkpoint_rows("settlement-")
    steady_s = rows[-1].at - rows[0].at if len(rows) > 1 else 0.0
    after_first = await db.value(
        "SELECT COUNT(*) FROM events WHERE type = 'TradeSettled' AND position > %s",
        (rows[0].position if rows else 0,),
    )
    intervals = batch_intervals_ms(rows)
    phase = Phase(
        seconds=seconds,
        startup_s=rows[0].at - spawned if rows else 0.0,
        steady_s=steady_s,
        worker_cpu_s=worker_cpu,
        worker_peak_rss_mb=rss,
        cpu=cpu,
        batches=len(rows),
        batch_p50_ms=percentile(intervals, 0.5),
        batch_p99_ms=percentile(intervals, 0.99),
    )
    figures = {
        "settlement_trades_per_s": round(trades / seconds),
        "settlement_inputs_per_s": round(inputs / seconds),
        "settlement_topic_events_per_s": round(topic_events / seconds),
        "settlement_seconds": round(seconds, 3),
        "settlement_steady_trades_per_s": round(after_first / 2 / steady_s) if steady_s else None,
        "settlement_steady_seconds": round(steady_s, 3),
        "settlement_first_commit_s": round(phase.startup_s, 3),
        "settlement_inputs": inputs,
        "settlement_topic_events": topic_events,
        "settlement_batches": len(rows),
        "settlement_batch_p50_ms": round(phase.batch_p50_ms, 1),
        "settlement_batch_p99_ms": round(phase.batch_p99_ms, 1),
        "settlement_worker_cpu_s": round(worker_cpu, 2),
        "settlement_worker_steady_cpu_s": round(worker_cpu - first_cpu, 2),
        "settlement_worker_peak_rss_mb": round(rss, 1),
        "settlement_cpu_s": cpu,
    }
    del log_path
    return phase, figures


async def verify(bench: Bench, db: Db, progress: Progress, trades: int) -> list[str]:
    """The invariants of ``exchange check invariants`` on the private store, drained."""
    found = []
    settled = await db.value("SELECT COUNT(*) FROM events WHERE type = 'TradeSettled'")
    if settled != 2 * trades:
        found.append(f"{settled} TradeSettled for {trades} trades (expected {2 * trades})")
    if not bench.args.verify:
        return found
    store = MariaDbEventStore.from_url(bench.url)
    try:
        fold = await fold_store(store, progress)
    finally:
        await store.close()
    return found + problems(fold, drained=True)


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
        await ensure_topics(
            bench.bootstrap,
            InfraSettings(
                orders_topic=bench.orders_topic,
                orders_partitions=PARTITIONS,
                events_topic=bench.events_topic,
                events_partitions=PARTITIONS,
            ),
        )
    with console.status("warming the workers' bytecode cache"):
        await asyncio.to_thread(warm_up, bench)
    db = await Db.open(bench.url)
    problems_found: list[str] = []
    try:
        with progress_bars() as progress:
            plan, setup_s = await seed(bench, rows, instrument, progress)
            relay_in = await relay_until(bench, db, progress, "setup")
            matching, matching_figures = await matching_phase(bench, db, progress, new_orders)
            relay_out = await relay_until(bench, db, progress, "outputs")
            _, _, trades = await settlement_targets(db)
            settlement, settlement_figures = await settlement_phase(bench, db, progress, trades)
            problems_found = await verify(bench, db, progress, trades)
    finally:
        db.close()
        with contextlib.suppress(Exception):
            await delete_topics(bench.bootstrap, [bench.orders_topic, bench.events_topic])
        if not args.keep:
            sql = f"DROP DATABASE IF EXISTS `{name}`"
            await asyncio.to_thread(in_thread, lambda: run_sql(bench.url, sql))
    for worker in ("matching", "settlement"):
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


def show(figures: dict[str, Any], matching: Phase, settlement: Phase) -> None:
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
    console.print(table)
    console.print(
        f"in-process engine {figures['engine_commands_per_s']:,} commands/s"
        f" ({figures['engine_build']}); through the matching worker"
        f" {figures['matching_inputs_per_s']:,} inputs/s; relay"
        f" {figures['relay_setup_events_per_s']:,} / {figures['relay_outputs_events_per_s']:,}"
        " events/s (setup / outputs)"
    )
    if figures["problems"]:
        for line in figures["problems"]:
            console.print(f"[red]✗[/] {line}")
    else:
        console.print("[green]✓[/] trades match the in-process engine; invariants hold")


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
    parser.add_argument("--maker-fee-bps", type=int, default=10)
    parser.add_argument("--taker-fee-bps", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per worker phase")
    args = parser.parse_args()
    args.workload = args.workload or standard_workload(args.n, args.seed)
    figures = uvloop.run(run(args))
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")


if __name__ == "__main__":
    main()
