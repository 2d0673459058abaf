"""Running one worker of the workers benchmark: its private environment, its process, and
the untimed setup around it (seeding the store, relaying to the private topics)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rich.progress import Progress

from benchmarks import workers_setup
from benchmarks.workers_measure import CpuMeter, Db, cpu_seconds, peak_rss_mb
from cli.profiles import ROOT, Profile
from common.settings import RelaySettings
from domain.instrument import Instrument
from event_store.mariadb import MariaDbEventStore
from workers.relay import Relay

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
    "import importlib, importlib.util\n"
    "if importlib.util.find_spec('workers.ops_server'):\n"  # (not in trees before it)
    "    importlib.import_module('workers.ops_server')\n"
    "import workers.matching.worker, workers.settlement\n"
    "if importlib.util.find_spec('workers.settlement_worker'):\n"  # (not in trees before it)
    "    importlib.import_module('workers.settlement_worker')\n"
)


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
    settlement_topic: str
    relay_name: str
    pids: dict[str, int]
    tag: str = field(default_factory=lambda: str(os.getpid()))
    root: Path = ROOT
    """The source tree the workers run from (``benchmarks.settlement_ab`` runs other trees)."""

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
            EXCHANGE_SETTLEMENT_TOPIC=self.settlement_topic,
            EXCHANGE_ORDERS_PARTITIONS=str(PARTITIONS),
            EXCHANGE_EVENTS_PARTITIONS=str(PARTITIONS),
            EXCHANGE_SETTLEMENT_PARTITIONS=str(PARTITIONS),
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
            settlement_topic=self.settlement_topic,
            settlement_partitions=PARTITIONS,
            relay_name=self.relay_name,
        )

    @property
    def topics(self) -> list[str]:
        """The run's private topics."""
        return [self.orders_topic, self.events_topic, self.settlement_topic]


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


def spawn(
    command: list[str], env: dict[str, str], log_file: Any, root: Path = ROOT
) -> subprocess.Popen[bytes]:
    """Start a worker from the source tree ``root``, its output (JSON log lines) to ``log_file``."""
    return subprocess.Popen(command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT)


def warm_up(bench: Bench) -> None:
    """Import what the workers import once, so their starts find the bytecode cached."""
    if not bench.args.cold_start:
        subprocess.run(
            [sys.executable, "-c", WARM_UP], cwd=bench.root, env=bench.worker_env(), check=True
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
        proc = spawn(command, env, log_file, bench.root)
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
