"""Placing orders and batches: checks, holds, client order ids, idempotency keys."""

from __future__ import annotations

import asyncio

import pytest

from command_api import idempotency
from command_api.idempotency import Outcome
from command_api.routes.common import STATUS_OF
from command_api.services import funding, orders
from command_api.services.base import Context
from command_api.services.errors import DuplicateClientOrderId, IdempotencyKeyReused
from domain import streams
from domain.account import Account
from domain.errors import DomainError, ErrorCode
from domain.events import event_from_dict
from domain.folds import fold_account
from domain.order_requests import BatchPlaced, stored_leg
from domain.values import MAX_DECIMAL_LENGTH
from event_store.memory import InMemoryEventStore
from tests.unit.command_api.conftest import NOW, buy, list_acme, new_user


async def test_a_limit_buy_reserves_its_cash_and_appends_order_and_hold_together(
    ctx: Context, store: InMemoryEventStore
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx)

    written = await orders.place_order(ctx, user_id, buy("10.00", 5), None)

    order_id = written.body["order_id"]
    (placed,) = await store.read_stream(streams.order(order_id))
    reserved = (await store.read_stream(streams.account(user_id)))[-1]
    assert written.outcome == Outcome.CREATED
    assert placed.type == "OrderPlaced"
    assert placed.data["symbol"] == "ACME" and placed.data["price"] == 1000
    assert placed.data["at"] == NOW
    assert reserved.type == "FundsReserved"
    assert reserved.data == {
        "user_id": user_id,
        "asset": "USD",
        "amount": 5000,
        "order_id": order_id,
        "symbol": "ACME",
        "side": "buy",
        "at": NOW,
    }
    assert written.position == placed.position == reserved.position + 1


async def test_the_same_client_order_id_returns_the_original_order(ctx: Context) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx)
    first = await orders.place_order(ctx, user_id, buy(client_order_id="c-1"), None)

    again = await orders.place_order(ctx, user_id, buy(quantity=7, client_order_id="c-1"), None)

    entry = ctx.repo.account_entry(user_id)
    await ctx.repo.refresh(entry)  # (the resend's speculative hold was dropped on its conflict)
    assert again.outcome == Outcome.ORIGINAL
    assert again.body == first.body
    assert entry.account.balance("USD").held == 5000


async def test_a_sell_needs_the_shares_and_reserves_them(ctx: Context) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx)
    sell = buy(side="sell", quantity=3)
    with pytest.raises(DomainError) as raised:
        await orders.place_order(ctx, user_id, sell, None)
    await funding.deposit(ctx, user_id, "ACME", 3, None)

    await orders.place_order(ctx, user_id, sell, None)

    assert raised.value.code == ErrorCode.INSUFFICIENT_HOLDINGS
    assert ctx.repo.account_entry(user_id).account.balance("ACME").held == 3


async def test_an_open_buy_blocks_a_sell_of_the_same_symbol(ctx: Context) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx)
    await funding.deposit(ctx, user_id, "ACME", 3, None)
    await orders.place_order(ctx, user_id, buy(), None)

    with pytest.raises(DomainError) as raised:
        await orders.place_order(ctx, user_id, buy(side="sell", quantity=3), None)

    assert raised.value.code == ErrorCode.OPPOSITE_SIDE_ORDER_OPEN


@pytest.mark.parametrize(
    ("terms", "code"),
    [
        (buy(price="10.001"), ErrorCode.INVALID_PRICE),
        (buy(price="0"), ErrorCode.INVALID_PRICE),
        (buy(price="1" * (MAX_DECIMAL_LENGTH + 1)), ErrorCode.INVALID_PRICE),
        (buy(price=None), ErrorCode.INVALID_PRICE),
        (buy(quantity=0), ErrorCode.INVALID_QUANTITY),
        (buy(quantity=-5), ErrorCode.INVALID_QUANTITY),
        (buy(symbol="NOPE"), ErrorCode.UNKNOWN_SYMBOL),
        (buy(quantity=1000), ErrorCode.INSUFFICIENT_FUNDS),
        (buy(order_type="market", price=None, time_in_force="GTC"),
         ErrorCode.INVALID_TIME_IN_FORCE),
        (buy(order_type="market"), ErrorCode.INVALID_PRICE),
        (buy(post_only=True, time_in_force="IOC"), ErrorCode.INVALID_ORDER),
    ],
)  # fmt: skip
async def test_an_order_the_api_can_refuse_at_once_appends_nothing(
    ctx: Context, store: InMemoryEventStore, terms: orders.OrderTerms, code: ErrorCode
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx)
    before = await store.last_position()

    with pytest.raises(DomainError) as raised:
        await orders.place_order(ctx, user_id, terms, None)

    assert raised.value.code == code
    assert await store.last_position() == before


async def test_a_quantity_off_the_lot_is_invalid(ctx: Context) -> None:
    await list_acme(ctx, lot_size=10)
    user_id = await new_user(ctx)

    with pytest.raises(DomainError) as raised:
        await orders.place_order(ctx, user_id, buy(quantity=15), None)

    assert raised.value.code == ErrorCode.INVALID_QUANTITY


async def test_a_market_buy_holds_the_available_cash_and_bounds_its_spending(
    ctx: Context, store: InMemoryEventStore
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="100.00")

    written = await orders.place_order(ctx, user_id, buy(order_type="market", price=None), None)

    (placed,) = await store.read_stream(streams.order(written.body["order_id"]))
    assert placed.data["time_in_force"] == "IOC"
    assert placed.data["max_notional"] == 10000
    assert ctx.repo.account_entry(user_id).account.available("USD") == 0


async def test_a_day_order_expires_at_the_next_session_close(
    ctx: Context, store: InMemoryEventStore
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx)

    written = await orders.place_order(ctx, user_id, buy(time_in_force="DAY"), None)

    (placed,) = await store.read_stream(streams.order(written.body["order_id"]))
    assert placed.data["expires_at"] == ctx.next_session_close(NOW)
    assert NOW < placed.data["expires_at"] <= NOW + 86_400 * 10**9


async def test_concurrent_buys_never_hold_more_than_the_balance(ctx: Context) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="100.00")

    results = await asyncio.gather(
        *(orders.place_order(ctx, user_id, buy("1.00", 3), None) for _ in range(50)),
        return_exceptions=True,
    )

    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(accepted) == 33 and len(refused) == 17
    assert {r.code for r in refused} == {ErrorCode.INSUFFICIENT_FUNDS}
    await ctx.repo.refresh(ctx.repo.account_entry(user_id))
    balance = ctx.repo.account_entry(user_id).account.balance("USD")
    assert balance.held == 9900 <= balance.total


async def test_a_batch_is_accepted_whole_with_one_hold_event_for_its_orders(
    ctx: Context, store: InMemoryEventStore
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx)

    written = await orders.place_batch(ctx, user_id, [buy("1.00", 1)] * 3, True, None)

    (batch,) = await store.read_stream(streams.batch(written.body["batch_id"]))
    assert batch.type == "BatchPlaced" and len(batch.data["orders"]) == 3
    restored = event_from_dict(batch.type, batch.data)
    assert isinstance(restored, BatchPlaced)
    assert [
        stored_leg(leg, restored.user_id, restored.at) for leg in restored.orders
    ] == batch.data["orders"]
    assert [o["status"] for o in written.body["orders"]] == ["accepted"] * 3
    assert ctx.repo.account_entry(user_id).account.balance("USD").held == 300
    account = await store.read_stream(streams.account(user_id))
    reserved = account[-1]  # (one row for the batch, not one per leg)
    assert account[-2].type == "FundsDeposited" and reserved.type == "BatchFundsReserved"
    assert reserved.data["batch_id"] == written.body["batch_id"]
    order_ids = [o["order_id"] for o in written.body["orders"]]
    assert reserved.data["holds"] == [["USD", 100, i, "ACME", "buy"] for i in order_ids]
    stored = event_from_dict(reserved.type, reserved.data).to_dict()
    assert list(reserved.data.items()) == list(stored.items())  # (key order included)
    entry = ctx.repo.account_entry(user_id)
    assert entry.version == entry.account.version == reserved.stream_version
    folded = Account(user_id)
    fold_account(folded, account)  # (the reference fold: each hold as a FundsReserved)
    assert folded.snapshot() == entry.account.snapshot()


async def test_a_batch_that_the_balance_cannot_cover_appends_nothing(
    ctx: Context, store: InMemoryEventStore
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="2.50")
    before = await store.last_position()

    with pytest.raises(DomainError) as raised:
        await orders.place_batch(ctx, user_id, [buy("1.00", 1)] * 3, False, None)

    assert raised.value.code == ErrorCode.INSUFFICIENT_FUNDS
    assert raised.value.message.startswith("orders[2]")
    assert await store.last_position() == before
    assert await orders.place_order(ctx, user_id, buy("1.00", 2), None)  # the cache was not left
    assert ctx.repo.account_entry(user_id).account.balance("USD").held == 200  # half-reserved


async def test_an_empty_batch_is_refused(ctx: Context) -> None:
    user_id = await new_user(ctx)

    with pytest.raises(DomainError) as raised:
        await orders.place_batch(ctx, user_id, [], True, None)

    assert raised.value.code == ErrorCode.EMPTY_BATCH


async def test_an_idempotency_key_returns_the_first_response_and_refuses_another_body(
    ctx: Context,
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx)
    claim = idempotency.claim(str(user_id), "k", "POST", "/v1/orders", {"q": 5}, STATUS_OF)
    other = idempotency.claim(str(user_id), "k", "POST", "/v1/orders", {"q": 6}, STATUS_OF)
    first = await orders.place_order(ctx, user_id, buy(), claim)

    again = await orders.place_order(ctx, user_id, buy(), claim)
    with pytest.raises(IdempotencyKeyReused) as raised:
        await orders.place_order(ctx, user_id, buy(), other)

    entry = ctx.repo.account_entry(user_id)
    await ctx.repo.refresh(entry)  # (a resend's speculative hold is dropped on its conflict)
    assert (again.outcome, again.body, again.replayed) == (first.outcome, first.body, True)
    assert raised.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert entry.account.balance("USD").held == 5000


async def test_only_the_engines_inputs_are_routed_to_the_orders_topic(
    ctx: Context, store: InMemoryEventStore
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx)

    written = await orders.place_order(ctx, user_id, buy(), None)

    (placed,) = await store.read_stream(streams.order(written.body["order_id"]))
    reserved = (await store.read_stream(streams.account(user_id)))[-1]
    assert placed.metadata["order_symbol"] == "ACME"
    assert placed.metadata["actor"] == str(user_id)
    assert "order_symbol" not in reserved.metadata


async def test_the_answer_names_the_event_the_engine_will_answer(
    ctx: Context, store: InMemoryEventStore
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx)

    single = await orders.place_order(ctx, user_id, buy(), None)
    batch = await orders.place_batch(ctx, user_id, [buy("1.00", 1)] * 2, True, None)

    (placed,) = await store.read_stream(streams.order(single.body["order_id"]))
    (batch_placed,) = await store.read_stream(streams.batch(batch.body["batch_id"]))
    assert single.body["event_id"] == str(placed.event_id)
    assert batch.body["event_id"] == str(batch_placed.event_id)


def _count_reads(store: InMemoryEventStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The streams read from ``store`` from now on."""
    read: list[str] = []
    read_stream = store.read_stream

    async def counted(stream_id: str, *args: object, **kwargs: object) -> object:
        read.append(stream_id)
        return await read_stream(stream_id, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "read_stream", counted)
    return read


async def test_a_new_key_and_a_new_client_order_id_cost_no_read_before_the_append(
    ctx: Context, store: InMemoryEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx)
    claim = idempotency.claim(str(user_id), "k", "POST", "/v1/orders", {"q": 5}, STATUS_OF)
    read = _count_reads(store, monkeypatch)

    await orders.place_order(ctx, user_id, buy(client_order_id="c-1"), claim)

    assert not [s for s in read if s.startswith(("idempotency-", "client-order-"))]


async def test_a_keyed_resend_the_rules_would_refuse_now_gets_the_first_response(
    ctx: Context,
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="50.00")
    claim = idempotency.claim(str(user_id), "k", "POST", "/v1/orders", {"q": 5}, STATUS_OF)
    first = await orders.place_order(ctx, user_id, buy("10.00", 5), claim)  # holds all the cash

    again = await orders.place_order(ctx, user_id, buy("10.00", 5), claim)

    assert (again.body, again.replayed) == (first.body, True)


async def test_a_resent_client_order_id_the_rules_would_refuse_now_gets_the_original(
    ctx: Context,
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="50.00")
    first = await orders.place_order(ctx, user_id, buy("10.00", 5, client_order_id="c"), None)

    again = await orders.place_order(ctx, user_id, buy("10.00", 5, client_order_id="c"), None)

    assert (again.outcome, again.body) == (Outcome.ORIGINAL, first.body)


async def test_a_reused_leg_id_is_a_duplicate_even_when_the_batch_is_also_unaffordable(
    ctx: Context,
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="50.00")
    await orders.place_order(ctx, user_id, buy("1.00", 1, client_order_id="c"), None)
    legs = [buy("10.00", 5, client_order_id="c"), buy("10.00", 5, client_order_id="d")]

    with pytest.raises(DuplicateClientOrderId):
        await orders.place_batch(ctx, user_id, legs, True, None)
