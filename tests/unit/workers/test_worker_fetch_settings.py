"""The matching and settlement workers' Kafka fetch pacing: read from the environment and handed
to their consumer loop (``fetch_min_bytes``, ``fetch_wait_ms``), as the projector's is."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest

from common import gc_tuning
from common.settings import MatchingSettings, SettlementSettings, WorkerSettings
from event_store.mariadb import MariaDbEventStore
from workers import service
from workers.consumer import PartitionWorker
from workers.service import Operations


@pytest.mark.parametrize(
    ("settings_class", "prefix"),
    [(MatchingSettings, "matching"), (SettlementSettings, "settlement")],
)
def test_each_workers_fetch_pacing_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[WorkerSettings], prefix: str
) -> None:
    monkeypatch.setenv(f"EXCHANGE_{prefix.upper()}_FETCH_MIN_BYTES", "65536")
    monkeypatch.setenv(f"EXCHANGE_{prefix.upper()}_FETCH_WAIT_MS", "7")

    settings = settings_class()

    pacing = (
        getattr(settings, f"{prefix}_fetch_min_bytes"),
        getattr(settings, f"{prefix}_fetch_wait_ms"),
    )
    assert pacing == (65536, 7)


class _Store:
    async def close(self) -> None:
        return None


async def test_a_store_consumer_hands_its_fetch_pacing_to_the_consumer_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed: dict[str, Any] = {}

    async def consume(*_args: Any, **kwargs: Any) -> None:
        handed.update(kwargs)

    async def run_worker(
        _service: str,
        _settings: WorkerSettings,
        body: Callable[[asyncio.Event, Operations], Awaitable[None]],
    ) -> None:
        await body(asyncio.Event(), Operations())

    worker = cast(PartitionWorker, SimpleNamespace(group="g"))
    monkeypatch.setattr(service, "consume", consume)
    monkeypatch.setattr(service, "run_worker", run_worker)
    monkeypatch.setattr(MariaDbEventStore, "from_url", lambda *_a, **_k: _Store())

    await service.run_store_consumer(
        "w", WorkerSettings(batch_max=7), lambda _s, _o: worker, fetch=(4096, 12)
    )

    assert handed == {"max_records": 7, "fetch_min_bytes": 4096, "fetch_wait_ms": 12}


@pytest.mark.parametrize(
    ("module", "prefix"),
    [("workers.matching.__main__", "MATCHING"), ("workers.settlement", "SETTLEMENT")],
)
async def test_each_worker_runs_with_its_own_fetch_pacing(
    monkeypatch: pytest.MonkeyPatch, module: str, prefix: str
) -> None:
    monkeypatch.setenv(f"EXCHANGE_{prefix}_FETCH_MIN_BYTES", "2048")
    monkeypatch.setenv(f"EXCHANGE_{prefix}_FETCH_WAIT_MS", "11")
    started: list[tuple[int, int]] = []

    async def run_store_consumer(*args: Any) -> None:
        started.append(args[4])

    monkeypatch.setattr(service, "run_store_consumer", run_store_consumer)
    monkeypatch.setattr(gc_tuning, "tune_gc", lambda *_a: None)

    await importlib.import_module(module)._main()

    assert started == [(2048, 11)]
