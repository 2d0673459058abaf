"""Matching-engine benchmark: our engine against the ``matching-engine`` PyPI package, same run.

    python benchmarks/matching.py --workload /tmp/w1.jsonl      # after:
    python ../shared/bench/workload.py --n 1000000 --seed 1 --out /tmp/w1.jsonl

Every measurement runs in a fresh child process (``benchmarks/matching_runner.py``) with the same
interpreter, engines interleaved run by run. Both engines are timed the same way: the file is
parsed before the clock; inside the timed loop each dict becomes the engine's command object, GC
on, one ``process()`` call per command. Reported: median commands/s over ``--runs`` (wall clock,
and per CPU second of the child, which is steadier on a shared machine), per-command
p50/p99 latency (a separate run with a timer around each ``process()`` call), the ratio, trades
(cross-check: 334,062 on the 1M/seed-1 file), and RSS growth. Extra figures: our
``process_many`` fed a generator of freshly built commands, optionally prebuilt commands with
GC off (``--gc-off``, how the peer's README measures) and a mypyc build (``--compiled``). The
last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from matching_mypyc import REPO, build  # noqa: E402

RUNNER = HERE / "matching_runner.py"


def measure(engine: str, mode: str, workload: str, extra_path: Path | None, gc_off: bool) -> Any:
    """Run one child measurement and return its JSON result."""
    paths = [str(extra_path)] if extra_path else []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*paths, str(REPO)]))
    args = [sys.executable, str(RUNNER), engine, mode, workload, *(["--gc-off"] if gc_off else [])]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def plan(args: argparse.Namespace, compiled: Path | None) -> list[tuple[str, str, str, bool]]:
    """(label, engine, mode, gc_off) of every child run, interleaved."""
    runs: list[tuple[str, str, str, bool]] = []
    for _ in range(args.runs):
        runs += [("ours", "ours", "each", False), ("peer", "peer", "each", False)]
        runs.append(("ours_many", "ours", "many", False))
        if compiled:
            runs += [("compiled", "ours", "each", False), ("compiled_many", "ours", "many", False)]
        if args.gc_off:
            runs += [("ours_gc_off", "ours", "each", True), ("peer_gc_off", "peer", "each", True)]
    runs += [("ours_latency", "ours", "latency", False), ("peer_latency", "peer", "latency", False)]
    if compiled:
        runs.append(("compiled_latency", "ours", "latency", False))
    return runs


def run_all(args: argparse.Namespace, console: Console) -> dict[str, list[Any]]:
    """Execute the plan with a progress bar; results grouped by label."""
    compiled = None
    if args.compiled:
        compiled, message = build(Path(tempfile.gettempdir()) / "exchange-mypyc", args.mypyc_python)
        console.print(message)
    results: dict[str, list[Any]] = {}
    runs = plan(args, compiled)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=len(runs))
        for label, engine, mode, gc_off in runs:
            progress.update(task, description=f"{label} ({mode})")
            extra = compiled if label.startswith("compiled") else None
            results.setdefault(label, []).append(
                measure(engine, mode, args.workload, extra, gc_off)
            )
            progress.advance(task)
    return results


def summarise(results: dict[str, list[Any]]) -> dict[str, Any]:
    """Medians and the closing JSON figures."""

    def rate(label: str, key: str = "commands_per_s") -> float | None:
        rows = results.get(label)
        return statistics.median(r[key] for r in rows) if rows else None

    cpu_ours, cpu_peer = rate("ours", "commands_per_cpu_s"), rate("peer", "commands_per_cpu_s")

    ours, peer = results["ours"][0], results["peer"][0]
    lat_ours, lat_peer = results["ours_latency"][0], results["peer_latency"][0]
    figures: dict[str, Any] = {
        "benchmark": "matching",
        "commands": ours["commands"],
        "engine_commands_per_s": round(rate("ours") or 0),
        "peer_commands_per_s": round(rate("peer") or 0),
        "ratio": round((rate("ours") or 0) / (rate("peer") or 1), 2),
        "engine_p50_us": lat_ours["p50_us"],
        "engine_p99_us": lat_ours["p99_us"],
        "peer_p50_us": lat_peer["p50_us"],
        "peer_p99_us": lat_peer["p99_us"],
        "trades": ours["trades"],
        "peer_trades": peer["trades"],
        "engine_many_commands_per_s": round(rate("ours_many") or 0),
        "ratio_many": round((rate("ours_many") or 0) / (rate("peer") or 1), 2),
        "engine_rss_growth_mb": statistics.median(r["rss_engine_mb"] for r in results["ours"]),
        "peer_rss_growth_mb": statistics.median(r["rss_engine_mb"] for r in results["peer"]),
        "engine_commands_per_cpu_s": round(cpu_ours or 0),
        "peer_commands_per_cpu_s": round(cpu_peer or 0),
        "ratio_cpu": round((cpu_ours or 0) / (cpu_peer or 1), 2),
        "runs": len(results["ours"]),
        "timing": "commands built from parsed dicts inside the timed loop, GC on, median",
    }
    for label in ("compiled", "compiled_many", "ours_gc_off", "peer_gc_off"):
        if label in results:
            figures[f"{label}_commands_per_s"] = round(rate(label) or 0)
    if "compiled" in results:
        cpu_compiled = rate("compiled", "commands_per_cpu_s") or 0
        figures["compiled_commands_per_cpu_s"] = round(cpu_compiled)
        figures["compiled_ratio_cpu"] = round(cpu_compiled / (cpu_peer or 1), 2)
        figures["compiled_ratio"] = round((rate("compiled") or 0) / (rate("peer") or 1), 2)
        figures["compiled_ratio_many"] = round(
            (rate("compiled_many") or 0) / (rate("peer") or 1), 2
        )
        figures["compiled_p50_us"] = results["compiled_latency"][0]["p50_us"]
        figures["compiled_p99_us"] = results["compiled_latency"][0]["p99_us"]
    if "ours_gc_off" in results:
        figures["ratio_gc_off"] = round((rate("ours_gc_off") or 0) / (rate("peer_gc_off") or 1), 2)
    return figures


def show(figures: dict[str, Any], console: Console) -> None:
    """A human-readable table of the main figures."""
    table = Table(title=f"matching: {figures['commands']:,} commands, median of {figures['runs']}")
    for column in ("engine", "commands/s", "p50 µs", "p99 µs", "trades"):
        table.add_column(column, justify="right")
    table.add_row(
        "ours (process)",
        f"{figures['engine_commands_per_s']:,}",
        f"{figures['engine_p50_us']:.2f}",
        f"{figures['engine_p99_us']:.2f}",
        f"{figures['trades']:,}",
    )
    table.add_row("ours (process_many)", f"{figures['engine_many_commands_per_s']:,}", "", "", "")
    if "compiled_commands_per_s" in figures:
        table.add_row(
            "ours (mypyc)",
            f"{figures['compiled_commands_per_s']:,}",
            f"{figures['compiled_p50_us']:.2f}",
            f"{figures['compiled_p99_us']:.2f}",
            "",
        )
    if "compiled_many_commands_per_s" in figures:
        table.add_row("ours (mypyc, process_many)", f"{figures['compiled_many_commands_per_s']:,}")
    table.add_row(
        "matching-engine 0.1.1",
        f"{figures['peer_commands_per_s']:,}",
        f"{figures['peer_p50_us']:.2f}",
        f"{figures['peer_p99_us']:.2f}",
        f"{figures['peer_trades']:,}",
    )
    console.print(table)
    console.print(
        f"CPU-time ratio {figures['ratio_cpu']}x"
        + (f", mypyc {figures['compiled_ratio_cpu']}x" if "compiled_ratio_cpu" in figures else "")
    )
    console.print(
        f"ratio {figures['ratio']}x (process), {figures['ratio_many']}x (process_many)"
        + (
            f", {figures['compiled_ratio']}x (mypyc),"
            f" {figures['compiled_ratio_many']}x (mypyc, process_many)"
            if "compiled_ratio" in figures
            else ""
        )
    )


def profile(workload: str, commands: int, console: Console) -> None:
    """cProfile our pure-Python engine over the first ``commands`` commands (top 12, self time)."""
    import cProfile
    import pstats

    from matching_runner import load, ours

    symbol, rows = load(workload)
    engine, build, _ = ours(symbol)
    owner: dict[int, int] = {}
    commands_built = [build(r, owner) for r in rows[:commands]]
    profiler = cProfile.Profile()
    profiler.enable()
    for command in commands_built:
        engine.process(command)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=console.file)
    stats.sort_stats("tottime").print_stats(12)


def main() -> None:
    """Parse arguments, run, print the table and the closing JSON line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", required=True, help="JSON-lines file from workload.py")
    parser.add_argument("--runs", type=int, default=3, help="throughput runs per engine (median)")
    parser.add_argument("--gc-off", action="store_true", help="also time prebuilt commands, GC off")
    parser.add_argument("--compiled", action="store_true", help="also time a mypyc build")
    parser.add_argument("--mypyc-python", default=sys.executable, help="python that runs mypyc")
    parser.add_argument("--profile", type=int, metavar="N", help="only cProfile N commands")
    args = parser.parse_args()
    console = Console(stderr=True)
    if args.profile:
        profile(args.workload, args.profile, console)
        return
    figures = summarise(run_all(args, console))
    show(figures, console)
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
