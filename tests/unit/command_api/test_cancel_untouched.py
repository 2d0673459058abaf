"""Cancels of orders this process placed read only what follows the placement, and an order the
engine changed meanwhile is decided again on its whole stream."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any

import pytest

from command_api.placed_orders import PlacedOrders
from command_api.services import order_changes, orders
from command_api.services.base import Context
from domain import streams
from domain.errors import DomainError, ErrorCode
from event_store.memory import InMemoryEventStore
from event_store.model import AppendResult, NewEvent, StoredData, StreamAppend
from event_store.planning import EncodedAppend
from tests.unit.command_api.conftest import buy, context_over, list_acme, new_user


class WatchedStore(InMemoryEventStore):
    """Records the tail reads; can slip an engine event into a stream before an append."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[dict[str, int]] = []
        self.type_reads: list[dict[str, int]] = []
        self.slip_in: StreamAppend | None = None

    async def read_stream_tails(
        self, from_versions: Mapping[str, int]
    ) -> dict[str, list[StoredData]]:
        self.reads.append(dict(from_versions))
        return await super().read_stream_tails(from_versions)

    async def read_stream_types(
        self, stream_ids: Collection[str], from_version: int, count: int
    ) -> dict[str, list[tuple[int, str]]]:
        self.type_reads.append(dict.fromkeys(stream_ids, from_version))
        return await super().read_stream_types(stream_ids, from_version, count)

    async def append(self, *appends: StreamAppend) -> AppendResult:
        await self._slip()
        return await super().append(*appends)

    async def append_encoded(self, encoded: EncodedAppend) -> AppendResult:
        await self._slip()
        return await super().append_encoded(encoded)

    async def _slip(self) -> None:
        slip_in, self.slip_in = self.slip_in, None
        if slip_in is not None:  # (the engine appends between the cancel's read and append)
            await super().append(slip_in)


@pytest.fixture
def watched() -> WatchedStore:
    return WatchedStore()


@pytest.fixture
def wctx(watched: WatchedStore) -> Context:
    return context_over(watched)


async def _resting(ctx: Context, store: WatchedStore) -> tuple[int, int]:
    """Alice's buy, accepted by the engine (its stream: placement, ``OrderAccepted``)."""
    await list_acme(ctx)
    user_id = await new_user(ctx)
    order_id = int((await orders.place_order(ctx, user_id, buy("10.00", 5), None)).body["order_id"])
    await _engine(store, order_id, user_id, "OrderAccepted")
    store.reads.clear()
    return user_id, order_id


async def _engine(store: InMemoryEventStore, order_id: int, user_id: int, kind: str) -> None:
    await store.append(_engine_event(order_id, user_id, kind))


def _engine_event(order_id: int, user_id: int, kind: str) -> StreamAppend:
    data = {"symbol": "ACME", "order_id": order_id, "user_id": user_id, "quantity": 5,
            "remaining": 0, "reason": "IOC_REMAINDER", "at": 1}  # fmt: skip
    return StreamAppend(streams.order(order_id), [NewEvent(kind, data)])


async def _types(store: InMemoryEventStore, order_id: int) -> list[tuple[str, int]]:
    return [(e.type, e.stream_version) for e in await store.read_stream(streams.order(order_id))]


async def test_an_accepted_order_placed_here_is_cancelled_reading_only_its_acceptance_s_type(
    wctx: Context, watched: WatchedStore
) -> None:
    user_id, order_id = await _resting(wctx, watched)

    written = await order_changes.cancel_orders(wctx, user_id, [order_id], None)

    assert written.body["orders"] == [{"order_id": order_id, "status": "cancel_requested"}]
    assert watched.type_reads == [{streams.order(order_id): 2}]
    assert watched.reads == []  # (no event's data)
    assert await _types(watched, order_id) == [
        ("OrderPlaced", 1), ("OrderAccepted", 2), ("CancelRequested", 3)]  # fmt: skip


async def test_an_order_filled_before_the_cancel_was_read_is_not_open(
    wctx: Context, watched: WatchedStore
) -> None:
    user_id, order_id = await _resting(wctx, watched)
    await _engine(watched, order_id, user_id, "OrderExpired")

    with pytest.raises(DomainError) as raised:
        await order_changes.cancel_orders(wctx, user_id, [order_id], None)

    assert raised.value.code == ErrorCode.ORDER_NOT_OPEN
    assert watched.reads == [{streams.order(order_id): 1}]  # (known to be past acceptance)
    assert [t for t, _ in await _types(watched, order_id)][-1] == "OrderExpired"


@pytest.mark.parametrize("many", [False, True])
async def test_an_order_closed_between_read_and_append_is_decided_again_and_refused(
    wctx: Context, watched: WatchedStore, many: bool
) -> None:
    user_id, order_id = await _resting(wctx, watched)
    watched.slip_in = _engine_event(order_id, user_id, "OrderExpired")

    with pytest.raises(DomainError) as raised:
        if many:
            await order_changes.cancel_orders(wctx, user_id, [order_id], None)
        else:
            await order_changes.cancel_order(wctx, user_id, order_id, None)

    assert raised.value.code == ErrorCode.ORDER_NOT_OPEN
    assert [t for t, _ in await _types(watched, order_id)] == [
        "OrderPlaced", "OrderAccepted", "OrderExpired"]  # fmt: skip


async def test_someone_elses_order_placed_here_is_read_and_not_found(
    wctx: Context, watched: WatchedStore
) -> None:
    _, order_id = await _resting(wctx, watched)
    mallory = await new_user(wctx, "mallory")
    watched.reads.clear()

    with pytest.raises(DomainError) as raised:
        await order_changes.cancel_orders(wctx, mallory, [order_id], None)

    assert raised.value.code == ErrorCode.ORDER_NOT_OPEN
    assert watched.reads == [{streams.order(order_id): 1}]


async def test_a_cancel_of_many_orders_reads_them_without_a_task_per_order(
    wctx: Context, watched: WatchedStore
) -> None:
    """The tail reads of a cancel's orders are futures gathered, not a coroutine (a task) per
    order: a trader pulling ~45 stale quotes made ~45 tasks per request, twice if read whole."""
    await list_acme(wctx)
    user_id = await new_user(wctx, usd="100000.00")
    ids = [int((await orders.place_order(wctx, user_id, buy(), None)).body["order_id"])
           for _ in range(12)]  # fmt: skip
    for order_id in ids[6:]:  # (the rest are read whole: as if placed by another process)
        wctx.repo.placed.forget(order_id)
    loop = asyncio.get_running_loop()
    created: list[asyncio.Task[object]] = []

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        created.append(task)
        return task

    loop.set_task_factory(counting)
    try:
        written = await order_changes.cancel_orders(wctx, user_id, ids, None)
    finally:
        loop.set_task_factory(None)

    assert [o["status"] for o in written.body["orders"]] == ["cancel_requested"] * 12
    running = {t.get_coro().__qualname__ for t in created}  # type: ignore[union-attr]
    assert running <= {"_Coalesced._drain", "WatchedStore.append_encoded"}  # (none per order)


def test_placed_orders_keep_the_newest_half_past_their_capacity() -> None:
    placed = PlacedOrders(capacity=4)

    for order_id in range(1, 6):
        placed.note(order_id, 7, "ACME")

    assert len(placed) == 3
    assert [placed.get(i) for i in (2, 3, 4, 5)] == [None, (7, "ACME"), (7, "ACME"), (7, "ACME")]
