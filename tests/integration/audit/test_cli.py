"""``exchange audit`` end to end: export to a file, verify it, tamper with it, time-travel."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.integration.audit.scenario import Scenario
from tests.unit.audit import mutations

pytestmark = pytest.mark.integration

runner = CliRunner()


def exchange(scenario: Scenario, *args: str) -> tuple[int, str, str]:
    """Run ``exchange`` on the scenario's database: exit code, stdout, stderr."""
    env = {"EXCHANGE_DATABASE_URL": scenario.database_url}
    result = runner.invoke(app, ["audit", *args, "--profile", "test"], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_exported_file_verifies_until_a_line_is_changed(
    scenario: Scenario, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"order.{fmt}"
    code, _, err = exchange(scenario, "export", "--order", str(scenario.sell), "--format", fmt,
                            "--output", str(path))  # fmt: skip
    assert code == 0, err
    head = err.split("head")[-1].strip()

    ok = runner.invoke(app, ["audit", "verify", str(path), "--expect-head", head])
    assert ok.exit_code == 0, ok.stderr

    lines = path.read_text().splitlines()
    path.write_text("\n".join(mutations.swap(lines, 3)) + "\n")
    bad = runner.invoke(app, ["audit", "verify", str(path)])
    assert bad.exit_code == 1
    assert "line 4:" in bad.stderr


def test_an_export_goes_to_stdout_without_output(scenario: Scenario) -> None:
    code, out, err = exchange(scenario, "export", "--user", str(scenario.buyer))

    assert code == 0, err
    lines = out.splitlines()
    assert orjson.loads(lines[0])["data"]["scope"] == {"user": scenario.buyer}
    assert orjson.loads(lines[-1])["kind"] == "trailer"


def test_state_prints_the_order_as_of_a_position_as_json(scenario: Scenario) -> None:
    code, out, err = exchange(scenario, "state", "--order", str(scenario.sell),
                              "--as-of-position", "999999999999", "--json")  # fmt: skip

    assert code == 0, err
    state = orjson.loads(out)
    assert (state["status"], state["filled_quantity"], state["reason"]) == ("cancelled", 4, "USER")


@pytest.mark.parametrize("scope", ["--user", "--symbol"])
def test_state_prints_an_account_or_a_book_as_a_table(scenario: Scenario, scope: str) -> None:
    key = str(scenario.buyer) if scope == "--user" else scenario.symbol

    code, out, err = exchange(scenario, "state", scope, key, "--as-of-position", "999999999999")

    assert code == 0, err
    assert ("596.00" in out) if scope == "--user" else ("100.00" in out)


@pytest.mark.parametrize(
    "args",
    [
        ["export", "--order", "1", "--user", "2"],
        ["export", "--symbol", "X", "--from", "yesterday"],
        ["export", "--symbol", "X", "--format", "xml"],
    ],
    ids=["two-scopes", "bad-time", "bad-format"],
)
def test_bad_arguments_are_refused(scenario: Scenario, args: list[str]) -> None:
    code, _, _ = exchange(scenario, *args)

    assert code == 2


def test_an_unknown_order_is_an_error_not_an_empty_export(scenario: Scenario) -> None:
    code, out, err = exchange(scenario, "export", "--order", "1")

    assert code == 2 and out == "" and "no order 1" in err
