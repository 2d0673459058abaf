"""An account another process appended to is read before the decision when the store already
knows it moved on, and a decision whose append conflicted anyway is freed at once (no
reference cycle left for the collector)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from command_api.services import orders
from command_api.services.base import Context, Decision
from domain import streams
from domain.account_events import FundsDeposited, FundsReleased
from event_store.errors import WrongExpectedVersion
from event_store.memory import InMemoryEventStore
from event_store.model import ANY, AppendResult, NewEvent, StreamAppend
from event_store.planning import EncodedAppend
from tests.unit.command_api.conftest import NOW, buy, list_acme, new_user


class CountingStore(InMemoryEventStore):
    """The in-memory store, counting the appends that conflicted."""

    def __init__(self) -> None:
        super().__init__()
        self.conflicts: list[str] = []

    async def append_encoded(self, encoded: EncodedAppend) -> AppendResult:
        try:  # (``append`` comes here too; a batch's decision appends here directly)
            return await super().append_encoded(encoded)
        except WrongExpectedVersion as exc:
            self.conflicts.append(exc.stream_id)
            raise


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _foreign(store: InMemoryEventStore, user_id: int, event: Any) -> None:
    """An append to the account by another writer (settlement, another API process)."""
    new = NewEvent(event.event_type, event.to_dict())
    await store.append(StreamAppend(streams.account(user_id), [new], ANY))


async def test_an_order_after_settlement_appended_is_decided_on_the_account_read_again(
    ctx: Context, store: CountingStore
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="100.00")
    await orders.place_order(ctx, user_id, buy("1.00", 5), None)  # (the account is cached now)
    await _foreign(store, user_id, FundsDeposited(user_id, "USD", 100_000, NOW))

    written = await orders.place_order(ctx, user_id, buy("1.00", 1), None)

    assert written.body["status"] == "accepted"
    assert store.conflicts == []  # decided on the stream's end, not on the cached account
    entry = ctx.repo.account_entry(user_id)
    assert entry.version == await store.stream_version(streams.account(user_id))


async def test_a_batch_whose_append_conflicted_leaves_no_cycle_for_the_collector(
    ctx: Context, store: CountingStore, no_collector: None
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="1000.00")
    placed = await orders.place_order(ctx, user_id, buy("1.00", 5), None)
    released = FundsReleased(user_id, "USD", 100, placed.body["order_id"], "ORDER_CLOSED", 1)

    await asyncio.gather(  # settlement's append lands between the decision and its append
        orders.place_batch(ctx, user_id, [buy("1.00", 1)] * 3, True, None),
        _foreign(store, user_id, released),
    )

    assert store.conflicts == [streams.account(user_id)]  # (retried, then accepted)
    assert [o for o in gc.get_objects() if isinstance(o, Decision)] == []
