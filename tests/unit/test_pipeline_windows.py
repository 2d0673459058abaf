"""The pipeline benchmark's windows: each reports the events stored per order beside its CPU.

The flow's books fill during a run (cancels, fills and releases per order rise until a steady
state), so a window's CPU per order is read against how many events each of its orders made.
"""

from __future__ import annotations

from types import SimpleNamespace

from benchmarks.pipeline_monitor import Monitor, ProcessSeries, windows


def _monitor() -> Monitor:
    monitor = Monitor(settings=SimpleNamespace(), pids={}, started=0.0)  # type: ignore[arg-type]
    monitor.marks = [(0.0, "batches"), (10.0, "single POSTs")]
    monitor.lag = [(float(t), {}) for t in (0, 2, 4, 6, 12)]
    monitor.placed = [0, 1_000, 2_000, 3_000, 3_500]
    monitor.stored = [100, 5_300, 10_500, 16_900, 20_000]
    monitor.steal = [0, 0, 0, 0, 0]
    api = ProcessSeries("command_api", [])
    api.cpu_s = [0.0, 0.1, 0.2, 0.35, 0.4]
    monitor.series = [api]
    return monitor


def test_each_window_reports_its_stored_events_per_order() -> None:
    found = windows(_monitor(), "batches", every=1_000)

    assert [w["orders_upto"] for w in found] == [1_000, 2_000, 3_000]
    assert [w["events_per_order"] for w in found] == [5.2, 5.2, 6.4]
    assert [w["cpu_us_per_order"]["command_api"] for w in found] == [100.0, 100.0, 150.0]
    assert [w["orders_per_s"] for w in found] == [500, 500, 500]
