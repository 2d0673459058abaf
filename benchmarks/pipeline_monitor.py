"""What the pipeline benchmark watches while it runs: each process's CPU and memory (psutil over
the stack's supervisord pids) and each consumer's lag (relay: store positions not yet relayed;
matching, settlement, projector: Kafka messages their group has not committed past), sampled
once a second, the orders placed so far, and the lag chart (matplotlib, PNG).

A process's CPU includes its waited-for children's (Redis's append-only-file rewrites are forked
children, which no supervised pid would show otherwise), and :func:`windows` splits a phase into
windows of orders so a run shows *which* process's cost per order grows, and when.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks.host_canary import TICKS_PER_S, steal_ticks
from common.settings import InfraSettings
from event_store.mariadb import MariaDbEventStore

CONSUMERS: Final = ("relay", "matching", "settlement", "projector")


@dataclass
class ProcessSeries:
    """One supervisord program's samples (CPU % of one core, RSS in MiB), children included."""

    name: str
    processes: list[psutil.Process]
    cpu: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    """Cumulative CPU seconds (user + system) of the processes at each sample."""

    def sample(self) -> None:
        cpu = rss = used = 0.0
        for proc in self.processes:
            try:
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss / 2**20
                times = proc.cpu_times()  # (+ the children it waited for: forks)
                used += times.user + times.system + times.children_user + times.children_system
            except psutil.Error:
                continue  # (restarted or gone: its replacement is not followed)
        self.cpu.append(cpu)
        self.rss_mib.append(rss)
        self.cpu_s.append(used)

    def summary(self) -> dict[str, float]:
        """CPU seconds over the run, mean and peak CPU %, peak RSS (MiB)."""
        busy = self.cpu[1:] or [0.0]  # (the first psutil reading is always 0)
        return {
            "cpu_s": round(self.cpu_s[-1] - self.cpu_s[0], 2) if self.cpu_s else 0.0,
            "cpu_mean_pct": round(sum(busy) / len(busy), 1),
            "cpu_peak_pct": round(max(busy), 1),
            "rss_peak_mib": round(max(self.rss_mib or [0.0]), 1),
        }


def processes_of(pids: dict[str, int]) -> list[ProcessSeries]:
    """A series per program: its process and its children (uvicorn workers, say)."""
    found = []
    for name, pid in sorted(pids.items()):
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in family:
            proc.cpu_percent(None)
        found.append(ProcessSeries(name, family))
    return found


@dataclass
class Monitor:
    """Samples the processes and the lags every ``interval_s`` until stopped."""

    settings: InfraSettings
    pids: dict[str, int]
    interval_s: float = 1.0
    started: float = field(default_factory=time.perf_counter)
    lag: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)
    series: list[ProcessSeries] = field(default_factory=list)
    placed: list[int] = field(default_factory=list)
    """Orders placed so far (by every phase followed) at each sample."""
    stored: list[int] = field(default_factory=list)
    """The store's last position at each sample: a window's events per order, which rise as the
    flow's books fill (more cancels, fills and releases per order) until its steady state."""
    steal: list[int] = field(default_factory=list)
    """The host's steal ticks so far at each sample."""
    canary: list[tuple[float, float]] = field(default_factory=list)
    """(seconds, CPU µs) of each host-canary sample (``benchmarks.host_canary``)."""
    _count: Callable[[], int] = lambda: 0
    _task: asyncio.Future[Any] | None = None

    def follow(self, count: Callable[[], int]) -> None:
        """Count the orders placed with ``count`` (a phase's), after those counted so far."""
        before = self._count()
        self._count = lambda: before + count()

    def mark(self, label: str) -> None:
        """Note the start of a phase (drawn on the chart)."""
        self.marks.append((time.perf_counter() - self.started, label))

    async def __aenter__(self) -> Monitor:
        self.series = processes_of(self.pids)
        self._task = asyncio.gather(self._run(), self._canary())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _canary(self) -> None:
        """The host canary as a child process, one sample every 2 s."""
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.host_canary", "--every", "2",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert child.stdout is not None
        try:
            async for line in child.stdout:
                self.canary.append((time.perf_counter() - self.started, float(line)))
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()

    async def _run(self) -> None:
        settings = self.settings
        store = MariaDbEventStore.from_url(settings.database_url)
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        ends = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        await ends.start()
        try:
            while True:
                for series in self.series:
                    series.sample()
                self.placed.append(self._count())
                self.steal.append(steal_ticks())
                lags, last = await current_lags(store, admin, ends, settings)
                self.stored.append(last)
                self.lag.append((time.perf_counter() - self.started, lags))
                await asyncio.sleep(self.interval_s)
        finally:
            await ends.stop()
            await admin.close()
            await store.close()

    def processes(self) -> dict[str, dict[str, float]]:
        """Each program's CPU and memory summary."""
        return {series.name: series.summary() for series in self.series}


async def current_lags(
    store: MariaDbEventStore,
    admin: AIOKafkaAdminClient,
    ends: AIOKafkaConsumer,
    settings: InfraSettings,
) -> tuple[dict[str, int], int]:
    """Each consumer's backlog now, and the store's last position."""
    relayed = await store.load_checkpoint("relay")  # (first: the last position is read after it)
    last_position = await store.last_position()
    lags = {"relay": max(last_position - relayed, 0)}
    topics = {
        "matching": (settings.orders_topic, settings.orders_partitions),
        "settlement": (settings.settlement_topic, settings.settlement_partitions),
        "projector": (settings.events_topic, settings.events_partitions),
    }
    for group, (topic, count) in topics.items():
        parts = [TopicPartition(topic, p) for p in range(count)]
        last = await ends.end_offsets(parts)
        committed = await admin.list_consumer_group_offsets(group, partitions=parts)
        lags[group] = sum(
            max(last[tp] - (committed[tp].offset if tp in committed else 0), 0) for tp in parts
        )
    return lags, last_position


def windows(monitor: Monitor, phase: str, every: int) -> list[dict[str, Any]]:
    """The phase (from its mark to the next) in windows of ``every`` orders: each window's
    orders/s, stored events per order and each process's CPU µs per order (``total``: all of
    them), so growth shows and whether it follows the events; beside them the host canary's
    mean CPU µs (the same work each time: it rises only when the host slows) and the host's
    steal time (% of one CPU), to tell the two causes apart."""
    times = [t for t, _ in monitor.lag]
    starts = [at for at, label in monitor.marks]
    begin = next((at for at, label in monitor.marks if label == phase), 0.0)
    end = min((at for at in starts if at > begin), default=float("inf"))
    inside = [i for i, t in enumerate(times) if begin <= t <= end and i < len(monitor.placed)]
    found: list[dict[str, Any]] = []
    if not inside:
        return found
    first = inside[0]
    for i in inside[1:]:
        placed = monitor.placed[i] - monitor.placed[first]
        if placed >= every or i == inside[-1]:
            if placed > 0:
                found.append(_window(monitor, first, i, placed))
            first = i
    return found


def _window(monitor: Monitor, first: int, last: int, placed: int) -> dict[str, Any]:
    seconds = monitor.lag[last][0] - monitor.lag[first][0]
    cpu = {
        s.name: round((s.cpu_s[last] - s.cpu_s[first]) * 1e6 / placed, 1)
        for s in monitor.series
        if len(s.cpu_s) > last
    }
    cpu["total"] = round(sum(cpu.values()), 1)
    began, ended = monitor.lag[first][0], monitor.lag[last][0]
    canary = [us for at, us in monitor.canary if began <= at <= ended]
    stolen = monitor.steal[last] - monitor.steal[first] if len(monitor.steal) > last else 0
    stored = monitor.stored[last] - monitor.stored[first] if len(monitor.stored) > last else 0
    return {
        "orders_upto": monitor.placed[last],
        "orders_per_s": round(placed / seconds) if seconds else 0,
        "events_per_order": round(stored / placed, 2),
        "cpu_us_per_order": cpu,
        "canary_us": round(sum(canary) / len(canary)) if canary else None,
        "steal_pct": round(stolen / TICKS_PER_S * 100 / seconds, 1) if seconds else 0.0,
    }


def lag_chart(monitor: Monitor, path: Path, title: str) -> None:
    """Each consumer's lag over time, phases marked, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=110)
    times = [t for t, _ in monitor.lag]
    for consumer in CONSUMERS:
        axes.plot(times, [lags.get(consumer, 0) for _, lags in monitor.lag], label=consumer)
    for at, label in monitor.marks:
        axes.axvline(at, color="grey", linestyle=":", linewidth=1)
        axes.annotate(label, (at, 1), xycoords=("data", "axes fraction"), fontsize=8,
                      rotation=90, va="top", ha="right")  # fmt: skip
    axes.set_xlabel("seconds since the start of the run")
    axes.set_ylabel("backlog (events / messages)")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="upper right")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def lag_summary(monitor: Monitor) -> dict[str, Any]:
    """Each consumer's peak lag."""
    return {c: max((lags.get(c, 0) for _, lags in monitor.lag), default=0) for c in CONSUMERS}


def canary_summary(monitor: Monitor) -> dict[str, float]:
    """The host canary over the run: its samples' count, min, median and max CPU µs."""
    samples = sorted(us for _, us in monitor.canary)
    if not samples:
        return {"samples": 0}
    return {"samples": len(samples), "min": samples[0], "median": samples[len(samples) // 2],
            "max": samples[-1]}  # fmt: skip
