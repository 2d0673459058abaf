"""The workers benchmark's measurements: CPU and memory from ``/proc``, the private database
and topics, checkpoint rows and the figures made of them (``benchmarks.workers``)."""

from __future__ import annotations

import bisect
import contextlib
import itertools
import os
import resource
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, Final

import orjson
from aiokafka.admin import AIOKafkaAdminClient

from cli.profiles import Profile
from event_store.connection import connect_raw

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
