"""Exports from the real store: complete lifecycles in position order, tamper-evident."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
import pytest

from cli.audit.chain import Format
from cli.audit.export import export_lifecycle
from cli.audit.verify import verify_lines
from domain import streams
from domain.account_events import FEE_ACCOUNT, FeesCollected
from event_store import MariaDbEventStore, NewEvent, StreamAppend
from event_store.audit import UnknownLifecycle, Window
from tests.integration.audit.scenario import Scenario
from tests.unit.audit import mutations

pytestmark = pytest.mark.integration

SELL_LIFECYCLE = Counter(
    ["OrderPlaced", "FundsReserved", "OrderAccepted", "OrderFilled", "TradeSettled",
     "CancelRequested", "OrderCancelled", "FundsReleased"]
)  # fmt: skip
SELLER_LIFECYCLE = SELL_LIFECYCLE + Counter(["UserRegistered", "FundsDeposited", "FundsDeposited"])
SYMBOL_LIFECYCLE = Counter(
    {"InstrumentListed": 1, "FundsDeposited": 1, "OrderPlaced": 3, "FundsReserved": 3,
     "OrderAccepted": 3, "OrderFilled": 2, "TradeSettled": 2, "CancelRequested": 1,
     "OrderCancelled": 1, "FundsReleased": 1}
)  # fmt: skip


async def export(
    scenario: Scenario, scope: dict[str, Any], fmt: Format = "jsonl", window: Window = Window()
) -> list[str]:
    """The export's lines."""
    out = io.StringIO()
    await export_lifecycle(scenario.reader, scope, window, out, fmt)
    return out.getvalue().splitlines()


def events(lines: list[str]) -> list[dict[str, Any]]:
    """The event records of a JSON Lines export."""
    records = [orjson.loads(line) for line in lines]
    return [record for record in records if record["kind"] == "event"]


def ids(records: Iterable[dict[str, Any]]) -> list[str]:
    """The event ids of event records (their hashes depend on the whole export)."""
    return [record["event_id"] for record in records]


def types(lines: list[str]) -> Counter[str]:
    """How many events of each type (session closes aside: the scheduler's clock decides)."""
    return Counter(e["type"] for e in events(lines) if e["type"] != "SessionClosed")


async def test_an_order_export_is_its_stream_and_its_account_events_in_order(
    scenario: Scenario,
) -> None:
    lines = await export(scenario, {"order": scenario.sell})

    records = events(lines)
    assert types(lines) == SELL_LIFECYCLE
    assert {r["stream_id"] for r in records} == {
        f"order-{scenario.sell}",
        f"account-{scenario.seller}",
    }
    positions = [r["position"] for r in records]
    assert positions == sorted(set(positions))


async def test_a_user_export_holds_their_user_account_and_order_streams(
    scenario: Scenario,
) -> None:
    lines = await export(scenario, {"user": scenario.seller})

    assert types(lines) == SELLER_LIFECYCLE


async def test_a_symbol_export_holds_every_event_that_names_the_symbol(
    scenario: Scenario,
) -> None:
    lines = await export(scenario, {"symbol": scenario.symbol})

    assert types(lines) == SYMBOL_LIFECYCLE


async def test_every_worker_event_names_an_earlier_event_of_the_lifecycle_as_its_cause(
    scenario: Scenario,
) -> None:
    records = events(await export(scenario, {"symbol": scenario.symbol}))

    seen: dict[str, dict[str, Any]] = {}
    for record in records:
        if record["actor"] in ("matching", "settlement"):
            cause = seen[record["causation_id"]]
            assert record["correlation_id"] == cause["correlation_id"]
        elif record["type"] in ("OrderPlaced", "CancelRequested"):
            assert record["actor"] == str(record["data"]["user_id"])
            assert record["correlation_id"]
        seen[record["event_id"]] = record


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("scope", ["order", "user", "symbol"])
async def test_an_export_verifies(scenario: Scenario, scope: str, fmt: Format) -> None:
    key = {"order": scenario.sell, "user": scenario.buyer, "symbol": scenario.symbol}[scope]
    lines = await export(scenario, {scope: key}, fmt)

    verdict = verify_lines(lines, fmt)

    assert verdict.ok, verdict
    assert verdict.records == len(lines) - (4 if fmt == "csv" else 3) + 1


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("kind", ["edit", "drop", "insert", "swap"])
async def test_tampering_with_any_one_line_fails_and_names_it(
    scenario: Scenario, kind: str, fmt: Format
) -> None:
    lines = await export(scenario, {"order": scenario.sell}, fmt)

    named, expected = {}, {}
    for name, mutation, index, line in mutations.cases(len(lines)):
        if name == kind:
            verdict = verify_lines(mutation(lines, index), fmt)
            named[index], expected[index] = (verdict.ok, verdict.line), (False, line)

    assert named == expected
    assert len(named) >= len(lines) - 1


async def test_a_window_of_positions_exports_only_the_events_inside_it(
    scenario: Scenario,
) -> None:
    everything = events(await export(scenario, {"symbol": scenario.symbol}))
    first, last = everything[3]["position"], everything[-3]["position"]

    lines = await export(scenario, {"symbol": scenario.symbol}, window=Window(first, last))

    assert verify_lines(lines, "jsonl").ok
    assert ids(events(lines)) == ids(e for e in everything if first <= e["position"] <= last)
    assert orjson.loads(lines[0])["data"]["window"] == {"from": first, "to": last}


async def test_a_window_of_times_exports_only_the_events_recorded_inside_it(
    scenario: Scenario,
) -> None:
    everything = events(await export(scenario, {"order": scenario.sell}))
    start, end = (_time(everything[2]["recorded_at"]), _time(everything[-2]["recorded_at"]))

    lines = await export(
        scenario, {"order": scenario.sell}, window=Window(from_time=start, to_time=end)
    )

    inside = [e for e in everything if start <= _time(e["recorded_at"]) <= end]
    assert ids(events(lines)) == ids(inside) and len(inside) >= 4


@pytest.mark.parametrize("scope", ["order", "user", "symbol"])
async def test_an_unknown_lifecycle_is_an_error(scenario: Scenario, scope: str) -> None:
    unknown = {"order": 1, "user": 1, "symbol": "NOSUCHSYMBOL"}[scope]

    with pytest.raises(UnknownLifecycle):
        await export(scenario, {scope: unknown})


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_the_fee_account_has_a_lifecycle_without_a_user_stream(scenario: Scenario) -> None:
    if scenario.telling != "store":
        pytest.skip("only the private database is known to hold no other fee events")
    fee = FeesCollected(FEE_ACCOUNT, "USD", 15, "ELSEWHERE", 1, 5, 1)
    store = MariaDbEventStore.from_url(scenario.database_url)
    try:
        await store.append(
            StreamAppend(
                streams.account(FEE_ACCOUNT),
                [NewEvent(fee.event_type, fee.to_dict(), {"actor": "settlement"})],
            )
        )
    finally:
        await store.close()

    lines = await export(scenario, {"user": FEE_ACCOUNT})

    assert verify_lines(lines, "jsonl").ok and types(lines) == Counter(["FeesCollected"])
