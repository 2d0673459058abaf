"""Matching-engine benchmark: our engine against the ``matching-engine`` PyPI package, same run.

    .venv/bin/python benchmarks/matching.py                  # the standard 1M-command file, seed 1
    .venv/bin/python benchmarks/matching.py --workload FILE  # any file of ../shared/bench/ format

Without ``--workload`` the standard file (1,000,000 commands, seed 1) is generated once with
``../shared/bench/workload.py`` into ``.cache/bench/`` and reused. Our engine is measured in both
builds: the pure-Python reference and the same sources compiled with mypyc (built into a cache
directory by ``benchmarks/matching_mypyc.py``; ``--no-compiled`` skips it). The headline figures
(``engine_*``, ``ratio``) are those of the compiled build when it is built, and ``pure_*`` are
always reported beside them.

Every measurement runs in a fresh child process (``benchmarks/matching_runner.py``) with the same
interpreter, engines interleaved run by run. Both engines are timed the same way: the file is
parsed before the clock; inside the timed loop each dict becomes the engine's command object, GC
on, one ``process()`` call per command. Reported: median commands/s over ``--runs`` (wall clock,
and per CPU second of the child, which is steadier on a shared machine), per-command
p50/p99 latency (a separate run with a timer around each ``process()`` call), the ratio, trades
(cross-check: 334,062 on the 1M/seed-1 file), and RSS growth. Extra figures: our
``process_many`` fed chunks of 100 freshly built commands, and optionally prebuilt commands with
GC off (``--gc-off``, how the peer's README measures), and the throughput of two more Python
books, ``orderly-chaos`` and ``pyorderbook`` (``--no-other-peers`` skips them). The last line of
output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cli.engine_build import REPO, build  # noqa: E402

RUNNER = HERE / "matching_runner.py"
#: Other Python books timed the same way when ``--other-peers`` (the default): runner name -> label.
OTHER_PEERS = {
    "orderly": "orderly-chaos 0.2.0 (C++)",
    "pyorderbook": "pyorderbook 0.4.9",
}


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
        runs += [("pure", "ours", "each", False), ("peer", "peer", "each", False)]
        runs.append(("pure_many", "ours", "many", False))
        if compiled:
            runs += [("compiled", "ours", "each", False), ("compiled_many", "ours", "many", False)]
        if args.other_peers:
            runs += [(engine, engine, "each", False) for engine in OTHER_PEERS]
        if args.gc_off:
            runs += [("pure_gc_off", "ours", "each", True), ("peer_gc_off", "peer", "each", True)]
            if compiled:
                runs.append(("compiled_gc_off", "ours", "each", True))
    runs += [("pure_latency", "ours", "latency", False), ("peer_latency", "peer", "latency", False)]
    if compiled:
        runs.append(("compiled_latency", "ours", "latency", False))
    return runs


def run_all(args: argparse.Namespace, console: Console) -> dict[str, list[Any]]:
    """Execute the plan with a progress bar; results grouped by label."""
    compiled = None
    if args.compiled:
        with console.status("building the mypyc engine"):
            compiled, message = build(REPO / ".cache" / "mypyc", args.mypyc_python)
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
    """Medians and the closing JSON figures (headline: the compiled build when it ran)."""

    def rate(label: str, key: str = "commands_per_s") -> float:
        rows = results.get(label)
        return statistics.median(r[key] for r in rows) if rows else 0.0

    peer, peer_cpu = rate("peer"), rate("peer", "commands_per_cpu_s")
    head = "compiled" if "compiled" in results else "pure"
    figures: dict[str, Any] = {
        "benchmark": "matching",
        "commands": results["pure"][0]["commands"],
        "engine_build": "mypyc" if head == "compiled" else "pure-python",
    }
    for prefix, label in (("engine", head), ("pure", "pure")):
        latency = results[f"{label}_latency"][0]
        figures |= {
            f"{prefix}_commands_per_s": round(rate(label)),
            f"{prefix}_ratio" if prefix == "pure" else "ratio": round(rate(label) / peer, 2),
            f"{prefix}_p50_us": latency["p50_us"],
            f"{prefix}_p99_us": latency["p99_us"],
            f"{prefix}_many_commands_per_s": round(rate(f"{label}_many")),
            f"{prefix}_commands_per_cpu_s": round(rate(label, "commands_per_cpu_s")),
            f"{prefix}_rss_growth_mb": statistics.median(
                r["rss_engine_mb"] for r in results[label]
            ),
        }
    figures |= {
        "peer": "matching-engine 0.1.1",
        "peer_commands_per_s": round(peer),
        "peer_p50_us": results["peer_latency"][0]["p50_us"],
        "peer_p99_us": results["peer_latency"][0]["p99_us"],
        "peer_commands_per_cpu_s": round(peer_cpu),
        "peer_rss_growth_mb": statistics.median(r["rss_engine_mb"] for r in results["peer"]),
        "ratio_many": round(figures["engine_many_commands_per_s"] / peer, 2),
        "ratio_cpu": round(figures["engine_commands_per_cpu_s"] / peer_cpu, 2),
        "trades": results[head][0]["trades"],
        "pure_trades": results["pure"][0]["trades"],
        "peer_trades": results["peer"][0]["trades"],
        "runs": len(results["pure"]),
        "timing": "commands built from parsed dicts inside the timed loop, GC on, median",
    }
    figures["other_peers"] = {
        label: {
            "commands_per_s": round(rate(engine)),
            "engine_ratio": round(figures["engine_commands_per_s"] / rate(engine), 2),
            "trades": results[engine][0]["trades"],
        }
        for engine, label in OTHER_PEERS.items()
        if engine in results
    }
    if "peer_gc_off" in results:
        gc_off = rate("peer_gc_off")
        figures["peer_gc_off_commands_per_s"] = round(gc_off)
        for label in ("pure_gc_off", "compiled_gc_off"):
            if label in results:
                figures[f"{label}_commands_per_s"] = round(rate(label))
                figures[f"{label}_ratio"] = round(rate(label) / gc_off, 2)
    return figures


def show(figures: dict[str, Any], console: Console) -> None:
    """A human-readable table of the main figures."""
    table = Table(title=f"matching: {figures['commands']:,} commands, median of {figures['runs']}")
    for column in ("engine", "commands/s", "vs peer", "p50 µs", "p99 µs", "trades"):
        table.add_column(column, justify="right")
    peer = figures["peer_commands_per_s"]

    def row(name: str, rate: int, p50: float | None = None, p99: float | None = None,
            trades: int | None = None) -> None:  # fmt: skip
        table.add_row(
            name,
            f"{rate:,}",
            f"{rate / peer:.2f}x",
            "" if p50 is None else f"{p50:.2f}",
            "" if p99 is None else f"{p99:.2f}",
            "" if trades is None else f"{trades:,}",
        )

    if figures["engine_build"] == "mypyc":
        row("ours, mypyc build", figures["engine_commands_per_s"], figures["engine_p50_us"],
            figures["engine_p99_us"], figures["trades"])  # fmt: skip
        row("ours, mypyc, process_many", figures["engine_many_commands_per_s"])
    row("ours, pure Python", figures["pure_commands_per_s"], figures["pure_p50_us"],
        figures["pure_p99_us"], figures["pure_trades"])  # fmt: skip
    row("ours, pure, process_many", figures["pure_many_commands_per_s"])
    row(figures["peer"], peer, figures["peer_p50_us"], figures["peer_p99_us"],
        figures["peer_trades"])  # fmt: skip
    for label, other in figures["other_peers"].items():
        row(label, other["commands_per_s"], trades=other["trades"])
    console.print(table)
    console.print(
        f"headline ({figures['engine_build']}): {figures['engine_commands_per_s']:,} commands/s,"
        f" {figures['ratio']}x the peer (per CPU second {figures['ratio_cpu']}x)"
    )
    if "peer_gc_off_commands_per_s" in figures:
        console.print(
            f"prebuilt commands, GC off: peer {figures['peer_gc_off_commands_per_s']:,}/s,"
            f" pure {figures['pure_gc_off_commands_per_s']:,}/s"
            + (
                f", mypyc {figures['compiled_gc_off_commands_per_s']:,}/s"
                f" ({figures['compiled_gc_off_ratio']}x)"
                if "compiled_gc_off_commands_per_s" in figures
                else ""
            )
        )


def standard_workload(console: Console) -> str:
    """The 1M-command, seed-1 file of ../shared/bench/, generated once into .cache/bench/."""
    target = REPO / ".cache" / "bench" / "workload-1000000-seed1.jsonl"
    if target.exists():
        return str(target)
    generator = REPO.parent / "shared" / "bench" / "workload.py"
    if not generator.exists():
        raise SystemExit(
            f"no workload given and {generator} is missing: pass --workload FILE "
            "(a JSON-lines file in the format of ../shared/bench/workload.py)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with console.status(f"generating the standard workload into {target}"):
        flags = ["--n", "1000000", "--seed", "1", "--out", str(partial)]
        subprocess.run([sys.executable, str(generator), *flags], check=True)
    partial.rename(target)
    return str(target)


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
    parser.add_argument("--workload", help="JSON-lines file (default: the standard 1M file)")
    parser.add_argument("--runs", type=int, default=3, help="throughput runs per engine (median)")
    parser.add_argument("--gc-off", action="store_true", help="also time prebuilt commands, GC off")
    parser.add_argument(
        "--compiled",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also build and time the mypyc build (the headline figures when built)",
    )
    parser.add_argument(
        "--other-peers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time orderly-chaos and pyorderbook (throughput only)",
    )
    parser.add_argument("--mypyc-python", default=sys.executable, help="python that runs mypyc")
    parser.add_argument("--profile", type=int, metavar="N", help="only cProfile N commands")
    args = parser.parse_args()
    console = Console(stderr=True, width=max(Console(stderr=True).width, 100))
    args.workload = args.workload or standard_workload(console)
    if args.profile:
        profile(args.workload, args.profile, console)
        return
    figures = summarise(run_all(args, console))
    show(figures, console)
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
