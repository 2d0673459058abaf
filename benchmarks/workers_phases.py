"""The two timed phases of the workers benchmark, and the check of the drained store."""

from __future__ import annotations

from typing import Any

from rich.progress import Progress

from benchmarks.workers_bench import PARTITIONS, Bench, engine_used, run_worker
from benchmarks.workers_measure import (
    Checkpoint,
    Db,
    Phase,
    batch_intervals_ms,
    new_orders_per_batch,
    percentile,
)
from cli.check import fold_store
from cli.invariants import problems
from event_store.mariadb import MariaDbEventStore
from event_store.outbox import SETTLEMENT_INPUTS, partition_of


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


async def timed_worker(
    bench: Bench,
    db: Db,
    progress: Progress,
    name: str,
    env: dict[str, str],
    targets: dict[int, int],
) -> tuple[Phase, list[Checkpoint], float]:
    """Run worker ``name`` until ``targets`` are covered; its phase, its checkpoint rows (one
    per batch) and its CPU seconds after the first batch."""
    seconds, spawned, worker_cpu, rss, cpu, log_path, first_cpu = await run_worker(
        bench, db, progress, name, env, targets
    )
    rows = await db.checkpoint_rows(f"{name}-")
    intervals = batch_intervals_ms(rows)
    phase = Phase(
        seconds=seconds,
        startup_s=rows[0].at - spawned if rows else 0.0,
        steady_s=rows[-1].at - rows[0].at if len(rows) > 1 else 0.0,
        worker_cpu_s=worker_cpu,
        worker_peak_rss_mb=rss,
        cpu=cpu,
        batches=len(rows),
        batch_p50_ms=percentile(intervals, 0.5),
        batch_p99_ms=percentile(intervals, 0.99),
        engine=engine_used(log_path) if name == "matching" else "",
    )
    return phase, rows, worker_cpu - first_cpu


def phase_figures(name: str, phase: Phase, steady_cpu_s: float) -> dict[str, Any]:
    """The figures every worker phase reports, under ``<name>_``."""
    return {
        f"{name}_seconds": round(phase.seconds, 3),
        f"{name}_steady_seconds": round(phase.steady_s, 3),
        f"{name}_batches": phase.batches,
        f"{name}_batch_p50_ms": round(phase.batch_p50_ms, 1),
        f"{name}_batch_p99_ms": round(phase.batch_p99_ms, 1),
        f"{name}_worker_cpu_s": round(phase.worker_cpu_s, 2),
        f"{name}_worker_steady_cpu_s": round(steady_cpu_s, 2),
        f"{name}_worker_peak_rss_mb": round(phase.worker_peak_rss_mb, 1),
        f"{name}_cpu_s": phase.cpu,
    }


async def matching_phase(
    bench: Bench, db: Db, progress: Progress, new_orders: int
) -> tuple[Phase, dict[str, Any]]:
    """(A) the matching worker, from spawn until every input is consumed."""
    targets, placed, inputs = await input_positions(db)
    before = await db.value("SELECT COALESCE(MAX(position), 0) FROM events")
    env = bench.worker_env(EXCHANGE_MATCHING_GROUP=f"bench-matching-{bench.tag}")
    phase, rows, steady_cpu = await timed_worker(bench, db, progress, "matching", env, targets)
    counts = new_orders_per_batch(rows, placed)
    steady_s = phase.steady_s
    steady_inputs = sum(int(r.data["inputs"]) for r in rows[1:])
    steady_orders = sum(counts[1:])
    after = await db.value("SELECT COALESCE(MAX(position), 0) FROM events")
    figures = {
        "matching_orders_per_s": round(new_orders / phase.seconds),
        "matching_inputs_per_s": round(inputs / phase.seconds),
        "matching_steady_orders_per_s": round(steady_orders / steady_s) if steady_s else None,
        "matching_steady_inputs_per_s": round(steady_inputs / steady_s) if steady_s else None,
        "matching_startup_s": round(phase.startup_s, 3),
        "matching_inputs": inputs,
        "matching_events_appended": after - before,
        "matching_batch_mean_inputs": round(inputs / len(rows)) if rows else 0,
        **phase_figures("matching", phase, steady_cpu),
        "matching_engine_build": phase.engine,
        # CPU per input, and the share of the steady time the worker was on the CPU (the
        # rest it waited: on its commits, or on Kafka)
        "matching_worker_cpu_us_per_input": round(phase.worker_cpu_s / inputs * 1e6, 1),
        "matching_mariadb_cpu_us_per_input": round(phase.cpu.get("mariadb", 0) / inputs * 1e6, 1),
        "matching_worker_steady_busy": round(steady_cpu / steady_s, 2) if steady_s else None,
    }
    return phase, figures


async def settlement_targets(db: Db) -> tuple[dict[int, int], int, int]:
    """Per settlement partition (keyed by the order's user, as the relay routes), the position
    of its last settlement input; inputs; trades."""
    kinds = ", ".join(f"'{kind}'" for kind in SETTLEMENT_INPUTS)
    rows = await db.rows(
        "SELECT JSON_VALUE(data, '$.user_id') AS user_id, MAX(position), COUNT(*) FROM events"
        f" WHERE stream_id LIKE 'order-%%' AND type IN ({kinds}) GROUP BY user_id"
    )
    targets: dict[int, int] = {}
    inputs = 0
    for user_id, position, count in rows:
        p = partition_of(str(user_id).encode(), PARTITIONS)
        targets[p] = max(targets.get(p, 0), int(position))
        inputs += int(count)
    fills = await db.value("SELECT COUNT(*) FROM events WHERE type = 'OrderFilled'")
    return targets, inputs, fills // 2


async def settlement_phase(
    bench: Bench, db: Db, progress: Progress, trades: int
) -> tuple[Phase, dict[str, Any]]:
    """(B) the settlement worker over the settlement topic, until every input is booked."""
    targets, inputs, _ = await settlement_targets(db)
    topic_events = inputs  # (the relay puts settlement's inputs only on its topic)
    env = bench.worker_env(EXCHANGE_SETTLEMENT_GROUP=f"bench-settlement-{bench.tag}")
    phase, rows, steady_cpu = await timed_worker(bench, db, progress, "settlement", env, targets)
    steady_s = phase.steady_s
    after_first = await db.value(
        "SELECT COUNT(*) FROM events WHERE type = 'TradeSettled' AND position > %s",
        (rows[0].position if rows else 0,),
    )
    figures = {
        "settlement_trades_per_s": round(trades / phase.seconds),
        "settlement_inputs_per_s": round(inputs / phase.seconds),
        "settlement_topic_events_per_s": round(topic_events / phase.seconds),
        "settlement_steady_trades_per_s": round(after_first / 2 / steady_s) if steady_s else None,
        "settlement_first_commit_s": round(phase.startup_s, 3),
        "settlement_inputs": inputs,
        "settlement_topic_events": topic_events,
        **phase_figures("settlement", phase, steady_cpu),
    }
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
