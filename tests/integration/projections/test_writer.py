"""The projection writer against the real Redis: order-independence, dedupe, fencing."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from domain import streams
from domain.instrument import Instrument
from event_store.outbox import partition_of
from projections import market_reads, render, user_reads
from projections.changes import Arg
from projections.keys import MARKET, Control
from projections.market import MarketFold
from projections.reads import ReadModels
from projections.records import decode_order
from projections.simulation import Exchange, SimEvent, random_flow
from projections.writer import Fenced, ProjectionWriter
from query_api import positions
from tests.integration.projections.conftest import delete_prefix, dump
from tests.integration.projections.stored_forms import order_with_history, resumed_and_fresh

pytestmark = pytest.mark.integration

PARTITIONS = 4
UNORDERED = (":ck:", ":mdseq:")  # checkpoints and market-data sequences depend on batching


def _by_partition(events: list[SimEvent]) -> dict[int, list[SimEvent]]:
    parts: dict[int, list[SimEvent]] = {p: [] for p in range(PARTITIONS)}
    for event in events:
        parts[partition_of(event.stream_id.encode(), PARTITIONS)].append(event)
    return parts


async def _apply_interleaved(writer: ProjectionWriter, events: list[SimEvent], seed: int) -> None:
    """Feed each partition in its own order, partitions interleaved at random batch sizes."""
    rng = random.Random(seed)
    parts = _by_partition(events)
    cursors = dict.fromkeys(parts, 0)
    for partition in parts:
        await writer.claim(partition)
    while any(cursors[p] < len(parts[p]) for p in parts):
        partition = rng.choice([p for p in parts if cursors[p] < len(parts[p])])
        start = cursors[partition]
        end = min(len(parts[partition]), start + rng.randint(1, 400))
        await writer.apply(partition, parts[partition][start:end], end)
        cursors[partition] = end


@pytest.fixture(scope="module")
def flow() -> Exchange:
    return random_flow(seed=7, orders=1500)


async def test_partitions_interleaved_in_any_order_give_the_same_read_models(
    redis_client: aioredis.Redis, flow: Exchange
) -> None:
    prefixes = [Control(f"t{seed}x{random.getrandbits(32):x}") for seed in range(3)]
    try:
        for seed, control in enumerate(prefixes):
            await _apply_interleaved(ProjectionWriter(redis_client, control), flow.events, seed)
        dumps = [await dump(redis_client, c.prefix, UNORDERED) for c in prefixes]
    finally:
        for control in prefixes:
            await delete_prefix(redis_client, control.prefix)

    assert dumps[0] == dumps[1] == dumps[2]
    assert len(dumps[0]) > 100


async def test_books_and_accounts_equal_the_engine_and_the_domain_accounts(
    redis_client: aioredis.Redis, control: Control, flow: Exchange
) -> None:
    await _apply_interleaved(ProjectionWriter(redis_client, control), flow.events, 11)
    models = ReadModels(redis_client, control, PARTITIONS)

    for symbol, instrument in flow.instruments.items():
        bids, asks, _, _ = await market_reads.book_levels(models, symbol, 1000)
        book = flow.engine.book(symbol)
        assert bids == book.side_of("buy").depth()
        assert asks == book.side_of("sell").depth()
        l3 = await market_reads.book_orders(models, instrument, 1000)
        engine_l3 = [[o.order_id, o.remaining] for o in book.open_orders("buy")]
        assert sorted(o for level in l3["bids"] for o in level["orders"]) == sorted(engine_l3)
    for user_id, account in flow.accounts.items():
        shown = await user_reads.account(models, user_id)
        for asset, balance in account.balances.items():
            assert shown["balances"][asset] == {
                "total": render.amount(asset, balance.total),
                "available": render.amount(asset, balance.total - balance.held),
                "held": render.amount(asset, balance.held),
            }, (user_id, asset)
    lasts = [events[-1].position for events in _by_partition(flow.events).values()]
    assert await models.position() == min(lasts)  # what every partition has reached


async def test_a_batch_applied_again_after_a_lost_reply_changes_nothing(
    redis_client: aioredis.Redis, control: Control, flow: Exchange
) -> None:
    events = flow.events[:800]
    writer = ProjectionWriter(redis_client, control)
    await writer.claim(0)
    await writer.apply(0, events, 800)
    space = writer.space(MARKET, 1).base
    before = await dump(redis_client, space)

    resumed = ProjectionWriter(redis_client, control)
    resume = await resumed.claim(0)
    assert (resume.position, resume.offset) == (events[-1].position, 800)
    fresh = [e for e in events if e.position > resume.position]
    await resumed.apply(0, [*fresh, *events[-1:]][-1:], 800)  # nothing new: skipped

    assert await dump(redis_client, space) == before


class _GatedWriter(ProjectionWriter):
    """Holds every chunk's script until ``gate`` opens: a script in flight, as under load."""

    def __init__(self, client: aioredis.Redis, control: Control) -> None:
        super().__init__(client, control)
        self.gate = asyncio.Event()
        self.sending = asyncio.Event()

    async def _send(self, body: list[Arg]) -> None:
        self.sending.set()
        await self.gate.wait()
        await super()._send(body)


async def test_the_checkpoint_a_watermark_reads_never_runs_ahead_of_redis(
    redis_client: aioredis.Redis, control: Control, flow: Exchange
) -> None:
    # The watermark raises a partition's reflected position once its checkpoint reaches the
    # Kafka end offset; read while the batch's script was still in flight, that let a
    # min_position read pass before the data landed (a 404 for an acknowledged order).
    writer = _GatedWriter(redis_client, control)
    await writer.claim(0)
    before = writer.checkpoint(0)
    applying = asyncio.ensure_future(writer.apply(0, flow.events[:50], 50))
    await writer.sending.wait()

    assert writer.checkpoint(0) == before
    assert await redis_client.get(control.pos(0)) is None

    writer.gate.set()
    await applying
    landed = writer.checkpoint(0)
    assert landed is not None
    assert (landed.position, landed.offset) == (flow.events[49].position, 50)


async def test_a_writer_that_lost_its_partition_is_fenced_and_writes_nothing(
    redis_client: aioredis.Redis, control: Control, flow: Exchange
) -> None:
    old, new = ProjectionWriter(redis_client, control), ProjectionWriter(redis_client, control)
    await old.claim(0)
    await new.claim(0)

    with pytest.raises(Fenced):
        await old.apply(0, flow.events[:50], 50)

    assert await redis_client.get(control.pos(0)) is None
    await new.apply(0, flow.events[:50], 50)
    assert int(await redis_client.get(control.pos(0)) or 0) == flow.events[49].position


async def test_market_data_is_published_with_a_gap_free_sequence(
    redis_client: aioredis.Redis, control: Control, flow: Exchange
) -> None:
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(control.channel("SIMA"))
    writer = ProjectionWriter(redis_client, control)
    await writer.claim(0)
    for start in range(0, 3000, 300):
        await writer.apply(0, flow.events[start : start + 300], start + 300)

    seqs = []
    for _ in range(12):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None:
            seqs.append(orjson.loads(message["data"])["seq"])
    await pubsub.aclose()
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) >= 5


async def test_a_moved_position_is_published_and_wakes_a_min_position_wait(
    redis_client: aioredis.Redis, control: Control, flow: Exchange
) -> None:
    writer = ProjectionWriter(redis_client, control)
    models = ReadModels(redis_client, control, 1)
    await writer.claim(0)
    events = flow.events[:50]
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(positions.watch_moves(models, stop))
    listener = redis_client.pubsub()
    await listener.subscribe(control.moved())
    try:
        await asyncio.sleep(0.2)  # (the watcher subscribed)
        waiting = asyncio.ensure_future(models.wait_for(events[-1].position, 60, poll_s=60))
        await writer.apply(0, events, 50)
        reached = await asyncio.wait_for(waiting, 10)  # woken, not at its 60 s poll
        await writer.raise_position(0, events[-1].position + 7)
        heard = [m async for m in _messages(listener, 2)]
    finally:
        stop.set()
        await watcher
        await listener.aclose()  # type: ignore[no-untyped-call]

    assert reached == events[-1].position
    assert heard == [str(events[-1].position).encode(), str(events[-1].position + 7).encode()]


async def _messages(listener: PubSub, count: int) -> AsyncIterator[bytes]:
    """The next ``count`` messages (a subscription's confirmation reads as ``None``)."""
    got = 0
    for _ in range(count + 10):
        message = await listener.get_message(ignore_subscribe_messages=True, timeout=10)
        if message is not None:
            got += 1
            yield message["data"]
        if got == count:
            return


class _LaggingWriter(ProjectionWriter):
    """Lands each chunk's script a little late, as under load: the next chunk is folded (and
    reads the documents it lacks from Redis) while the previous one is still in flight."""

    async def _send(self, body: list[Arg]) -> None:
        await asyncio.sleep(0.01)
        await super()._send(body)


def _amended_then_filled_twice() -> tuple[int, list[SimEvent]]:
    """A resting ask moved to a new price (out of the book and in again), then filled 3 and
    3 of its 10: the id and the market's events of its stream."""
    ex = Exchange()
    ex.list_instrument(Instrument.create("SIMA", "0.01", 1, "cancel_newest", 10, 20))
    for user in (1, 2):
        ex.deposit(user, "USD", 10_000_000)
        ex.deposit(user, "SIMA", 5_000)
    resting = ex.place(1, "SIMA", "sell", 10, 1005)
    assert resting is not None
    ex.amend(1, "SIMA", resting, 10, 1004)
    for _ in range(2):
        ex.place(2, "SIMA", "buy", 3, 1004, "IOC")
    wanted = MarketFold.inputs
    stream = streams.order(resting)
    return resting, [e for e in ex.events if e.stream_id == stream and wanted.wants(e)]


async def test_an_order_amended_then_filled_in_the_next_chunks_rests_with_what_is_left(
    redis_client: aioredis.Redis, control: Control
) -> None:
    # One event per chunk: the amend takes the order out of the book and puts it back (its
    # entry evicted and cached again in one chunk); the first fill, folded while the amend's
    # script ran, used the cache; the amend's eviction, done once its script returned, then
    # dropped the entry, and the second fill reloaded it from Redis before the first fill's
    # script landed: 10 - 3 rested instead of 10 - 3 - 3 (the chaos run's live market
    # projection and its rebuild differed by one resting order).
    order_id, events = _amended_then_filled_twice()
    assert [e.type for e in events] == [
        "OrderAccepted", "OrderAmended", "OrderFilled", "OrderFilled",
    ]  # fmt: skip
    writer = _LaggingWriter(redis_client, control, chunk=1)
    await writer.claim(0)
    await writer.apply(0, events, len(events))

    space = writer.space(MARKET, 1)
    entry = orjson.loads(await redis_client.get(space.book_order(order_id)) or b"null")
    assert entry == {"s": "SIMA", "d": "a", "p": 1004, "q": 4, "t": events[1].position}
    assert await redis_client.hget(space.level_qty("SIMA", "a"), "1004") == b"4"
    assert await redis_client.zrange(space.level_orders("SIMA", "a", 1004), 0, -1) == [
        str(order_id).encode()
    ]


async def test_an_order_whose_lifecycle_is_in_a_list_beside_its_document_keeps_it(
    redis_client: aioredis.Redis, control: Control, flow: Exchange
) -> None:
    """A document stored before the lifecycle moved into it (fields only, entries in
    ``oe:<order_id>``): later events go on that list, and the readers show it whole."""
    order = order_with_history(flow)
    order_id, split, at = order.order_id, order.split, order.at
    writer = ProjectionWriter(redis_client, control)
    await writer.claim(0)
    await writer.apply(0, flow.events[:split], 1)
    space = writer.space("orders", 1)
    state = decode_order(await redis_client.get(space.order(order_id)) or b"")
    entries = [orjson.dumps(entry) for entry in state.pop("lifecycle")]
    await redis_client.set(space.order(order_id), orjson.dumps(list(state.values())))
    await redis_client.rpush(space.order_events(order_id), *entries)

    shown = await resumed_and_fresh(redis_client, control, flow, order)

    assert shown[0] == shown[1]
    assert len(shown[0]) == len(at)
    assert await redis_client.llen(space.order_events(order_id)) == len(at)
