"""SIGKILL the matching and settlement workers mid-flow: nothing is lost, nothing is doubled.

Under a stream of random orders from several users, the workers are killed (separately and
together) at random moments; supervisord restarts them. After the system drains, the test's
accounts and orders satisfy every invariant, every order was decided by the engine exactly
once, and each engine shard rebuilt from the store hashes equal to the live one.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess

import httpx
import pytest

from cli.check import verify_shards, wait_until_drained
from cli.invariants import StoreFold, problems
from cli.profiles import PROFILES, ROOT
from common.settings import InfraSettings
from domain import streams
from event_store.mariadb import MariaDbEventStore
from tests.integration.command_api.conftest import Trader
from tests.integration.workers.conftest import funded, list_symbol

pytestmark = pytest.mark.integration

PROFILE = PROFILES["test"]
SUPERVISORCTL = [str(ROOT / ".venv" / "bin" / "supervisorctl"), "-c", str(PROFILE.supervisor_conf)]
ENGINE_DECISIONS = {"OrderAccepted", "OrderRejected"}


def kill(program: str) -> None:
    """SIGKILL one of the stack's programs (supervisord starts it again)."""
    pid = subprocess.run([*SUPERVISORCTL, "pid", program], capture_output=True, text=True)
    if pid.stdout.strip().isdigit() and int(pid.stdout) > 0:
        os.kill(int(pid.stdout), signal.SIGKILL)


async def random_flow(
    api: httpx.AsyncClient, traders: list[Trader], symbols: list[str], count: int, seed: int
) -> list[int]:
    """Limit orders near 100.00 and some cancels; the ids of the orders accepted."""
    rng = random.Random(seed)
    placed: list[tuple[int, Trader]] = []
    for _ in range(count):
        trader = rng.choice(traders)
        if placed and rng.random() < 0.15:
            order_id, owner = rng.choice(placed)
            resp = await api.delete(f"/v1/orders/{order_id}", headers=owner.headers)
            assert resp.status_code in (202, 409), resp.text
            continue
        body = {
            "symbol": rng.choice(symbols), "side": rng.choice(("buy", "sell")), "type": "limit",
            "price": f"{rng.randint(97, 103)}.00", "quantity": rng.randint(1, 5),
            "time_in_force": rng.choice(("GTC", "GTC", "IOC")),
        }  # fmt: skip
        resp = await api.post("/v1/orders", json=body, headers=trader.headers)
        if resp.status_code == 201:
            placed.append((resp.json()["order_id"], trader))
        else:  # the other side of the symbol is open: the opposite-side rule
            assert resp.json()["code"] == "OPPOSITE_SIDE_ORDER_OPEN", resp.text
    return [order_id for order_id, _ in placed]


async def chaos(victims: list[list[str]], seed: int) -> None:
    """Kill each group of programs in turn, at random moments."""
    rng = random.Random(seed)
    for programs in victims:
        await asyncio.sleep(rng.uniform(0.3, 1.5))
        for program in programs:
            kill(program)


async def fold_of(store: MariaDbEventStore, users: set[int], symbols: list[str]) -> StoreFold:
    """The fold of this test's accounts, orders and instruments only."""
    wanted = {streams.account(u) for u in users} | {streams.instrument(s) for s in symbols}
    fold = StoreFold()
    after, last = 0, await store.last_position()
    while after < last:
        batch = await store.read_all(after, 20_000)
        ours = [
            e
            for e in batch
            if e.stream_id in wanted
            or (e.stream_id.startswith("order-") and e.data.get("user_id") in users)
        ]
        fold.add(ours, (e.stream_id for e in ours))
        after = batch[-1].position
    return fold


async def test_killing_the_workers_mid_flow_loses_and_doubles_nothing(
    api: httpx.AsyncClient, store: MariaDbEventStore
) -> None:
    symbols = [await list_symbol(api) for _ in range(2)]
    traders = [await funded(api, "100000.00", {s: 1000 for s in symbols}) for _ in range(6)]
    victims = [["matching"], ["settlement"], ["matching", "settlement"]] * 2

    placed, _ = await asyncio.gather(
        random_flow(api, traders, symbols, 300, seed=11), chaos(victims, seed=12)
    )

    settings = InfraSettings()
    assert await wait_until_drained(store, settings, ["matching", "settlement"], 120)
    fold = await fold_of(store, {t.user_id for t in traders}, symbols)
    assert problems(fold, drained=True) == []
    assert len(fold.fills) > 0
    for order_id in placed:
        types = [e.type for e in await store.read_stream(streams.order(order_id))]
        assert sum(t in ENGINE_DECISIONS for t in types) == 1, (order_id, types)
    live = f"http://127.0.0.1:{PROFILE.ops_port('matching')}"
    assert await verify_shards(settings, [live]) == []
