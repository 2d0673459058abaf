"""The load generator and the pipeline benchmark's plumbing, at a tiny size on the test stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from benchmarks.pipeline_check import last_position, verdict
from cli.profiles import ROOT
from client import ExchangeClient
from client.loadgen import Driver, LoadConfig, prepare

pytestmark = pytest.mark.integration


async def test_a_short_run_places_cancels_and_measures_both_latencies(
    admin: ExchangeClient,
) -> None:
    start = await last_position(os.environ["EXCHANGE_DATABASE_URL"])
    market = await prepare(admin, users=4, symbols=1)
    config = LoadConfig(orders=60, duration_s=120, concurrency=4, probe_every_s=0.001)

    stats = await Driver(market, config).run()
    await admin.instruments(min_position=await last_position(os.environ["EXCHANGE_DATABASE_URL"]))
    found = await verdict(
        os.environ["EXCHANGE_DATABASE_URL"], os.environ["EXCHANGE_REDIS_URL"], "x", start,
        market.tag, [*stats.acknowledged, 1], market.symbols,  # (1: an id nobody was given)
    )  # fmt: skip

    assert stats.placed == 60 and len(stats.acknowledged) == 60
    assert stats.cancels + stats.cancels_late > 0
    assert len(stats.accept_ms) == stats.requests and stats.e2e_ms
    assert (found.lost_in_store, found.lost_in_read_side, found.doubled) == (1, 1, 0)
    assert found.acknowledged == stats.placed + 1


def _last_json(args: list[str]) -> dict[str, object]:
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    figures: dict[str, object] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return figures


def test_exchange_bench_prints_its_figures_as_the_last_line() -> None:
    figures = _last_json(
        [str(ROOT / ".venv/bin/exchange"), "bench", "--profile", "test", "--orders", "30",
         "--users", "4", "--symbols", "1", "--concurrency", "4", "--batch-size", "5"]
    )  # fmt: skip

    assert figures["orders"] == 30  # 4 workers of 5-order batches stop at 30, not at 45
    assert figures["batch_size"] == 5 and "e2e_p99_ms" in figures


def test_the_pipeline_benchmark_runs_its_phases_and_finds_nothing_lost(tmp_path: Path) -> None:
    chart = tmp_path / "lag.png"
    figures = _last_json(
        [sys.executable, "-m", "benchmarks.pipeline", "--profile", "test", "--orders", "100",
         "--batch-size", "10", "--single-orders", "10", "--e2e-duration", "1", "--users", "4",
         "--symbols", "1", "--concurrency", "2", "--single-concurrency", "4",
         "--chart", str(chart)]
    )  # fmt: skip

    assert (figures["lost"], figures["doubled"], figures["unsettled"]) == (0, 0, 0)
    assert {"orders_per_s", "single_orders_per_s", "e2e_p99_ms", "trades"} <= figures.keys()
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "matching" in figures["processes"]  # type: ignore[operator]
    windows = figures["batch_windows"]
    assert isinstance(windows, list) and windows, "the batch phase has at least one window"
    assert windows[-1]["orders_upto"] >= 100
    assert {"command_api", "mariadb", "total"} <= windows[-1]["cpu_us_per_order"].keys()
    assert {"canary_us", "steal_pct"} <= windows[-1].keys()
    assert figures["host_canary_us"]["samples"] >= 1  # type: ignore[index]
