"""After the chaos: hold the drained stack to everything the command API acknowledged.

Each acknowledged order must be in the store, decided by the engine exactly once, with fills
whose trade ids are distinct and whose quantities add up to what it filled, closed when it had
to close (market, IOC, FOK, an acknowledged cancel), and shown by the query API as its events
say. No order may exist that the API never acknowledged (when every request got an answer),
and no ``client_order_id`` may name two orders. The operator's own tools must pass too:
``exchange check invariants``, ``exchange replay verify`` and ``exchange rebuild all --verify``.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cli.profiles import ROOT
from client import ExchangeClient
from domain import streams
from domain.folds import OrderView, fold_order
from domain.order_events import OrderAccepted, OrderFilled
from domain.order_requests import AmendRequested, CancelRequested
from domain.rejections import OrderRejected
from event_store.model import RecordedEvent
from event_store.protocol import EventStore
from tests.chaos.load import Acked, Ledger, Trader

DECISIONS = frozenset({OrderAccepted.__name__, OrderRejected.__name__})
FILLED = OrderFilled.__name__
MUST_CLOSE = frozenset({"IOC", "FOK"})
STREAMS_PER_READ = 500
PAGE = 500


@dataclass
class Verdict:
    """What the checks found: violations (must be none) and the counts behind them."""

    violations: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    trades: int = 0
    fills: int = 0
    tools: dict[str, str] = field(default_factory=dict)

    def add(self, found: Sequence[str]) -> None:
        """Record violations."""
        self.violations.extend(found)


def run_tool(*args: str, timeout_s: float = 600) -> tuple[bool, str]:
    """Run ``./exchange <args> --profile test`` as an operator would: passed, and its output."""
    done = subprocess.run(
        [str(ROOT / "exchange"), *args, "--profile", "test"],
        capture_output=True, text=True, timeout=timeout_s, cwd=ROOT,
    )  # fmt: skip
    return done.returncode == 0, (done.stdout + done.stderr).strip()


async def stored_orders(store: EventStore, ids: Sequence[int]) -> dict[int, list[RecordedEvent]]:
    """Each order's stream, read many streams per statement."""
    found: dict[int, list[RecordedEvent]] = {}
    for start in range(0, len(ids), STREAMS_PER_READ):
        chunk = ids[start : start + STREAMS_PER_READ]
        read = await store.read_streams({streams.order(i): 1 for i in chunk})
        found.update({i: read.get(streams.order(i), []) for i in chunk})
    return found


def judge_order(acked: Acked, events: list[RecordedEvent], ledger: Ledger) -> list[str]:
    """What is wrong with one acknowledged order as its stream tells it (after the drain)."""
    name = f"order {acked.order_id} ({acked.client_order_id})"
    view = fold_order(events)
    if view is None:
        return [f"LOST: {name} was acknowledged but has no placement in the store"]
    found = []
    if (view.user_id, view.client_order_id, view.symbol) != (
        acked.user_id, acked.client_order_id, acked.symbol,
    ):  # fmt: skip
        found.append(f"{name} is stored as user {view.user_id}, {view.client_order_id}")
    types = [e.type for e in events]
    decided = sum(t in DECISIONS for t in types)
    if decided != 1:
        found.append(f"{name} was decided by the engine {decided} times: {types}")
    fills = [e.data for e in events if e.type == FILLED]
    trade_ids = Counter(int(f["trade_id"]) for f in fills)
    doubled = [t for t, n in trade_ids.items() if n > 1]
    if doubled:
        found.append(f"DOUBLED: {name} filled more than once by trades {doubled}")
    if sum(int(f["quantity"]) for f in fills) != view.filled or view.filled > view.quantity:
        found.append(f"{name}: fills {fills} do not add up to filled {view.filled}")
    must_close = acked.order_type == "market" or acked.time_in_force in MUST_CLOSE
    if (must_close or acked.order_id in ledger.cancels) and not view.closed:
        found.append(f"STUCK: {name} is still {view.status} after the drain")
    if acked.order_id in ledger.cancels and CancelRequested.__name__ not in types:
        found.append(f"LOST: the acknowledged cancel of {name} is not in its stream")
    if acked.order_id in ledger.amends and AmendRequested.__name__ not in types:
        found.append(f"LOST: the acknowledged amend of {name} is not in its stream")
    return found


def trade_sides(fills: dict[int, list[dict[str, Any]]]) -> tuple[set[tuple[str, int]], list[str]]:
    """Every trade of the run's orders, and those with more than two sides (one side is not
    wrong here: its other order may be one the load never heard back about; ``exchange check
    invariants`` holds every trade of the store to exactly two)."""
    sides: Counter[tuple[str, int]] = Counter()
    for order_fills in fills.values():
        sides.update((str(f["symbol"]), int(f["trade_id"])) for f in order_fills)
    wrong = [f"DOUBLED: trade {s}#{t} has {n} sides" for (s, t), n in sides.items() if n > 2]
    return set(sides), wrong


async def shown_orders(trader: Trader) -> list[dict[str, Any]]:
    """Every order of the trader as the query API lists it."""
    shown: list[dict[str, Any]] = []
    before: int | None = None
    while True:
        page = await trader.client.orders(limit=PAGE, before=before)
        shown += [dict(o) for o in page]
        if len(page) < PAGE:
            return shown
        before = int(page[-1]["order_id"])


def judge_shown(
    ledger: Ledger, views: dict[int, OrderView], shown: list[dict[str, Any]], run_id: str
) -> list[str]:
    """The query API against the store: every acknowledged order visible as its events say,
    no order of the run that was never acknowledged, no client_order_id twice."""
    found = []
    by_id = {int(o["order_id"]): o for o in shown}
    for order_id, view in views.items():
        seen = by_id.get(order_id)
        if seen is None:
            found.append(f"INVISIBLE: order {order_id} is not in the query API")
        elif (seen["status"], int(seen["filled_quantity"])) != (view.status, view.filled):
            found.append(
                f"STALE: order {order_id} shows {seen['status']} filled {seen['filled_quantity']}"
                f", its events say {view.status} filled {view.filled}"
            )
    ours = [o for o in shown if str(o.get("client_order_id") or "").startswith(f"{run_id}-")]
    twice = [c for c, n in Counter(o["client_order_id"] for o in ours).items() if n > 1]
    found += [f"DOUBLED: client_order_id {c} names several orders" for c in twice]
    phantoms = [int(o["order_id"]) for o in ours if int(o["order_id"]) not in ledger.orders]
    if phantoms and ledger.gave_up == 0:
        found.append(f"PHANTOM: orders {phantoms[:10]} exist but were never acknowledged")
    return found


async def judge_trades(
    query: ExchangeClient, symbols: list[str], stored: set[tuple[str, int]]
) -> list[str]:
    """The query API's recent trades: distinct ids, each one the store has."""
    found = []
    for symbol in symbols:
        ids = [int(t["trade_id"]) for t in await query.trades(symbol, 1000)]
        if len(ids) != len(set(ids)):
            found.append(f"DOUBLED: the query API lists a trade of {symbol} twice")
        unknown = [t for t in ids if (symbol, t) not in stored]
        if unknown:
            found.append(f"the query API shows trades {unknown[:10]} of {symbol} the store lacks")
        expected = sum(s == symbol for s, _ in stored)
        if len(ids) < min(expected, 1000):
            found.append(f"{symbol}: the query API lists {len(ids)} trades, the store {expected}")
    return found


async def verify(
    store: EventStore, query: ExchangeClient, ledger: Ledger,
    traders: list[Trader], symbols: list[str], run_id: str,
) -> Verdict:  # fmt: skip
    """Every check on the drained stack."""
    verdict = Verdict()
    verdict.add(ledger.unexpected)
    ids = sorted(ledger.orders)
    stored = await stored_orders(store, ids)
    views: dict[int, OrderView] = {}
    fills: dict[int, list[dict[str, Any]]] = {}
    for order_id in ids:
        events = stored[order_id]
        verdict.add(judge_order(ledger.orders[order_id], events, ledger))
        view = fold_order(events)
        if view is not None:
            views[order_id] = view
            verdict.statuses[view.status] += 1
            fills[order_id] = [e.data for e in events if e.type == FILLED]
    trades, wrong = trade_sides(fills)
    verdict.add(wrong)
    verdict.trades, verdict.fills = len(trades), sum(len(f) for f in fills.values())
    shown = [o for t in traders for o in await shown_orders(t)]
    verdict.add(judge_shown(ledger, views, shown, run_id))
    verdict.add(await judge_trades(query, symbols, trades))
    tools = (("check", "invariants", "--wait", "300"), ("replay", "verify"),
             ("rebuild", "all", "--verify"))  # fmt: skip
    # independent read-only checks: run side by side (each spends most of its time starting)
    outcomes = await asyncio.gather(*(asyncio.to_thread(run_tool, *tool) for tool in tools))
    for tool, (passed, output) in zip(tools, outcomes, strict=True):
        name = "exchange " + " ".join(tool[:2])
        verdict.tools[name] = "passed" if passed else "FAILED"
        if not passed:
            verdict.add([f"{name} failed:\n{output[-3000:]}"])
    return verdict
