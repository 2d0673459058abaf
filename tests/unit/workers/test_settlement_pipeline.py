"""Settlement's pipelined batches against the in-memory store: batch N+1 is decided while N
commits, on the accounts as N leaves them. Whatever N meets (a reservation the command API
appended meanwhile, a successor that fenced the partition, the process dying before N+1 went
in), every fill is booked exactly once and the accounts end as the domain's own fold says.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

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
from workers.consumer import Fenced
from workers.settlement_codec import SettlementInput
from workers.settlement_resume import checkpoint
from workers.settlement_worker import SettlementWorker

TOPIC = "exchange.settlement"
SYMBOL = "ACME"
USER = 5
AT = 1_700_000_000_000_000_000
INSTRUMENT = Instrument.create(SYMBOL, self_trade="cancel_newest", maker_fee_bps=10)


async def _store_with_an_order(order_id: int, quantity: int) -> InMemoryEventStore:
    """The listing, and ``USER`` funded with a limit buy of ``quantity`` at 100.00 resting."""
    store = InMemoryEventStore()
    listing = NewEvent("InstrumentListed", {**INSTRUMENT.to_dict(), "at": AT})
    await store.append(StreamAppend(streams.instrument(SYMBOL), [listing], 0))
    deposit = FundsDeposited(USER, "USD", 10**8, AT)
    await store.append(StreamAppend(streams.account(USER), [_new(deposit)], 0))
    await reserve(store, order_id, quantity)
    return store


async def reserve(store: InMemoryEventStore, order_id: int, quantity: int) -> None:
    """What the command API appends to the account for a new limit buy at 100.00."""
    amount = INSTRUMENT.buy_hold(10_000, quantity)
    event = FundsReserved(USER, "USD", amount, order_id, SYMBOL, "buy", AT)
    await store.append(StreamAppend(streams.account(USER), [_new(event)], ANY))


def used(quantity: int) -> int:
    """The cash hold a maker buy of ``quantity`` at 99.00 consumes."""
    notional = INSTRUMENT.notional(9_900, quantity)
    return notional + INSTRUMENT.maker_fee(notional)


def _new(event: Any) -> NewEvent:
    return NewEvent(event.event_type, event.to_dict(), {"actor": "command_api"})


def fill(position: int, order_id: int, quantity: int, remaining: int) -> SettlementInput:
    event = OrderFilled(
        SYMBOL, order_id, USER, position, "buy", 9_900, quantity, remaining, "maker", AT
    )
    return _input(position, order_id, event)


def cancel(position: int, order_id: int, quantity: int) -> SettlementInput:
    return _input(position, order_id, OrderCancelled(SYMBOL, order_id, USER, quantity, "USER", AT))


def _input(position: int, order_id: int, event: Any) -> SettlementInput:
    return SettlementInput(
        position, streams.order(order_id), event.event_type, event.to_dict(),
        str(uuid.uuid4()), "corr",
    )  # fmt: skip


async def worker_of(store: InMemoryEventStore) -> SettlementWorker:
    worker = SettlementWorker(store, group="settlement", topic=TOPIC, partitions=1)
    await worker.assign(0)
    return worker


async def booked(store: InMemoryEventStore) -> tuple[list[str], Account]:
    """The account stream's event types and the account its events fold to."""
    events = await store.read_stream(streams.account(USER))
    account = Account(USER)
    fold_account(account, events)
    return [e.type for e in events], account


async def checkpoints(store: InMemoryEventStore) -> list[int]:
    return [e.data["last_position"] for e in await store.read_stream(streams.settlement(0))]


async def test_a_conflict_on_batch_n_books_it_again_and_decides_n_plus_1_again() -> None:
    store = await _store_with_an_order(1, 10)
    worker = await worker_of(store)

    await worker.start(0, [fill(100, 1, 3, 7)], 1)  # decided; its append not run yet
    await reserve(store, 2, 4)  # the command API meanwhile: N's expected version is stale
    await worker.start(0, [fill(101, 1, 2, 5), cancel(102, 2, 4)], 2)
    await worker.flush(0)

    types, account = await booked(store)
    assert types == [
        "FundsDeposited", "FundsReserved", "FundsReserved",
        "TradeSettled", "TradeSettled", "FundsReleased",
    ]  # fmt: skip
    assert account.reserved_for(1) == INSTRUMENT.buy_hold(10_000, 10) - used(3) - used(2)
    assert account.reserved_for(2) == 0
    assert await checkpoints(store) == [100, 102]


async def test_a_fill_refused_on_the_state_of_a_batch_that_then_conflicts_is_booked() -> None:
    store = await _store_with_an_order(1, 10)
    worker = await worker_of(store)

    await worker.start(0, [fill(100, 1, 3, 7)], 1)
    await reserve(store, 2, 4)  # order 2's hold: after N's read, before N's commit
    # N+1 fills order 2, whose hold the speculative state (N's) does not have: refused there,
    # then N conflicts, is booked again on fresh state, and N+1 is decided again.
    await worker.start(0, [fill(101, 2, 4, 0)], 2)
    await worker.flush(0)

    types, account = await booked(store)
    assert types.count("TradeSettled") == 2
    assert account.reserved_for(2) == 0
    assert await checkpoints(store) == [100, 101]


async def test_events_folded_past_a_batch_that_then_conflicts_are_not_folded_twice() -> None:
    store = await _store_with_an_order(1, 10)
    worker = await worker_of(store)

    await worker.start(0, [fill(100, 1, 3, 7)], 1)  # books one event: expects version 2
    await reserve(store, 2, 4)  # version 3: N conflicts ...
    await reserve(store, 3, 6)  # ... and version 4 lies past N's speculative version (3)
    # N+1 reads the account past version 3 on top of N and folds order 3's hold; once N has
    # failed, that account must be read again, not rewound (order 3 would be held twice).
    await worker.start(0, [cancel(101, 3, 6)], 2)
    await worker.flush(0)

    types, account = await booked(store)
    assert types.count("FundsReleased") == 1
    assert account.reserved_for(3) == 0
    held = INSTRUMENT.buy_hold(10_000, 10) - used(3) + INSTRUMENT.buy_hold(10_000, 4)
    assert account.balance("USD").held == held
    assert await checkpoints(store) == [100, 101]


class Gated:
    """The store, with appends held at a gate while it is closed (a worker paused mid-append)."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self.store = store
        self.gate = asyncio.Event()
        self.gate.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def append_encoded(self, encoded: EncodedAppend) -> AppendResult:
        await self.gate.wait()
        return await self.store.append_encoded(encoded)


async def test_a_batch_in_flight_when_a_successor_takes_the_partition_over_is_fenced() -> None:
    store = await _store_with_an_order(1, 10)
    paused = Gated(store)
    zombie = SettlementWorker(paused, group="g", topic=TOPIC, partitions=1)  # type: ignore[arg-type]
    await zombie.assign(0)
    await zombie.apply(0, [fill(100, 1, 3, 7)], 1)
    paused.gate.clear()
    await zombie.start(0, [fill(101, 1, 2, 5)], 2)  # decided and submitted, held at the gate

    successor = await worker_of(store)  # takes over: resumes after N, books N+1 itself
    await successor.apply(0, [fill(101, 1, 2, 5)], 2)
    paused.gate.set()

    with pytest.raises(Fenced):
        await zombie.flush(0)
    types, _ = await booked(store)
    assert types.count("TradeSettled") == 2
    assert await checkpoints(store) == [100, 101]


async def test_a_start_with_nothing_to_book_returns_once_the_batch_in_flight_is_durable() -> None:
    # The consumer loop commits the previous batch's Kafka offset when a start returned.
    store = await _store_with_an_order(1, 10)
    paused = Gated(store)
    worker = SettlementWorker(paused, group="g", topic=TOPIC, partitions=1)  # type: ignore[arg-type]
    await worker.assign(0)
    paused.gate.clear()
    await worker.start(0, [fill(100, 1, 3, 7)], 1)  # submitted, held at the gate
    unbooked = SettlementInput(101, streams.order(1), "OrderAccepted", {}, "e", "corr")

    second = asyncio.ensure_future(worker.start(0, [unbooked], 2))
    for _ in range(20):
        await asyncio.sleep(0)
    returned_early = second.done()
    paused.gate.set()
    await second

    assert not returned_early
    assert await checkpoints(store) == [100]


async def test_a_worker_dying_between_n_and_n_plus_1_loses_and_doubles_nothing() -> None:
    store = await _store_with_an_order(1, 10)
    dying = await worker_of(store)
    batches = [[fill(100, 1, 3, 7)], [fill(101, 1, 2, 5)], [fill(102, 1, 5, 0)]]
    await dying.start(0, batches[0], 1)
    await dying.start(0, batches[1], 2)  # N durable; N+1 submitted
    dying._in_flight[0].commit.cancel()  # the process dies before N+1 reaches the store

    restarted = SettlementWorker(store, group="settlement", topic=TOPIC, partitions=1)
    resume = await restarted.assign(0)
    for offset, batch in enumerate(batches, start=1):  # Kafka redelivers from its offset
        fresh = [i for i in batch if i.position > resume.position]
        if fresh:
            await restarted.apply(0, fresh, offset)

    types, account = await booked(store)
    assert resume.position == 100
    assert types.count("TradeSettled") == 3
    assert types.count("FundsReleased") == 1
    assert account.reserved_for(1) == 0
    assert account.balance("USD").held == 0
    assert await checkpoints(store) == [100, 101, 102]


async def test_a_checkpointed_partition_resumes_after_its_last_batch() -> None:
    store = await _store_with_an_order(1, 10)
    await store.append(StreamAppend(streams.settlement(0), [checkpoint(TOPIC, 0, 90, 7)], 0))

    resume = await (await worker_of(store)).assign(0)

    assert (resume.position, resume.offset) == (90, 7)


class CountingReads:
    """The store, counting the account-tail reads made of it."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self.store = store
        self.tail_reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def read_stream_tails(self, from_versions: Any) -> Any:
        self.tail_reads += 1
        return await self.store.read_stream_tails(from_versions)


async def test_a_batch_whose_accounts_were_prefetched_is_decided_on_that_read() -> None:
    store = await _store_with_an_order(1, 10)
    counting = CountingReads(store)
    worker = SettlementWorker(counting, group="g", topic=TOPIC, partitions=1)  # type: ignore[arg-type]
    await worker.assign(0)

    worker.prefetch(0, [str(USER).encode()])  # the consumer loop, before it decodes the batch
    await worker.apply(0, [fill(100, 1, 3, 7)], 1)

    assert counting.tail_reads == 1
    types, account = await booked(store)
    assert types[-1] == "TradeSettled"
    assert account.reserved_for(1) == INSTRUMENT.buy_hold(10_000, 10) - used(3)


async def test_a_reservation_appended_after_a_prefetched_read_is_caught_by_the_append() -> None:
    store = await _store_with_an_order(1, 10)
    worker = await worker_of(store)

    worker.prefetch(0, [str(USER).encode()])
    await asyncio.sleep(0.01)  # the prefetched read is done ...
    await reserve(store, 2, 4)  # ... when the command API reserves for order 2
    # Decided on the prefetched state, order 2 holds nothing to release: the append's
    # expected version is stale, so the batch is booked again on fresh state.
    await worker.apply(0, [fill(100, 1, 3, 7), cancel(101, 2, 4)], 2)

    types, account = await booked(store)
    assert types[-2:] == ["TradeSettled", "FundsReleased"]
    assert account.reserved_for(2) == 0
    assert account.balance("USD").held == INSTRUMENT.buy_hold(10_000, 10) - used(3)
    assert await checkpoints(store) == [101]
