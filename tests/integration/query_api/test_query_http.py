"""The query API over HTTP on the running test stack: write through the command API, read back
with ``min_position`` (read-your-writes), every route and its errors, isolation between users.

Needs the whole pipeline running: command API → store → relay → matching/settlement →
projector → Redis → query API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.command_api.conftest import ADMIN, Trader, assert_problem
from tests.integration.query_api.helpers import listed_symbol, ready_trader

pytestmark = pytest.mark.integration


@pytest.fixture
async def command(command_api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=command_api_url, timeout=10) as client:
        yield client


@pytest.fixture(params=["direct", "nginx"])
async def query(
    request: pytest.FixtureRequest, query_api_url: str, nginx_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    base = query_api_url if request.param == "direct" else f"{nginx_url}/api/query"
    async with httpx.AsyncClient(base_url=base, timeout=15) as client:
        yield client


async def _order(
    command: httpx.AsyncClient, trader: Trader, symbol: str, side: str, price: str, qty: int
) -> dict[str, Any]:
    body = {"symbol": symbol, "side": side, "type": "limit", "price": price, "quantity": qty}
    resp = await command.post(
        "/v1/orders", json={**body, "time_in_force": "GTC"}, headers=trader.headers
    )
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


async def _settled(query: httpx.AsyncClient, path: str, trader: Trader, check: Any) -> Any:
    """Poll ``path`` until ``check(body)`` holds (the workers act after the command's position)."""
    for _ in range(100):
        resp = await query.get(path, headers=trader.headers)
        if resp.status_code == 200 and check(resp.json()):
            return resp.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never settled: {resp.text}")


async def test_a_trade_shows_in_book_trades_candles_orders_and_accounts(
    command: httpx.AsyncClient, query: httpx.AsyncClient
) -> None:
    symbol = await listed_symbol(command, query)
    seller = await ready_trader(command, query, usd=None)
    buyer = await ready_trader(command, query, usd="1000.00")
    resp = await command.post(
        "/v1/deposits", json={"asset": symbol, "amount": 50}, headers=seller.headers
    )
    assert resp.status_code == 201

    sell = await _order(command, seller, symbol, "sell", "10.50", 30)
    resp = await query.get(
        f"/v1/orders/{sell['order_id']}?min_position={sell['position']}", headers=seller.headers
    )
    assert resp.status_code == 200, resp.text
    assert int(resp.headers["x-projection-position"]) >= sell["position"]
    assert resp.json()["symbol"] == symbol and resp.json()["price"] == "10.50"

    await _settled(query, f"/v1/books/{symbol}", seller, lambda b: b["asks"] == [["10.50", 30]])
    buy = await _order(command, buyer, symbol, "buy", "11.00", 10)
    order = await _settled(
        query, f"/v1/orders/{buy['order_id']}", buyer, lambda o: o["status"] == "filled"
    )
    assert (order["filled_quantity"], order["avg_fill_price"]) == (10, "10.50")

    book = await _settled(
        query, f"/v1/books/{symbol}?depth=5", buyer, lambda b: b["asks"] == [["10.50", 20]]
    )
    assert book["bids"] == []
    trades = (await query.get(f"/v1/trades/{symbol}")).json()
    assert [(t["price"], t["quantity"], t["taker_side"]) for t in trades] == [("10.50", 10, "buy")]
    candles = (await query.get(f"/v1/candles/{symbol}?interval=1m")).json()
    assert [(c["open"], c["close"], c["volume"]) for c in candles] == [("10.50", "10.50", 10)]
    account = await _settled(
        query, "/v1/account", buyer, lambda a: a["balances"].get(symbol, {}).get("total") == 10
    )
    assert account["balances"]["USD"] == {"total": "895.00", "available": "895.00", "held": "0.00"}
    ledger = (await query.get("/v1/account/ledger", headers=buyer.headers)).json()
    assert [(e["kind"], e["asset"], e["delta"]) for e in ledger[:2]] == [
        ("trade", "USD", "-105.00"),
        ("trade", symbol, 10),
    ] or [(e["kind"], e["asset"]) for e in ledger[:2]] == [("trade", symbol), ("trade", "USD")]
    events = (await query.get(f"/v1/orders/{buy['order_id']}/events", headers=buyer.headers)).json()
    assert [e["type"] for e in events] == ["OrderPlaced", "OrderAccepted", "OrderFilled"]
    assert events[2]["data"]["price"] == "10.50"


async def test_users_see_only_their_own_orders(
    command: httpx.AsyncClient, query: httpx.AsyncClient
) -> None:
    symbol = await listed_symbol(command, query)
    alice, bob = await ready_trader(command, query), await ready_trader(command, query)
    placed = await _order(command, alice, symbol, "buy", "1.00", 5)

    mine = await query.get(
        f"/v1/orders/{placed['order_id']}?min_position={placed['position']}", headers=alice.headers
    )
    theirs = await query.get(f"/v1/orders/{placed['order_id']}", headers=bob.headers)
    history = await query.get(f"/v1/orders/{placed['order_id']}/events", headers=bob.headers)
    listed = await query.get(f"/v1/orders?symbol={symbol}", headers=bob.headers)

    assert mine.status_code == 200
    assert_problem(theirs, 404, "NOT_FOUND")
    assert_problem(history, 404, "NOT_FOUND")
    assert listed.json() == []
    filtered = await query.get(f"/v1/orders?symbol={symbol}&status=accepted", headers=alice.headers)
    assert [o["order_id"] for o in filtered.json()] == [placed["order_id"]]


async def test_errors_are_problem_json_with_a_projection_position(
    query: httpx.AsyncClient, command: httpx.AsyncClient
) -> None:
    trader = await ready_trader(command, query, usd=None)

    assert_problem(await query.get("/v1/books/NOPE_NOT_LISTED"), 404, "UNKNOWN_SYMBOL")
    assert_problem(await query.get("/v1/account"), 401, "UNAUTHORIZED")
    assert_problem(
        await query.get("/v1/account", headers={"Authorization": "Bearer nope"}),
        401,
        "UNAUTHORIZED",
    )
    assert_problem(await query.get("/v1/account", headers=ADMIN), 403, "FORBIDDEN")
    assert_problem(await query.get("/v1/orders/12345", headers=trader.headers), 404, "NOT_FOUND")
    assert_problem(
        await query.get("/v1/orders?status=open", headers=trader.headers), 422, "VALIDATION_ERROR"
    )
    listed = await query.get("/v1/instruments")
    assert int(listed.headers["x-projection-position"]) > 0
    bad_depth = await query.get(f"/v1/books/{listed.json()[0]['symbol']}?depth=0")
    assert_problem(bad_depth, 422, "VALIDATION_ERROR")
    assert "x-projection-position" in bad_depth.headers


async def test_min_position_beyond_the_store_answers_503_with_retry_after(
    query: httpx.AsyncClient,
) -> None:
    resp = await query.get("/v1/instruments?min_position=999999999999")

    assert_problem(resp, 503, "PROJECTION_BEHIND")
    assert resp.headers["retry-after"] == "1"
    assert int(resp.headers["x-projection-position"]) > 0


async def test_a_min_position_past_any_store_position_is_422_not_a_crash(
    query: httpx.AsyncClient,
) -> None:
    # (it was waited for, then its 503 body could not be encoded: a 500 in text/plain)
    resp = await query.get(f"/v1/instruments?min_position={2**64}")

    assert_problem(resp, 422, "VALIDATION_ERROR")


async def test_readiness_depends_on_redis_alone(query_api_url: str) -> None:
    # (on the service's own port: nginx serves no /ready, see tests/integration/test_front_door.py)
    async with httpx.AsyncClient(base_url=query_api_url, timeout=15) as direct:
        resp = await direct.get("/ready")

    assert resp.status_code == 200
    assert set(resp.json()["dependencies"]) == {"redis"}


async def test_the_fast_path_and_fastapi_answer_the_same_book_and_account(
    command: httpx.AsyncClient, query: httpx.AsyncClient
) -> None:
    symbol = await listed_symbol(command, query)
    trader = await ready_trader(command, query, usd="500.00")
    placed = await _order(command, trader, symbol, "buy", "2.50", 4)
    await query.get(f"/v1/orders/{placed['order_id']}?min_position={placed['position']}")
    await _settled(query, f"/v1/books/{symbol}", trader, lambda b: b["bids"] == [["2.50", 4]])

    fast = (await query.get(f"/v1/books/{symbol}?depth=3")).json()
    slow = (await query.get(f"/v1/books/{symbol}?depth=3&min_position=1")).json()
    fast_account = (await query.get("/v1/account", headers=trader.headers)).json()
    slow_account = (await query.get("/v1/account?min_position=1", headers=trader.headers)).json()

    l3 = (await query.get(f"/v1/books/{symbol}/orders")).json()
    assert l3["bids"] == [{"price": "2.50", "quantity": 4, "orders": [[placed["order_id"], 4]]}]
    for body in (fast, slow, fast_account, slow_account):
        body.pop("position")
    assert fast == slow
    assert fast_account == slow_account
    assert fast_account["balances"]["USD"] == {
        "total": "500.00",
        "available": "490.00",
        "held": "10.00",
    }
