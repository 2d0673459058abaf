"""Two matching workers in one consumer group: they split the partitions, and when one is
paused the other takes its partitions over from the last committed position."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from cli.check import live_shards, verify_shards, wait_until_drained
from cli.invariants import problems
from cli.profiles import PROFILES, ROOT
from common.settings import InfraSettings
from event_store.mariadb import MariaDbEventStore
from event_store.outbox import partition_of
from tests.integration.workers.conftest import eventually, funded, list_symbol, order_status, place
from tests.integration.workers.test_crash import fold_of

pytestmark = pytest.mark.integration

PROFILE = PROFILES["test"]
FIRST = f"http://127.0.0.1:{PROFILE.ops_port('matching')}"
SECOND_PORT = PROFILE.command_api_port + 9


@pytest.fixture
def second_worker() -> Iterator[subprocess.Popen[bytes]]:
    """Another ``python -m workers.matching`` in the same group, stopped after the test."""
    env = {**os.environ, **PROFILE.service_env(), "EXCHANGE_OPS_PORT": str(SECOND_PORT)}
    log = open(PROFILE.logs / "matching-second.log", "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.matching"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    yield process
    process.send_signal(signal.SIGCONT)
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


async def owned(url: str) -> set[int]:
    """The partitions a worker holds now."""
    return set(await live_shards([url]))


async def test_a_paused_worker_s_partitions_move_to_the_other_one(
    api: httpx.AsyncClient, store: MariaDbEventStore, second_worker: subprocess.Popen[bytes]
) -> None:
    second = f"http://127.0.0.1:{SECOND_PORT}"
    split = await eventually(
        lambda: asyncio.gather(owned(FIRST), owned(second)),
        lambda both: bool(both[0]) and bool(both[1]) and both[0] | both[1] == {0, 1, 2, 3},
        within_s=60,
    )
    assert split[0] and split[1] and not split[0] & split[1], split
    symbols: dict[int, str] = {}
    while len(symbols) < 4:
        symbol = await list_symbol(api)
        symbols.setdefault(partition_of(symbol.encode(), 4), symbol)
    seller = await funded(api, "0.00", {s: 10 for s in symbols.values()})
    buyer = await funded(api, "1000.00")

    second_worker.send_signal(signal.SIGSTOP)
    orders = []
    for symbol in symbols.values():
        orders.append((await place(api, seller, symbol, "sell", 2, "10.00"), "filled"))
        orders.append((await place(api, buyer, symbol, "buy", 2, "10.00"), "filled"))

    for order_id, status in orders:
        await order_status(store, order_id, status)
    assert await owned(FIRST) == {0, 1, 2, 3}
    second_worker.send_signal(signal.SIGCONT)
    settings = InfraSettings()
    assert await wait_until_drained(store, settings, ["matching", "settlement"], 60)
    fold = await fold_of(store, {seller.user_id, buyer.user_id}, list(symbols.values()))
    assert problems(fold, drained=True) == []
    assert len(fold.fills) == 4
    assert await verify_shards(settings, [FIRST, second]) == []
