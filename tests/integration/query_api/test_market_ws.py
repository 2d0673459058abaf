"""The market-data WebSocket on the running stack: snapshot, then gap-free deltas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.integration.query_api.helpers import listed_symbol, ready_trader

pytestmark = pytest.mark.integration


@pytest.fixture
async def command(command_api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=command_api_url, timeout=10) as client:
        yield client


@pytest.fixture
async def query(query_api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=query_api_url, timeout=15) as client:
        yield client


async def test_a_burst_of_orders_arrives_as_deltas_with_gap_free_seq(
    command: httpx.AsyncClient, query: httpx.AsyncClient, query_api_url: str
) -> None:
    symbol = await listed_symbol(command, query)
    trader = await ready_trader(command, query, usd="100000.00")
    url = query_api_url.replace("http://", "ws://") + f"/v1/ws/market/{symbol}"
    async with connect(url) as socket:
        snapshot = orjson.loads(await socket.recv())
        assert (snapshot["type"], snapshot["bids"], snapshot["asks"]) == ("snapshot", [], [])
        for i in range(20):
            body = {"symbol": symbol, "side": "buy", "type": "limit", "quantity": 1}
            body |= {"price": f"{1 + i}.00", "time_in_force": "GTC"}
            resp = await command.post("/v1/orders", json=body, headers=trader.headers)
            assert resp.status_code == 201, resp.text
        seqs, levels = [], {}
        while len(levels) < 20:
            update = orjson.loads(await asyncio.wait_for(socket.recv(), 10))
            seqs.append(update["seq"])
            levels |= {row["price"]: row["quantity"] for row in update["book"]}

    assert seqs == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(seqs)))
    assert levels == {f"{1 + i}.00": 1 for i in range(20)}


async def test_an_unknown_symbol_is_refused(query_api_url: str) -> None:
    url = query_api_url.replace("http://", "ws://") + "/v1/ws/market/NOT_LISTED_X"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url) as socket:
            await asyncio.wait_for(socket.recv(), 5)

    answer = refused.value.response  # the handshake's answer: the book's 404, problem+json
    assert (answer.status_code, answer.headers["content-type"]) == (404, "application/problem+json")
    assert orjson.loads(answer.body)["code"] == "UNKNOWN_SYMBOL"
