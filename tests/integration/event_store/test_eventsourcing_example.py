"""The README's eventsourcing example, run as a script on the test stack's store.

Its events land among the exchange's own: the relay publishes them, and the matching worker,
settlement and the projector must pass over them (they know none of their types), so a trade
placed afterwards still fills, settles and shows in the query API.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from event_store.mariadb import MariaDbEventStore
from tests.integration.command_api.conftest import Trader, unique
from tests.integration.query_api.helpers import listed_symbol, ready_trader

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def command(command_api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=command_api_url, timeout=10) as client:
        yield client


@pytest.fixture
async def query(query_api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=query_api_url, timeout=15) as client:
        yield client


async def run_example(*symbols: str) -> list[str]:
    """``python -m examples.eventsourcing_app <symbols>`` on the test stack; its output lines."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "examples.eventsourcing_app",
        *symbols,
        cwd=ROOT,
        env={**os.environ, "PERSISTENCE_MODULE": "event_store.eventsourcing"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    return out.decode().splitlines()


async def polled(
    query: httpx.AsyncClient, path: str, trader: Trader, check: Callable[[Any], bool]
) -> Any:
    """``path`` once ``check`` holds for its body (the workers act after the command)."""
    for _ in range(300):
        resp = await query.get(path, headers=trader.headers)
        if resp.status_code == 200 and check(resp.json()):
            return resp.json()
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never got there: {resp.text}")


async def test_the_example_counts_its_watchlists_through_a_projection_of_the_store() -> None:
    acme, init = unique("E").upper(), unique("E").upper()

    lines = await run_example(acme, init, acme)

    assert f"{acme}: added 2 times" in lines
    assert f"{init}: added 1 times" in lines
    again = await run_example(acme)
    assert f"{acme}: added 3 times" in again


async def test_the_workers_pass_over_eventsourcing_events_and_keep_trading(
    command: httpx.AsyncClient, query: httpx.AsyncClient
) -> None:
    store = MariaDbEventStore.from_url(os.environ["EXCHANGE_DATABASE_URL"])
    try:
        before = await store.last_position()
        await run_example(unique("E").upper())
        foreign = [e for e in await store.read_all(before, 1000) if e.stream_id.startswith("es:")]
    finally:
        await store.close()
    assert {e.type.rsplit(".", 1)[-1] for e in foreign} >= {"Created", "SymbolAdded", "Watched"}

    symbol = await listed_symbol(command, query)
    seller = await ready_trader(command, query, usd=None)
    buyer = await ready_trader(command, query, usd="1000.00")
    resp = await command.post(
        "/v1/deposits", json={"asset": symbol, "amount": 10}, headers=seller.headers
    )
    assert resp.status_code == 201, resp.text
    order = {"symbol": symbol, "type": "limit", "price": "10.00", "quantity": 10}
    for trader, side in ((seller, "sell"), (buyer, "buy")):
        resp = await command.post(
            "/v1/orders",
            json={**order, "side": side, "time_in_force": "GTC"},
            headers=trader.headers,
        )
        assert resp.status_code == 201, resp.text
    bought = resp.json()
    assert bought["position"] > max(e.position for e in foreign)

    filled = await polled(
        query, f"/v1/orders/{bought['order_id']}", buyer, lambda o: o["status"] == "filled"
    )
    assert filled["avg_fill_price"] == "10.00"
    await polled(
        query, "/v1/account", buyer, lambda a: a["balances"].get(symbol, {}).get("total") == 10
    )
