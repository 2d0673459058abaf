"""A batch's one ``BatchFundsReserved`` on its owner's account, as the auditors' reads see it:
each leg's order lifecycle and the user's lifecycle find it and every leg's order stream, and
the account rebuilt at any position holds each leg's amount."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest

from cli.audit.state import account_as_of
from domain import streams
from event_store.audit import AuditReader, order_lifecycle, symbol_lifecycle, user_lifecycle
from tests.integration.command_api.conftest import new_symbol, new_trader

pytestmark = pytest.mark.integration


@pytest.fixture
async def reader() -> AsyncIterator[AuditReader]:
    reader = AuditReader.from_url(os.environ["EXCHANGE_DATABASE_URL"])
    try:
        yield reader
    finally:
        await reader.close()


async def test_a_batch_s_one_reservation_is_in_each_leg_s_and_the_user_s_lifecycle(
    api: httpx.AsyncClient, reader: AuditReader
) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api, usd="30.00")
    legs = [
        {"symbol": symbol, "side": "buy", "type": "limit", "price": p, "quantity": 1}
        for p in ("10.00", "5.00")
    ]
    resp = await api.post("/v1/orders/batch", json={"orders": legs}, headers=trader.headers)
    assert resp.status_code == 201, resp.text
    batch_id, order_ids = resp.json()["batch_id"], [o["order_id"] for o in resp.json()["orders"]]

    for order_id in order_ids:
        lifecycle = await order_lifecycle(reader, order_id)
        found = {(e.stream_id, e.type) for e in lifecycle}
        assert (streams.account(trader.user_id), "BatchFundsReserved") in found
        assert {(streams.order(order_id), "OrderPlacedInBatch")} < found
        assert (streams.batch(batch_id), "BatchPlaced") in found
    user_streams = {e.stream_id for e in await user_lifecycle(reader, trader.user_id)}
    assert {streams.order(i) for i in order_ids} | {streams.batch(batch_id)} <= user_streams
    reserved = [e for e in lifecycle if e.type == "BatchFundsReserved"]
    in_symbol = [e.position async for e in await symbol_lifecycle(reader, symbol)]
    assert reserved[0].position in in_symbol
    account = await account_as_of(reader, trader.user_id, reserved[0].position)
    assert account.open_holds == 2 and account.version == reserved[0].stream_version
    assert account.balances["USD"].held == "15.00"
