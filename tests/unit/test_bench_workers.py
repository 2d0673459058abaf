"""The worker benchmark's seed: what the command API would have appended for a workload file.

The appends must go into a store as they are (exact expected versions), keep the engine's
inputs in the file's order, and hold funds exactly as the domain's account rules do.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from typing import Any

from benchmarks import workers_setup
from benchmarks.workers_measure import Checkpoint, new_orders_per_batch, percentile
from cli.engine_build import REPO
from domain.account import Account
from domain.events import event_from_dict
from domain.instrument import Instrument
from event_store.memory import InMemoryEventStore
from event_store.outbox import ORDER_SYMBOL

FEES = Instrument.create("ACME", maker_fee_bps=10, taker_fee_bps=20)


def workload(n: int, seed: int = 3) -> list[dict[str, Any]]:
    """Rows of ../shared/bench/workload.py when present, else a small stand-in of its shape."""
    generator = REPO.parent / "shared" / "bench" / "workload.py"
    if generator.exists():
        out = subprocess.run(
            [sys.executable, str(generator), "--n", str(n), "--seed", str(seed)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [json.loads(line) for line in out.splitlines()[1:]]
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    open_ids: list[int] = []
    for order_id in range(1, n + 1):
        if open_ids and rng.random() < 0.25:
            rows.append({"op": "cancel", "id": open_ids.pop(rng.randrange(len(open_ids)))})
            continue
        side = rng.choice(("buy", "sell"))
        user = 2 * rng.randrange(20) + (side == "sell")
        row: dict[str, Any] = {"op": "new", "id": order_id, "user": user, "side": side}
        if rng.random() < 0.1:
            row.update(type="market", qty=rng.randint(1, 100), tif="IOC")
        else:
            row.update(type="limit", price=10_000 + rng.randint(-50, 50), qty=rng.randint(1, 100))
            row["tif"] = "GTC"
            open_ids.append(order_id)
        rows.append(row)
    return rows


async def seeded(rows: list[dict[str, Any]], chunk: int) -> tuple[InMemoryEventStore, Any]:
    store = InMemoryEventStore()
    plan = workers_setup.Plan(FEES)
    for appends in workers_setup.plan(FEES, rows, 1_000, plan, chunk_commands=chunk):
        await store.append(*appends)
    return store, plan


async def test_the_seed_appends_as_is_and_keeps_the_engine_inputs_in_file_order() -> None:
    rows = workload(3000)
    store, plan = await seeded(rows, chunk=200)

    recorded = await store.read_all(0, 10**6)
    inputs = [e for e in recorded if ORDER_SYMBOL in e.metadata]
    assert [int(e.data["order_id"]) for e in inputs] == [int(r["id"]) for r in rows]
    assert [e.type for e in inputs] == [
        "OrderPlaced" if r["op"] == "new" else "CancelRequested" for r in rows
    ]
    assert plan.new_orders + plan.cancels == len(rows)
    assert plan.events == len(recorded)


async def test_every_hold_is_what_the_account_rules_reserve_and_market_buys_hold_all_cash() -> None:
    rows = workload(3000)
    store, plan = await seeded(rows, chunk=500)
    recorded = await store.read_all(0, 10**6)

    accounts: dict[int, Account] = {}
    for event in recorded:
        if event.stream_id.startswith("account-"):
            user = int(event.stream_id.removeprefix("account-"))
            account = accounts.setdefault(user, Account(user))
            account.apply(event_from_dict(event.type, dict(event.data)))
    placed = {int(e.data["order_id"]): e.data for e in recorded if e.type == "OrderPlaced"}
    for order_id, order in placed.items():
        account = accounts[int(order["user_id"])]
        held = account.reserved_for(order_id)
        if order["side"] == "sell":
            assert held == order["quantity"]
        elif order["order_type"] == "limit":
            assert held == FEES.buy_hold(order["price"], order["quantity"])
        else:
            assert order["max_notional"] == FEES.market_buy_max_notional(held)
    for user, account in accounts.items():
        assert account.version == plan.accounts[user].version
        for balance in account.balances.values():
            assert 0 <= balance.held <= balance.total
    assert all(int(r["user"]) + 1 in accounts for r in rows if r["op"] == "new")
    assert 0 not in accounts  # the fee account is left to settlement
    if any(r["op"] == "new" and r["type"] == "market" and r["side"] == "buy" for r in rows):
        assert plan.top_ups > 0


def test_figures_from_checkpoint_rows() -> None:
    rows = [
        Checkpoint(10, 0, 1.0, {"last_position": 100}),
        Checkpoint(20, 0, 1.5, {"last_position": 200}),
    ]
    assert new_orders_per_batch(rows, {0: [5, 99, 100, 101, 250]}) == [3, 1]
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([], 0.99) == 0.0
