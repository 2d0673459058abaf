"""Cancel and amend requests: ownership, open orders, and extra holds."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from command_api import idempotency
from command_api.idempotency import Outcome
from command_api.routes.common import STATUS_OF
from command_api.services import order_changes, orders
from command_api.services.base import Context
from command_api.services.errors import NotFound
from domain import streams
from domain.errors import DomainError, ErrorCode
from event_store.memory import InMemoryEventStore
from event_store.model import NewEvent, StreamAppend
from tests.unit.command_api.conftest import buy, list_acme, new_user


async def _placed(ctx: Context) -> tuple[int, int]:
    await list_acme(ctx)
    user_id = await new_user(ctx)
    written = await orders.place_order(ctx, user_id, buy("10.00", 5), None)
    return user_id, int(written.body["order_id"])


async def test_a_cancel_request_is_appended_to_the_order_stream(
    ctx: Context, store: InMemoryEventStore
) -> None:
    user_id, order_id = await _placed(ctx)

    written = await order_changes.cancel_order(ctx, user_id, order_id, None)
    again = await order_changes.cancel_order(ctx, user_id, order_id, None)

    events = await store.read_stream(streams.order(order_id))
    assert written.outcome == Outcome.ACCEPTED and written.body["status"] == "cancel_requested"
    assert [e.type for e in events] == ["OrderPlaced", "CancelRequested"]
    assert written.body["event_id"] == str(events[1].event_id)  # what the engine's answer cites
    assert again == written


async def test_another_users_order_is_not_found(ctx: Context) -> None:
    _, order_id = await _placed(ctx)
    mallory = await new_user(ctx, "mallory")

    with pytest.raises(NotFound) as raised:
        await order_changes.cancel_order(ctx, mallory, order_id, None)

    assert raised.value.code == "NOT_FOUND"


async def test_a_closed_order_cannot_be_cancelled(ctx: Context, store: InMemoryEventStore) -> None:
    user_id, order_id = await _placed(ctx)
    closed = {"symbol": "ACME", "order_id": order_id, "user_id": user_id, "quantity": 5,
              "reason": "IOC_REMAINDER", "at": 1}  # fmt: skip
    await store.append(StreamAppend(streams.order(order_id), [NewEvent("OrderExpired", closed)]))

    with pytest.raises(DomainError) as raised:
        await order_changes.cancel_order(ctx, user_id, order_id, None)

    assert raised.value.code == ErrorCode.ORDER_NOT_OPEN


async def test_raising_a_buy_price_reserves_the_difference(
    ctx: Context, store: InMemoryEventStore
) -> None:
    user_id, order_id = await _placed(ctx)

    written = await order_changes.amend_order(ctx, user_id, order_id, None, "12.00", None)

    (_, amend) = await store.read_stream(streams.order(order_id))
    assert written.outcome == Outcome.ACCEPTED and amend.type == "AmendRequested"
    assert amend.data["price"] == 1200 and amend.data["quantity"] is None
    assert ctx.repo.account_entry(user_id).account.reserved_for(order_id) == 6000


async def test_reducing_a_quantity_reserves_nothing_more(ctx: Context) -> None:
    user_id, order_id = await _placed(ctx)

    await order_changes.amend_order(ctx, user_id, order_id, 2, None, None)

    assert ctx.repo.account_entry(user_id).account.reserved_for(order_id) == 5000


async def test_an_amend_to_or_below_the_filled_quantity_is_invalid(
    ctx: Context, store: InMemoryEventStore
) -> None:
    user_id, order_id = await _placed(ctx)
    fill = {"symbol": "ACME", "order_id": order_id, "user_id": user_id, "trade_id": 1,
            "side": "buy", "price": 1000, "quantity": 3, "remaining": 2, "liquidity": "maker",
            "at": 1}  # fmt: skip
    await store.append(StreamAppend(streams.order(order_id), [NewEvent("OrderFilled", fill)]))

    with pytest.raises(DomainError) as raised:
        await order_changes.amend_order(ctx, user_id, order_id, 3, None, None)

    assert raised.value.code == ErrorCode.INVALID_QUANTITY


async def test_an_amend_without_changes_is_invalid(ctx: Context) -> None:
    user_id, order_id = await _placed(ctx)

    with pytest.raises(DomainError):
        await order_changes.amend_order(ctx, user_id, order_id, None, None, None)


async def test_a_refused_resend_replays_the_keys_record_read_with_the_other_tail_reads(
    ctx: Context, store: InMemoryEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, order_id = await _placed(ctx)
    path = f"/v1/orders/{order_id}"
    claim = idempotency.claim(str(user_id), "k1", "DELETE", path, None, STATUS_OF)
    first = await order_changes.cancel_order(ctx, user_id, order_id, claim)
    closed = {"symbol": "ACME", "order_id": order_id, "user_id": user_id, "quantity": 5,
              "reason": "IOC_REMAINDER", "at": 1}  # fmt: skip
    await store.append(StreamAppend(streams.order(order_id), [NewEvent("OrderExpired", closed)]))
    coalesced: list[str] = []
    read_stream_tails = store.read_stream_tails

    async def spied(from_versions: dict[str, int]) -> Any:
        coalesced.extend(from_versions)
        return await read_stream_tails(from_versions)

    monkeypatch.setattr(store, "read_stream_tails", spied)

    again = await order_changes.cancel_order(ctx, user_id, order_id, claim)

    assert again.replayed and again.outcome == first.outcome
    assert orjson.dumps(again.body) == orjson.dumps(first.body)  # (the same bytes answered)
    assert claim.stream_id in coalesced  # (with the other requests' reads: no statement of its own)
