"""The API's account cache runs on the domain's Account: stored events fold, snapshots restore."""

from __future__ import annotations

import pytest

from command_api.repository import SNAPSHOT_EVERY, SNAPSHOT_TYPE, Repository
from command_api.services import funding, orders
from command_api.services.base import Context
from domain import streams
from domain.account import Account
from domain.account_events import FundsReleased
from domain.errors import DomainError, ErrorCode
from event_store.memory import InMemoryEventStore
from event_store.model import ANY, NewEvent, Snapshot, StreamAppend
from tests.unit.command_api.conftest import buy, list_acme, new_user


async def test_a_release_written_by_settlement_frees_the_cash_and_the_side(
    ctx: Context, store: InMemoryEventStore
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="100.00")
    placed = await orders.place_order(ctx, user_id, buy("10.00", 10), None)
    release = FundsReleased(user_id, "USD", 10_000, placed.body["order_id"], "ORDER_CLOSED", 1)
    await store.append(
        StreamAppend(
            streams.account(user_id), [NewEvent(release.event_type, release.to_dict())], ANY
        )
    )

    fresh = Repository(store)
    entry = fresh.account_entry(user_id)
    await fresh.refresh(entry)

    assert entry.account.available("USD") == 10_000
    assert not entry.account.has_open_order("ACME", "buy")
    assert entry.version == 3


async def test_insufficient_cash_is_reported_as_decimal_strings(ctx: Context) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="696.25")

    try:
        await funding.withdraw(ctx, user_id, "USD", "9999.00", None)
    except DomainError as error:
        assert error.code == ErrorCode.INSUFFICIENT_FUNDS
        assert error.message == "USD available 696.25, needed 9999.00"
    else:
        raise AssertionError("the withdrawal should be refused")


async def test_a_long_account_stream_is_snapshotted_and_restored(
    ctx: Context, store: InMemoryEventStore
) -> None:
    user_id = await new_user(ctx, usd="1.00")
    for _ in range(SNAPSHOT_EVERY):
        await funding.deposit(ctx, user_id, "USD", "0.01", None)

    first = Repository(store)
    await first.refresh(first.account_entry(user_id))
    snapshot = await store.load_snapshot(streams.account(user_id))
    second = Repository(store)
    entry = second.account_entry(user_id)
    await second.refresh(entry)

    assert snapshot is not None and snapshot.type == SNAPSHOT_TYPE
    assert Account.from_snapshot(snapshot.state).available("USD") == 100 + SNAPSHOT_EVERY
    assert entry.account.available("USD") == 100 + SNAPSHOT_EVERY
    assert entry.version == SNAPSHOT_EVERY + 1


async def test_an_append_by_settlement_costs_a_catch_up_read_not_a_reload_from_the_snapshot(
    ctx: Context, store: InMemoryEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="100.00")
    first = await orders.place_order(ctx, user_id, buy("10.00", 2), None)
    release = FundsReleased(user_id, "USD", 2_000, first.body["order_id"], "ORDER_CLOSED", 1)
    await store.append(
        StreamAppend(
            streams.account(user_id), [NewEvent(release.event_type, release.to_dict())], ANY
        )
    )
    snapshot_loads: list[str] = []
    load_snapshot = store.load_snapshot

    async def counted(stream_id: str) -> Snapshot | None:
        snapshot_loads.append(stream_id)
        return await load_snapshot(stream_id)

    monkeypatch.setattr(store, "load_snapshot", counted)

    await orders.place_order(ctx, user_id, buy("10.00", 3), None)  # conflicts, then retries

    entry = ctx.repo.account_entry(user_id)
    assert snapshot_loads == []
    assert entry.account.available("USD") == 10_000 - 3_000
    assert entry.version == entry.confirmed_version == 4 and not entry.pending
