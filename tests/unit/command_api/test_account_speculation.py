"""The cached account after failed appends and refused decisions: whatever interleaving of
orders (decided before the earlier ones are durable) and appends by others (settlement's
releases and fills, a deposit by another process), once the appends in flight settle, the
cached account is exactly a fresh fold of its stream; a failed speculation is taken back in
place (no copy of the account, no snapshot read)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from command_api.repository import AccountEntry
from command_api.services import orders
from command_api.services.base import Context
from command_api.services.errors import ConflictRetryExhausted
from domain import streams
from domain.account import Account
from domain.account_events import FundsDeposited, FundsReleased
from domain.errors import DomainError, ErrorCode
from domain.folds import fold_account_data
from event_store.memory import InMemoryEventStore
from event_store.model import ANY, NewEvent, Snapshot, StreamAppend
from tests.unit.command_api.conftest import NOW, buy, context_over, list_acme, new_user
from tests.unit.domain.builders import account_state


async def _fresh_fold(store: InMemoryEventStore, user_id: int) -> Account:
    account = Account(user_id)
    fold_account_data(account, await store.read_stream(streams.account(user_id)))
    return account


async def _settled(entry: AccountEntry) -> None:
    if entry.inflight:
        await asyncio.wait(set(entry.inflight))


async def _foreign(store: InMemoryEventStore, user_id: int, event: Any) -> None:
    """An append to the account by another writer (settlement, another API process)."""
    new = NewEvent(event.event_type, event.to_dict())
    await store.append(StreamAppend(streams.account(user_id), [new], ANY))


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("orders"), st.integers(1, 4), st.integers(1, 3)),
        st.tuples(st.just("release"), st.integers(0, 50)),
        st.tuples(st.just("deposit"), st.sampled_from(("USD", "EUR")), st.integers(1, 10_000)),
        st.tuples(st.just("batch"), st.integers(2, 5), st.booleans()),
    ),
    min_size=1,
    max_size=12,
)


async def _step(
    ctx: Context, store: InMemoryEventStore, user_id: int, step: tuple[Any, ...]
) -> None:
    """Orders (and batches) in flight together, with another writer's append among them."""
    kind, *args = step
    if kind in ("release", "deposit"):
        account = await _fresh_fold(store, user_id)
        if kind == "deposit":
            await _foreign(store, user_id, FundsDeposited(user_id, args[0], args[1], NOW))
        elif account.holds:
            hold = account.holds[sorted(account.holds)[args[0] % len(account.holds)]]
            released = FundsReleased(user_id, "USD", hold.amount, hold.order_id, "ORDER_CLOSED", 1)
            await _foreign(store, user_id, released)
        return
    if kind == "orders":
        placed = [
            orders.place_order(ctx, user_id, buy("1.00", args[1]), None) for _ in range(args[0])
        ]
        calls = [*placed, _foreign(store, user_id, FundsDeposited(user_id, "USD", 1, NOW))]
    else:  # a batch, its last leg refused when asked (more than the account holds)
        legs = [buy("1.00", 1)] * (args[0] - 1) + [buy("1.00", 10**7 if args[1] else 1)]
        calls = [orders.place_batch(ctx, user_id, legs, True, None)]
    for outcome in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(outcome, BaseException) and not isinstance(
            outcome, (DomainError, ConflictRetryExhausted)
        ):
            raise outcome


@settings(max_examples=60, deadline=None)
@given(STEPS, st.integers(0, 2**32))
def test_after_any_interleaving_the_cached_account_is_a_fresh_fold_of_its_stream(
    steps: list[tuple[Any, ...]], seed: int
) -> None:
    async def scenario() -> None:
        random.seed(seed)  # (the retries' jitter)
        store = InMemoryEventStore()
        ctx = context_over(store)
        await list_acme(ctx)
        user_id = await new_user(ctx, usd="10000.00")
        for step in steps:
            await _step(ctx, store, user_id, step)
            entry = ctx.repo.account_entry(user_id)
            await _settled(entry)
            if entry.loaded:  # what it holds is the stream at its version
                assert not entry.pending
                assert entry.confirmed_version == entry.version
                stream = await store.read_stream(streams.account(user_id), limit=entry.version)
                upto = Account(user_id)
                fold_account_data(upto, stream)
                assert account_state(entry.account) == account_state(upto)
            await ctx.repo.refresh(entry)
            assert account_state(entry.account) == account_state(await _fresh_fold(store, user_id))

    asyncio.run(scenario())


async def test_a_conflict_with_settlement_takes_the_order_back_without_copying_the_account(
    ctx: Context, store: InMemoryEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="1000.00")
    for _ in range(20):  # a market maker's resting orders
        await orders.place_order(ctx, user_id, buy("1.00", 1), None)
    entry = ctx.repo.account_entry(user_id)

    def no_copy(account: Account) -> Account:
        raise AssertionError("the account was copied")

    async def no_snapshot(stream_id: str) -> Snapshot | None:
        raise AssertionError("the account was read from its snapshot")

    monkeypatch.setattr(Account, "copy", no_copy)
    monkeypatch.setattr(store, "load_snapshot", no_snapshot)
    first_hold = min(entry.account.holds)
    released = FundsReleased(user_id, "USD", 100, first_hold, "ORDER_CLOSED", 1)

    await asyncio.gather(  # the settlement's append lands between the decision and its append
        orders.place_order(ctx, user_id, buy("1.00", 3), None),
        _foreign(store, user_id, released),
    )

    await _settled(entry)
    assert entry.loaded and not entry.pending
    assert len(entry.account.holds) == 20
    assert account_state(entry.account) == account_state(await _fresh_fold(store, user_id))


async def test_a_refused_batch_leaves_the_cached_account_as_it_was(
    ctx: Context, store: InMemoryEventStore
) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd="100.00")
    await orders.place_order(ctx, user_id, buy("1.00", 5), None)
    entry = ctx.repo.account_entry(user_id)
    before = account_state(entry.account)

    with pytest.raises(DomainError) as refused:
        await orders.place_batch(ctx, user_id, [buy("1.00", 10), buy("1.00", 10**4)], True, None)

    assert refused.value.code == ErrorCode.INSUFFICIENT_FUNDS
    assert entry.loaded, "taken back in place, not dropped"
    fresh = await _fresh_fold(store, user_id)
    assert account_state(entry.account) == before == account_state(fresh)
