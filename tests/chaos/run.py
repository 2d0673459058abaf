"""One chaos run on the test stack: open a market, load it while faults hit, drain, verify."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from cli.check import wait_until_drained
from cli.profiles import PROFILES
from cli.supervisor import Supervisor
from client import ExchangeClient
from common.settings import InfraSettings
from event_store.mariadb import MariaDbEventStore
from tests.chaos.faults import INFRA, Chaos, Fault, plan
from tests.chaos.load import Flow, Ledger, Trader, open_market, patient
from tests.chaos.verify import Verdict, verify

DRAINED_GROUPS = ["matching", "settlement", "projector"]
GIVE_UP_S = 600.0
"""A request unanswered this long is dropped (and its order, if any, is not acknowledged)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """How hard a run is: fault rounds, concurrent clients, traders, symbols and pauses."""

    name: str
    rounds: int
    clients: int
    traders: int
    symbols: int
    pause_s: float
    """Load on the recovered stack between two faults."""
    warmup_s: float
    tail_s: float
    """Load after the last fault."""
    infra: tuple[str, ...] = INFRA
    """Restarted after each round of kills."""
    drain_s: float = 600.0


SHORT = Scenario("short", rounds=1, clients=6, traders=6, symbols=2, pause_s=1.5, warmup_s=2,
                 tail_s=2, infra=("redis", "mariadb"))  # fmt: skip
"""Every application killed once, Redis and MariaDB restarted (Kafka, a JVM, starts slowest:
the full run restarts it)."""
FULL = Scenario("full", rounds=3, clients=12, traders=12, symbols=4, pause_s=4, warmup_s=10,
                tail_s=10)  # fmt: skip


@dataclass
class Report:
    """A run's outcome: the load, the faults, what the checks found, and how long it took."""

    scenario: Scenario
    run_id: str
    ledger: Ledger
    faults: list[Fault]
    verdict: Verdict = field(default_factory=Verdict)
    stack: list[str] = field(default_factory=list)
    """Programs not back, not running, or a stack that never drained."""
    load_s: float = 0.0
    drain_s: float = 0.0
    total_s: float = 0.0
    load_avg: tuple[float, ...] = ()

    @property
    def violations(self) -> list[str]:
        """Everything that must not happen (empty: the run passed)."""
        return self.stack + self.verdict.violations


Watcher = Callable[[Ledger, Chaos, asyncio.Event], Coroutine[Any, Any, None]]


def stack_env() -> InfraSettings:
    """The test stack's settings (its ``EXCHANGE_*`` variables unless already set)."""
    for key, value in PROFILES["test"].service_env().items():
        os.environ.setdefault(key, value)
    return InfraSettings()


async def run(scenario: Scenario, watch: Watcher | None = None) -> Report:
    """Load the stack while the scenario's faults hit it, let it drain, then verify."""
    settings, started = stack_env(), time.monotonic()
    supervisor = Supervisor(PROFILES["test"])
    run_id = uuid.uuid4().hex[:10]
    admin = ExchangeClient(
        os.environ["EXCHANGE_COMMAND_API_URL"], os.environ["EXCHANGE_QUERY_API_URL"],
        os.environ["EXCHANGE_ADMIN_KEY"], retry=patient(GIVE_UP_S),
        max_connections=scenario.clients + 2,
    )  # fmt: skip
    ledger, chaos = Ledger(transport=admin.transport), Chaos(supervisor, started)
    report = Report(scenario, run_id, ledger, chaos.done, load_avg=os.getloadavg())
    async with admin:
        symbols, traders = await open_market(admin, run_id, scenario.symbols, scenario.traders)
        flow = Flow(ledger, traders, symbols, run_id)
        stop = asyncio.Event()
        loops = [asyncio.create_task(flow.trade(seed, stop)) for seed in range(scenario.clients)]
        watcher = asyncio.create_task(watch(ledger, chaos, stop)) if watch else None
        load_from = time.monotonic()
        await asyncio.sleep(scenario.warmup_s)
        steps = plan(supervisor, scenario.rounds, scenario.infra)
        await chaos.run(steps, scenario.pause_s)
        await asyncio.sleep(scenario.tail_s)
        stop.set()
        await asyncio.gather(*loops, *([watcher] if watcher else []))
        report.load_s = time.monotonic() - load_from
        report.stack += chaos.not_back + chaos.not_running()
        report.verdict = await _drain_and_verify(report, settings, admin, traders, symbols)
    report.total_s = time.monotonic() - started
    report.load_avg += os.getloadavg()
    return report


async def _drain_and_verify(
    report: Report, settings: InfraSettings, admin: ExchangeClient,
    traders: list[Trader], symbols: list[str],
) -> Verdict:  # fmt: skip
    store = MariaDbEventStore.from_url(settings.database_url)
    try:
        drained_from = time.monotonic()
        drained = await wait_until_drained(store, settings, DRAINED_GROUPS, report.scenario.drain_s)
        report.drain_s = time.monotonic() - drained_from
        if not drained:
            report.stack.append(f"the stack did not drain within {report.scenario.drain_s} s")
        return await verify(store, admin, report.ledger, traders, symbols, report.run_id)
    finally:
        await store.close()
