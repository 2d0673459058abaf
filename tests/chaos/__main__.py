"""``python -m tests.chaos [--full]``: a chaos run on the running test stack, with a summary.

Start the test stack first (``./exchange up --profile test``). Exits 1 on any violation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from tests.chaos.faults import Chaos
from tests.chaos.load import Ledger
from tests.chaos.run import FULL, SHORT, Report, run

console = Console()


async def watch(ledger: Ledger, chaos: Chaos, stop: asyncio.Event) -> None:
    """A live line: acknowledged orders, retries, faults done."""
    started = time.monotonic()
    with Live(console=console, refresh_per_second=2) as live:
        while not stop.is_set():
            last = chaos.done[-1] if chaos.done else None
            live.update(
                f"[bold]{time.monotonic() - started:5.0f} s[/]  orders acknowledged "
                f"{len(ledger.orders):,}  cancels {len(ledger.cancels):,}  amends "
                f"{len(ledger.amends):,}  retries {ledger.retries:,}  faults {len(chaos.done)}"
                + (f"  last: {last.kind} {last.program}" if last else "")
            )
            await asyncio.sleep(0.5)
    console.print("load stopped; draining and verifying (exchange check/replay/rebuild)...")


def longest_back(report: Report) -> str:
    """The slowest fault to recover from: seconds, and which program it was."""
    if not report.faults:
        return "-"
    slowest = max(report.faults, key=lambda f: f.back_after_s)
    return f"{slowest.back_after_s:.1f} s ({slowest.kind} {slowest.program})"


def summary(report: Report) -> Table:
    """The run in one table."""
    ledger, verdict = report.ledger, report.verdict
    kills = sum(f.kind == "kill" for f in report.faults)
    killed = ", ".join(sorted({f.program for f in report.faults if f.kind == "kill"}))
    batched = sum(o.in_batch for o in ledger.orders.values())
    restarts = [f.program for f in report.faults if f.kind == "restart"]
    table = Table("what", "figure", title=f"chaos run {report.run_id} ({report.scenario.name})")
    rows = [
        ("processes SIGKILLed", f"{kills} ({killed})"),
        ("infrastructure restarted", f"{len(restarts)} ({', '.join(restarts)})"),
        ("longest time back", longest_back(report)),
        ("load", f"{report.scenario.clients} clients, {report.scenario.traders} traders, "
                 f"{report.scenario.symbols} symbols, {report.load_s:.0f} s"),
        ("requests / resent / unanswered",
         f"{ledger.requests:,} / {ledger.retries:,} / {ledger.gave_up}"),
        ("orders acknowledged", f"{len(ledger.orders):,} ({batched:,} in batches)"),
        ("cancels / amends acknowledged", f"{len(ledger.cancels):,} / {len(ledger.amends):,}"),
        ("expected refusals", ", ".join(f"{k} {v}" for k, v in sorted(ledger.refusals.items()))),
        ("final statuses", ", ".join(f"{k} {v}" for k, v in sorted(verdict.statuses.items()))),
        ("trades / fills", f"{verdict.trades:,} / {verdict.fills:,}"),
        *((name, outcome) for name, outcome in verdict.tools.items()),
        ("drain / whole run", f"{report.drain_s:.0f} s / {report.total_s:.0f} s"),
        ("load average (before, after)", " ".join(f"{x:.1f}" for x in report.load_avg)),
        ("violations", f"[{'red' if report.violations else 'green'}]{len(report.violations)}[/]"),
    ]  # fmt: skip
    for row in rows:
        table.add_row(*row)
    return table


def main(
    full: Annotated[bool, typer.Option(help="the long run: every process killed 3 times")] = False,
    rounds: Annotated[int | None, typer.Option(help="fault rounds (default: by scenario)")] = None,
) -> None:
    """Kill every process of the test stack under load, then prove nothing was lost."""
    scenario = FULL if full else SHORT
    if rounds is not None:
        scenario = dataclasses.replace(scenario, rounds=rounds)
    report = asyncio.run(run(scenario, watch))
    console.print(summary(report))
    for violation in report.violations:
        console.print(f"✗ {violation}", style="red", markup=False, highlight=False)
    if report.violations:
        raise typer.Exit(1)
    console.print("[green]✓ nothing lost, nothing doubled, every check passed[/]")


if __name__ == "__main__":
    typer.run(main)
