"""The short chaos run: every process of the test stack SIGKILLed once under load, then Redis
and MariaDB restarted (Kafka too in the full run); once drained, nothing acknowledged is lost,
nothing is doubled, and the operator's checks pass (the full run: ``python -m tests.chaos
--full``)."""

from __future__ import annotations

import pytest

from tests.chaos.run import SHORT, run

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
