"""Readiness probes: each one really talks to its dependency, with a timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiokafka.client import AIOKafkaClient

from common.settings import InfraSettings

if TYPE_CHECKING:  # (imported by the workers too, which use neither)
    import redis.asyncio as aioredis
    from sqlalchemy.ext.asyncio import AsyncEngine

Probe = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DependencyState:
    """The outcome of one probe."""

    name: str
    ok: bool
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The JSON shape served by ``/ready``."""
        state: dict[str, object] = {
            "status": "up" if self.ok else "down",
            "latency_ms": round(self.latency_ms, 2),
        }
        if self.error is not None:
            state["error"] = self.error
        return state


async def run_probe(name: str, probe: Probe, timeout_s: float) -> DependencyState:
    """Run ``probe`` with a deadline; a timeout or a connection error means *down*."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), timeout_s)
    except TimeoutError:
        return DependencyState(name, False, _ms_since(started), f"no answer in {timeout_s}s")
    except Exception as exc:  # noqa: BLE001 - a probe reports any driver failure as "down"
        return DependencyState(name, False, _ms_since(started), _describe(exc))
    return DependencyState(name, True, _ms_since(started))


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def mariadb_probe(engine: AsyncEngine) -> Probe:
    """``SELECT 1`` on a pooled connection."""
    from sqlalchemy import text  # here: the workers import this module without SQLAlchemy

    async def probe() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return probe


def redis_probe(client: aioredis.Redis) -> Probe:
    """``PING``."""

    async def probe() -> None:
        await client.ping()

    return probe


def kafka_probe(bootstrap: str) -> Probe:
    """Bootstrap a short-lived client: it fetches cluster metadata from a broker."""

    async def probe() -> None:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await client.bootstrap()
        finally:
            await client.close()

    return probe


class Readiness:
    """Runs every dependency probe concurrently and caches the answer briefly."""

    def __init__(self, probes: dict[str, Probe], timeout_s: float, cache_s: float = 0.5) -> None:
        self._probes = probes
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._cached: tuple[float, list[DependencyState]] | None = None

    async def check(self) -> list[DependencyState]:
        """The state of each dependency, probed at most every ``cache_s`` seconds."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self._cache_s:
            return self._cached[1]
        states = list(
            await asyncio.gather(
                *(run_probe(n, p, self._timeout_s) for n, p in self._probes.items())
            )
        )
        self._cached = (now, states)
        return states


def default_probes(
    settings: InfraSettings, engine: AsyncEngine, client: aioredis.Redis
) -> dict[str, Probe]:
    """MariaDB, Kafka and Redis, as every service of the exchange depends on them."""
    return {
        "mariadb": mariadb_probe(engine),
        "kafka": kafka_probe(settings.kafka_bootstrap),
        "redis": redis_probe(client),
    }
