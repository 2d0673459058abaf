"""The Python client against the running test stack, straight and through nginx."""

from __future__ import annotations

import pytest

from client import (
    NO_RETRY,
    Conflict,
    ExchangeClient,
    Forbidden,
    NotFound,
    Rejected,
    RetryPolicy,
    Unauthorized,
    Unavailable,
    order,
)
from client.models import OrderEvent
from tests.integration.client.conftest import funded_user, listed, unique
from tests.integration.workers.conftest import eventually

pytestmark = pytest.mark.integration


def caused_by(events: list[OrderEvent], event_id: str | None) -> list[str]:
    """The types of the events the engine wrote in answer to the request ``event_id``."""
    return [e["type"] for e in events if e.get("causation_id") == event_id]


async def test_a_trade_is_read_back_through_every_query_route(admin: ExchangeClient) -> None:
    symbol = await listed(admin)
    seller = await funded_user(admin, usd=None, shares={symbol: 50})
    buyer = await funded_user(admin, usd="1000.00")

    await seller.place_order(order(symbol, "sell", 10, "101.00", time_in_force="GTC"))
    placed = await buyer.place_order(
        order(symbol, "buy", 3, "101.25", time_in_force="GTC", client_order_id=unique("b"))
    )
    lifecycle = await buyer.processed_order(
        placed["order_id"], placed["position"], caused_by=placed["event_id"]
    )
    filled = await buyer.order(placed["order_id"], min_position=lifecycle[-1]["position"])

    assert [e["type"] for e in lifecycle][-1] == "OrderFilled"
    assert caused_by(lifecycle, placed["event_id"]) == ["OrderAccepted", "OrderFilled"]
    assert filled.get("caused_by") == placed["event_id"]
    assert (filled["status"], filled["filled_quantity"], filled["avg_fill_price"]) == (
        "filled", 3, "101.00"
    )  # fmt: skip
    assert [o["order_id"] for o in await buyer.orders(symbol=symbol)] == [placed["order_id"]]
    trades = await buyer.trades(symbol)
    assert [(t["price"], t["quantity"], t["taker_side"]) for t in trades] == [("101.00", 3, "buy")]
    book = await buyer.book(symbol)
    assert (book["bids"], book["asks"]) == ([], [["101.00", 7]])
    assert (await buyer.book_orders(symbol))["asks"][0]["quantity"] == 7
    assert sum(c["volume"] for c in await buyer.candles(symbol)) == 3
    # (settlement books the fill after the engine wrote it: the fill's position does not cover it)
    account = await eventually(buyer.account, lambda a: symbol in a["balances"])
    assert account["balances"][symbol]["total"] == 3
    assert {e["kind"] for e in await buyer.ledger()} >= {"deposit", "trade"}
    assert symbol in {i["symbol"] for i in await buyer.instruments()}
    assert buyer.read_position is not None and buyer.read_position >= placed["position"]


async def test_a_read_after_a_write_sees_the_write(admin: ExchangeClient) -> None:
    symbol = await listed(admin)
    trader = await funded_user(admin)

    placed = await trader.place_order(order(symbol, "buy", 1, "1.00", time_in_force="GTC"))
    shown = await trader.order(placed["order_id"])  # (no explicit min_position)

    assert trader.written_position == placed["position"]
    assert shown["order_id"] == placed["order_id"]


async def test_problems_become_typed_exceptions_with_their_code(admin: ExchangeClient) -> None:
    symbol = await listed(admin)
    trader = await funded_user(admin, usd="10.00")

    with pytest.raises(Rejected) as poor:
        await trader.place_order(order(symbol, "buy", 100, "5.00"))
    with pytest.raises(Rejected) as off_tick:
        await trader.place_order(order(symbol, "buy", 1, "5.001"))
    with pytest.raises(NotFound) as missing:
        await trader.order(999_999_999)  # after its deposit: the query API knows its key
    name = unique("dup")
    await admin.create_user(name)
    with pytest.raises(Conflict) as taken:
        await admin.create_user(name.upper())
    with pytest.raises(Forbidden) as not_admin:
        await trader.list_instrument(unique("F").upper())
    with pytest.raises(Unauthorized) as stranger:
        await admin.as_user("not-a-key").account()

    assert (poor.value.status, poor.value.code) == (422, "INSUFFICIENT_FUNDS")
    assert off_tick.value.code == "INVALID_PRICE" and off_tick.value.detail
    assert (missing.value.status, missing.value.code) == (404, "NOT_FOUND")
    assert (taken.value.status, taken.value.code) == (409, "USERNAME_TAKEN")
    assert (not_admin.value.status, stranger.value.status) == (403, 401)


async def test_cancelling_a_closed_order_is_a_conflict(admin: ExchangeClient) -> None:
    symbol = await listed(admin)
    trader = await funded_user(admin)
    placed = await trader.place_order(order(symbol, "buy", 1, "2.00", time_in_force="GTC"))
    await trader.processed_order(placed["order_id"], placed["position"])

    cancelled = await trader.cancel_order(placed["order_id"])
    lifecycle = await trader.processed_order(
        placed["order_id"], cancelled["position"], caused_by=cancelled["event_id"]
    )
    with pytest.raises(Conflict) as again:
        await trader.cancel_order(placed["order_id"])

    assert cancelled["status"] == "cancel_requested"
    assert lifecycle[-1]["type"] == "OrderCancelled"
    assert caused_by(lifecycle, cancelled["event_id"]) == ["OrderCancelled"]
    assert again.value.code == "ORDER_NOT_OPEN"


async def test_a_resent_placement_names_the_first_request(
    admin: ExchangeClient,
) -> None:
    symbol = await listed(admin)
    trader = await funded_user(admin)
    request = order(symbol, "buy", 1, "2.00", time_in_force="GTC", client_order_id=unique("r"))
    placed = await trader.place_order(request)
    resent = await trader.place_order(request)
    lifecycle = await trader.processed_order(
        placed["order_id"], resent["position"], caused_by=resent["event_id"]
    )

    assert resent["event_id"] == placed["event_id"] is not None
    assert caused_by(lifecycle, placed["event_id"]) == ["OrderAccepted"]


async def test_an_amend_and_a_batch_are_accepted(admin: ExchangeClient) -> None:
    symbol = await listed(admin)
    trader = await funded_user(admin)
    batch = await trader.place_batch(
        [order(symbol, "buy", 5, f"{p}.00", time_in_force="GTC") for p in (1, 2, 3)],
        all_or_nothing=False,
    )

    first = batch["orders"][0]["order_id"]
    amended = await trader.amend_order(first, quantity=4)
    events = await trader.processed_order(
        first, amended["position"], caused_by=amended["event_id"]
    )  # (the placement's OrderAccepted may land after the amend request: not its answer)
    answer = next(e for e in events if e.get("causation_id") == amended["event_id"])
    book = await trader.book(symbol, min_position=answer["position"])
    shown = await trader.order(first, min_position=answer["position"])

    assert [leg["status"] for leg in batch["orders"]] == ["accepted"] * 3
    assert amended["status"] == "amend_requested"
    assert caused_by(events, amended["event_id"]) == ["OrderAmended"]
    assert caused_by(events, batch["event_id"]) == ["OrderAccepted"]
    assert shown.get("caused_by") == amended["event_id"]
    assert book["bids"] == [["3.00", 5], ["2.00", 5], ["1.00", 4]]


async def test_the_same_idempotency_key_gives_the_first_answer_once(admin: ExchangeClient) -> None:
    trader = await funded_user(admin, usd=None)
    key = unique("idem")

    first = await trader.deposit("USD", "7.00", idempotency_key=key)
    again = await trader.deposit("USD", "7.00", idempotency_key=key)
    with pytest.raises(Conflict) as other_body:
        await trader.deposit("USD", "8.00", idempotency_key=key)
    account = await trader.account()

    assert again == first
    assert other_body.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert account["balances"]["USD"]["total"] == "7.00"


async def test_a_read_the_projection_cannot_reach_is_retried_then_raised(
    admin: ExchangeClient,
) -> None:
    patient = RetryPolicy(attempts=2, cap_s=1.0, deadline_s=10.0)
    reader = ExchangeClient("", "", transport=admin.transport)
    reader.transport.retry, before = patient, admin.transport.retries
    try:
        with pytest.raises(Unavailable) as behind:
            await reader.instruments(min_position=2**62)
    finally:
        reader.transport.retry = NO_RETRY

    assert (behind.value.status, behind.value.code) == (503, "PROJECTION_BEHIND")
    assert behind.value.retry_after_s == 1.0
    assert admin.transport.retries == before + 1
