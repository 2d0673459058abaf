"""Writes through the command API that wait until the query API reflects them."""

from __future__ import annotations

import asyncio

import httpx

from tests.integration.command_api.conftest import ADMIN, Trader, unique


async def reflected(query: httpx.AsyncClient, position: int) -> None:
    """Wait until the query API's projection reached ``position``."""
    resp = await query.get(f"/v1/instruments?min_position={position}")
    assert resp.status_code == 200, resp.text


async def listed_symbol(command: httpx.AsyncClient, query: httpx.AsyncClient) -> str:
    """A fresh instrument, visible to the query API."""
    symbol = unique("T").upper()
    resp = await command.post("/v1/instruments", json={"symbol": symbol}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    for _ in range(100):  # (the listing answers no position: poll)
        if (await query.get(f"/v1/books/{symbol}")).status_code == 200:
            return symbol
        await asyncio.sleep(0.05)
    raise AssertionError(f"{symbol} never showed in the query API")


async def ready_trader(
    command: httpx.AsyncClient, query: httpx.AsyncClient, usd: str | None = "1000.00"
) -> Trader:
    """A registered (optionally funded) user whose key the query API already knows."""
    resp = await command.post("/v1/users", json={"username": unique("u")}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    trader = Trader(body["user_id"], {"Authorization": f"Bearer {body['api_key']}"})
    position = body["position"]
    if usd is not None:
        resp = await command.post(
            "/v1/deposits", json={"asset": "USD", "amount": usd}, headers=trader.headers
        )
        assert resp.status_code == 201, resp.text
        position = resp.json()["position"]
    await reflected(query, position)
    return trader
