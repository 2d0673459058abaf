"""Settlement's conflicts booked again account by account, against the in-memory store: when
the command API moved one account of a batch in flight, only that account is taken back, read
again and booked again (in that batch and in the one decided on top of it); every other
account's rows stand as decided, and the accounts end as the domain's own fold says.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import orjson
import pytest

from domain import streams
from domain.account import Account
from domain.account_events import FundsDeposited, FundsReserved
from domain.folds import fold_account
from domain.instrument import Instrument
from domain.order_events import OrderCancelled, OrderFilled
from event_store.memory import InMemoryEventStore
from event_store.model import ANY, AppendResult, NewEvent, StreamAppend
from event_store.planning import EncodedAppend
from workers.settlement_codec import Bookings, SettlementInput
from workers.settlement_worker import SettlementWorker

TOPIC = "exchange.settlement"
SYMBOL = "ACME"
A, B = 5, 6
AT = 1_700_000_000_000_000_000
INSTRUMENT = Instrument.create(SYMBOL, self_trade="cancel_newest", maker_fee_bps=10)


class Recording:
    """The store, recording the appends, the account-tail reads and the snapshot loads."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self.store = store
        self.appends: list[EncodedAppend] = []
        self.tail_reads: list[list[str]] = []
        self.snapshot_loads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def append_encoded(self, encoded: EncodedAppend) -> AppendResult:
        self.appends.append(encoded)
        return await self.store.append_encoded(encoded)

    async def read_stream_tails(self, from_versions: Any) -> Any:
        self.tail_reads.append(sorted(from_versions))
        return await self.store.read_stream_tails(from_versions)

    async def load_snapshots(self, stream_ids: Any) -> Any:
        self.snapshot_loads += 1
        return await self.store.load_snapshots(stream_ids)


async def _store() -> InMemoryEventStore:
    """The listing; ``A`` and ``B`` funded, each with a limit buy of 10 at 100.00 (order ``A``
    for ``A``, order ``B`` for ``B``)."""
    store = InMemoryEventStore()
    listing = NewEvent("InstrumentListed", {**INSTRUMENT.to_dict(), "at": AT})
    await store.append(StreamAppend(streams.instrument(SYMBOL), [listing], 0))
    for user in (A, B):
        deposit = FundsDeposited(user, "USD", 10**8, AT)
        await store.append(StreamAppend(streams.account(user), [_new(deposit)], 0))
        await reserve(store, user, user, 10)
    return store


async def reserve(store: InMemoryEventStore, user: int, order_id: int, quantity: int) -> None:
    """What the command API appends to the account for a new limit buy at 100.00."""
    amount = INSTRUMENT.buy_hold(10_000, quantity)
    event = FundsReserved(user, "USD", amount, order_id, SYMBOL, "buy", AT)
    await store.append(StreamAppend(streams.account(user), [_new(event)], ANY))


def _new(event: Any) -> NewEvent:
    return NewEvent(event.event_type, event.to_dict(), {"actor": "command_api"})


def fill(position: int, user: int, order_id: int, quantity: int, remaining: int) -> SettlementInput:
    event = OrderFilled(
        SYMBOL, order_id, user, position, "buy", 9_900, quantity, remaining, "maker", AT
    )
    return _input(position, order_id, event)


def cancel(position: int, user: int, order_id: int, quantity: int) -> SettlementInput:
    return _input(position, order_id, OrderCancelled(SYMBOL, order_id, user, quantity, "USER", AT))


def _input(position: int, order_id: int, event: Any) -> SettlementInput:
    return SettlementInput(
        position, streams.order(order_id), event.event_type, event.to_dict(),
        str(uuid.uuid4()), "corr",
    )  # fmt: skip


def used(quantity: int) -> int:
    """The cash hold a maker buy of ``quantity`` at 99.00 consumes."""
    notional = INSTRUMENT.notional(9_900, quantity)
    return notional + INSTRUMENT.maker_fee(notional)


def rows(append: EncodedAppend, user: int) -> list[tuple[str, str]]:
    """The (event id, type) of each row the append makes on the user's account stream."""
    found = [s for s in append.streams if s.stream_id == streams.account(user)]
    return [(row[0], row[1]) for s in found for row in s.events]


async def account_of(store: InMemoryEventStore, user: int) -> Account:
    account = Account(user)
    fold_account(account, await store.read_stream(streams.account(user)))
    return account


async def worker_of(store: Recording) -> SettlementWorker:
    worker = SettlementWorker(store, group="g", topic=TOPIC, partitions=1)
    await worker.assign(0)
    return worker


async def test_a_conflict_books_again_only_the_account_that_moved() -> None:
    store = await _store()
    recording = Recording(store)
    worker = await worker_of(recording)

    await worker.start(0, [fill(100, A, A, 3, 7), fill(101, B, B, 2, 8)], 1)  # not run yet
    await reserve(store, A, 7, 4)  # the command API moves A under the batch
    await worker.flush(0)

    first, second = recording.appends
    assert rows(second, B) == rows(first, B)  # B's rows stand, ids and all
    assert [t for _, t in rows(second, A)] == ["TradeSettled"]
    assert rows(second, A) != rows(first, A)
    assert recording.tail_reads[-1] == [streams.account(A)]  # only A read again
    fees = [s for s in second.streams if s.stream_id == streams.account(0)]
    netted = orjson.loads(fees[0].events[0][3])
    assert (netted["amount"], netted["fills"]) == (
        INSTRUMENT.maker_fee(INSTRUMENT.notional(9_900, 3))
        + INSTRUMENT.maker_fee(INSTRUMENT.notional(9_900, 2)),
        2,
    )  # each fill's fee netted once, not again with its rebooking
    a, b = await account_of(store, A), await account_of(store, B)
    assert a.reserved_for(A) == INSTRUMENT.buy_hold(10_000, 10) - used(3)
    assert a.reserved_for(7) == INSTRUMENT.buy_hold(10_000, 4)
    assert b.reserved_for(B) == INSTRUMENT.buy_hold(10_000, 10) - used(2)


async def test_the_batch_decided_on_top_is_booked_again_only_on_the_account_that_moved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = await _store()
    worker = await worker_of(Recording(store))
    booked: list[tuple[int, int]] = []
    book = Bookings.book

    def spy(self: Bookings, account: Account, version: int, item: Any, **kw: Any) -> None:
        booked.append((item.position, account.user_id))
        book(self, account, version, item, **kw)

    monkeypatch.setattr(Bookings, "book", spy)

    await worker.start(0, [fill(100, A, A, 3, 7), fill(101, B, B, 2, 8)], 1)
    await reserve(store, A, 7, 4)
    await worker.start(0, [fill(102, A, A, 1, 6), fill(103, B, B, 1, 7)], 2)
    await worker.flush(0)

    # Each batch once, then A's input of each again (first the batch in flight, then the one
    # on top): B's inputs are never booked twice.
    assert booked == [(100, A), (101, B), (102, A), (103, B), (100, A), (102, A)]
    a, b = await account_of(store, A), await account_of(store, B)
    assert a.reserved_for(A) == INSTRUMENT.buy_hold(10_000, 10) - used(3) - used(1)
    assert b.reserved_for(B) == INSTRUMENT.buy_hold(10_000, 10) - used(2) - used(1)
    checkpoints = await store.read_stream(streams.settlement(0))
    assert [e.data["last_position"] for e in checkpoints] == [101, 103]


async def test_events_past_a_batch_that_then_conflicts_leave_the_account_cached() -> None:
    store = await _store()
    recording = Recording(store)
    worker = await worker_of(recording)

    await worker.start(0, [fill(100, A, A, 3, 7)], 1)  # books one event: expects version 2
    await reserve(store, A, 7, 4)  # version 3: the batch conflicts ...
    await reserve(store, A, 8, 6)  # ... and version 4 lies past its speculative version (3)
    # The next batch reads A past version 3 on top of the batch in flight; it folds nothing
    # before that batch is durable, so A is taken back and read on, never loaded again.
    await worker.start(0, [cancel(101, A, 8, 6)], 2)
    await worker.flush(0)

    assert recording.snapshot_loads == 1  # A's first load, no other
    a = await account_of(store, A)
    assert a.reserved_for(8) == 0
    held = INSTRUMENT.buy_hold(10_000, 10) - used(3) + INSTRUMENT.buy_hold(10_000, 4)
    assert a.balance("USD").held == held


@pytest.mark.parametrize("seed", range(8))
async def test_cached_accounts_stay_those_the_store_folds_to_under_many_conflicts(
    seed: int,
) -> None:
    rng = random.Random(seed)
    store = await _store()
    worker = await worker_of(Recording(store))
    open_orders = {A: 10, B: 10}  # order id -> quantity left (order ids A and B: A's, B's)
    owner = {A: A, B: B}
    position, offset, next_order = 100, 1, 10
    for _ in range(40):
        for _ in range(rng.randrange(3)):  # the command API, between the worker's batches
            user = rng.choice((A, B))
            await reserve(store, user, next_order, 5)
            open_orders[next_order], owner[next_order] = 5, user
            next_order += 1
        batch = []
        for order_id in rng.sample(sorted(open_orders), min(3, len(open_orders))):
            position += 1
            left = open_orders[order_id]
            if rng.random() < 0.3:
                batch.append(cancel(position, owner[order_id], order_id, left))
                del open_orders[order_id]
                continue
            quantity = rng.randint(1, left)
            batch.append(fill(position, owner[order_id], order_id, quantity, left - quantity))
            open_orders[order_id] = left - quantity
            if not open_orders[order_id]:
                del open_orders[order_id]
        await worker.start(0, batch, offset)
        offset += 1
    await worker.flush(0)

    for user in (A, B):
        cached = worker._accounts[user]
        assert cached.version == await store.stream_version(streams.account(user))
        assert cached.account.snapshot() == (await account_of(store, user)).snapshot()
