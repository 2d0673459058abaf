"""The workers wait out a MariaDB outage with backoff and resume where they stood."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import httpx
import pytest

from event_store.mariadb import MariaDbEventStore
from tests.integration.workers.conftest import Expect, balances, funded, list_symbol, place
from tests.integration.workers.test_crash import SUPERVISORCTL

pytestmark = pytest.mark.integration


def supervise(action: str, program: str) -> None:
    """``supervisorctl <action> <program>`` on the test stack."""
    subprocess.run([*SUPERVISORCTL, action, program], check=True, capture_output=True)


async def test_trades_in_flight_when_mariadb_stops_settle_once_it_is_back(
    api: httpx.AsyncClient,
) -> None:
    symbol = await list_symbol(api)
    seller = await funded(api, "0.00", {symbol: 20})
    buyer = await funded(api, "1000.00")
    for _ in range(5):
        await place(api, seller, symbol, "sell", 2, "10.00")
    for _ in range(5):
        await place(api, buyer, symbol, "buy", 2, "10.00")

    supervise("stop", "mariadb")  # the workers are somewhere in the middle of these orders
    try:
        await asyncio.sleep(4)
    finally:
        supervise("start", "mariadb")

    store = MariaDbEventStore.from_url(os.environ["EXCHANGE_DATABASE_URL"])
    try:
        await balances(store, buyer.user_id, Expect("USD", 90000, 0), Expect(symbol, 10, 0))
        await balances(store, seller.user_id, Expect("USD", 10000, 0), Expect(symbol, 10, 0))
    finally:
        await store.close()
    assert await writes_again(api, seller.headers) == 201


async def writes_again(api: httpx.AsyncClient, headers: dict[str, str]) -> int:
    """The command API's answer to a deposit once it reconnected (503 until then; 30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        resp = await api.post(
            "/v1/deposits", json={"asset": "USD", "amount": "1.00"}, headers=headers
        )
        if resp.status_code != 503 or time.monotonic() > deadline:
            return resp.status_code
        await asyncio.sleep(0.2)
