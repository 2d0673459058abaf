"""What every worker process shares: JSON logs, signals, and its operations endpoints.

A worker serves ``/health`` (alive), ``/ready`` (its dependencies answer) and ``/metrics``
(Prometheus, including the consumer loop's lag) on ``EXCHANGE_OPS_PORT`` with the same router as
the APIs, so supervisors and scrapers treat every process alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from common.deployment import require_safe_secrets
from common.health import Probe, kafka_probe
from common.logging import configure_logging
from common.settings import WorkerSettings
from event_store.mariadb import MariaDbEventStore
from event_store.protocol import EventStore
from workers.consumer import ConsumerMetrics, PartitionWorker
from workers.consumer import run as consume

log = logging.getLogger("worker")


@dataclass(slots=True)
class Operations:
    """The worker's metrics registry and readiness probes (served on its ops port)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    probes: dict[str, Probe] = field(default_factory=dict)
    state: Callable[[], dict[str, Any]] | None = None
    """What ``GET /state`` shows (the matching worker: each shard's position and hash)."""


def store_probe(store: EventStore) -> Probe:
    """Readiness of the event store: its last position can be read."""

    async def probe() -> None:
        await store.last_position()

    return probe


Body = Callable[[asyncio.Event, Operations], Awaitable[None]]


async def serve_operations(
    service: str, settings: WorkerSettings, ops: Operations, stop: asyncio.Event
) -> None:
    """The ops endpoints on ``settings.ops_port`` until ``stop``; FastAPI and uvicorn imported
    in a thread first (:mod:`workers.ops_server`), so the worker's start does not wait for them
    (they load while it joins its group and reads its first batch)."""
    server = await asyncio.to_thread(importlib.import_module, "workers.ops_server")
    await server.serve(
        service,
        ops,
        settings.ops_host,
        settings.ops_port,
        settings.dependency_timeout_s,
        stop,
    )


async def run_worker(service: str, settings: WorkerSettings, body: Body) -> None:
    """Run ``body(stop, ops)`` until SIGTERM/SIGINT, serving the ops endpoints beside it (after
    refusing well-known secrets outside the local stacks)."""
    require_safe_secrets(service, settings)
    configure_logging(service, settings.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ops = Operations()
    served: asyncio.Future[None] | None = None
    try:
        work = asyncio.ensure_future(body(stop, ops))
        if settings.ops_port:
            served = asyncio.ensure_future(serve_operations(service, settings, ops, stop))
        await work
    finally:
        stop.set()
        if served is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await served
    log.info("stopped", extra={"service": service})


async def run_store_consumer(
    service: str,
    settings: WorkerSettings,
    make_worker: Callable[[MariaDbEventStore, Operations], PartitionWorker],
    appends_to: tuple[str, ...] | None = None,
    fetch: tuple[int, int] = (1, 500),
) -> None:
    """A worker that consumes Kafka and writes the store: the store and its probes, the
    consumer loop with its metrics, until SIGTERM/SIGINT. ``appends_to``: the prefixes of the
    streams the worker appends to (see :class:`MariaDbEventStore`); ``fetch``: the consumer's
    (``fetch_min_bytes``, ``fetch_wait_ms``)."""

    async def body(stop: asyncio.Event, ops: Operations) -> None:
        store = MariaDbEventStore.from_url(settings.database_url, appends_to=appends_to)
        ops.probes.update(mariadb=store_probe(store), kafka=kafka_probe(settings.kafka_bootstrap))
        worker = make_worker(store, ops)
        metrics = ConsumerMetrics(ops.registry, worker.group)
        try:
            await consume(
                worker,
                settings,
                stop,
                metrics,
                max_records=settings.batch_max,
                fetch_min_bytes=fetch[0],
                fetch_wait_ms=fetch[1],
            )
        finally:
            await store.close()

    await run_worker(service, settings, body)
