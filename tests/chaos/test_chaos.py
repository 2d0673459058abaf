"""The short chaos run: every process of the test stack SIGKILLed once under load, then Redis
and MariaDB restarted (Kafka too in the full run); once drained, nothing acknowledged is lost,
nothing is doubled, and the operator's checks pass (the full run: ``python -m tests.chaos
--full``)."""

from __future__ import annotations

import pytest

from tests.chaos.__main__ import longest_back
from tests.chaos.faults import Fault
from tests.chaos.load import Ledger
from tests.chaos.run import SHORT, Report, run

pytestmark = pytest.mark.integration


async def test_killing_every_process_under_load_loses_and_doubles_nothing() -> None:
    report = await run(SHORT)

    assert report.violations == [], "\n".join(report.violations)
    killed = {f.program for f in report.faults if f.kind == "kill"}
    assert {"command_api", "relay", "matching", "settlement", "query_api"} <= killed
    assert any(p.startswith("projector") for p in killed)
    assert [f.program for f in report.faults if f.kind == "restart"] == list(SHORT.infra)
    assert len(report.ledger.orders) > 0 and report.verdict.trades > 0
    assert set(report.verdict.tools.values()) == {"passed"}


def test_the_summary_names_the_slowest_fault_to_recover_from() -> None:
    faults = [Fault("kill", "relay", 3.0, 2.5), Fault("restart", "kafka", 9.0, 31.25),
              Fault("kill", "matching", 20.0, 4.0)]  # fmt: skip
    report = Report(SHORT, "r1", Ledger(), faults)

    assert longest_back(report) == "31.2 s (restart kafka)"
    assert longest_back(Report(SHORT, "r2", Ledger(), [])) == "-"
