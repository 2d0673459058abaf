"""The pipeline benchmark counts each phase's trades after its monitor stopped sampling.

The count scans every event of the phase with ``JSON_VALUE``: while the monitor sampled, that
scan was charged to the batch phase's last window and the run's MariaDB CPU per order.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest

from benchmarks import pipeline


class _Monitor:
    """Stands in for the sampling monitor: records whether it is sampling."""

    def __init__(self) -> None:
        self.settings = SimpleNamespace(database_url="mysql+asyncmy://fake/db")
        self.sampling = True

    def mark(self, label: str) -> None:
        pass

    def follow(self, count: Any) -> None:
        pass


class _Driver:
    def __init__(self, market: Any, config: Any, flow: Any) -> None:
        self.stats = SimpleNamespace(placed=1000, error_samples=[])

    async def run(self) -> Any:
        return self.stats


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {"counted_while_sampling": [], "positions": iter([10, 60])}
    monitor = _Monitor()

    async def last_position(url: str) -> int:
        return int(next(seen["positions"]))

    async def trades_between(url: str, after: int, upto: int) -> int:
        seen["counted_while_sampling"].append(monitor.sampling)
        return upto - after

    async def drained(settings: Any, timeout_s: float) -> float:
        return time.perf_counter() + 2.0

    monkeypatch.setattr(pipeline, "Driver", _Driver)
    monkeypatch.setattr(pipeline, "Flow", lambda *a, **k: None)
    monkeypatch.setattr(pipeline, "last_position", last_position)
    monkeypatch.setattr(pipeline, "trades_between", trades_between)
    monkeypatch.setattr(pipeline, "drained", drained)
    monkeypatch.setattr(pipeline, "figures", lambda stats, config: {"orders": stats.placed})
    seen["monitor"] = monitor
    return seen


def test_a_phase_leaves_its_trade_count_until_the_monitor_stopped(fakes: dict[str, Any]) -> None:
    monitor = fakes["monitor"]
    market = SimpleNamespace(symbols=["A"], users=[1], tag="t")
    config = SimpleNamespace(seed=1, batch_size=100)
    args = SimpleNamespace(max_open=4, stale_ticks=3, drain_timeout=1.0)

    async def scenario() -> dict[str, Any]:
        found = await pipeline.phase(market, config, "batches", monitor, args)  # type: ignore[arg-type]
        monitor.sampling = False
        await pipeline.count_trades("mysql+asyncmy://fake/db", [found])
        return found

    found = asyncio.run(scenario())

    assert fakes["counted_while_sampling"] == [False]
    assert found["figures"]["trades"] == 50
    assert found["figures"]["trades_per_s"] == round(50 / found["span_s"])
