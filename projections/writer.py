"""The projector's write side: fold a batch, then apply it and its checkpoints in one script.

Per events partition the writer keeps what it claimed (fencing epoch, generation and
checkpoint of each projection) and a cache of the documents its folds need. A batch is
deduplicated per projection by position, folded into net changes, and sent as **one**
``EVALSHA`` of ``apply.lua``, which checks the epoch, generations and checkpoints (compare and
set), applies every change, moves the checkpoints and publishes market data - atomically.
Any failure drops the cache; the next attempt reloads what it needs from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from time import monotonic
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from common.gc_tuning import tune_gc as tune_gc_to
from projections.accounts import AccountsFold
from projections.base import Cache, Fold, StoredEvent
from projections.changes import Arg, Changes
from projections.claims import Checkpoint, Claim, least, stored_text
from projections.keys import Control, Space
from projections.market import MarketFold
from projections.orders import OrdersFold
from projections.refdata import RefdataFold
from projections.scripts import APPLY_SHA, RAISE_LUA, run_apply

# Checkpoint (claims.py) and APPLY_SHA (scripts.py) are imported from here too.
__all__ = [
    "APPLY_SHA",
    "CHUNK",
    "REBUILD_CHUNK",
    "TRADE_CAP",
    "Checkpoint",
    "Fenced",
    "ProjectionWriter",
    "all_folds",
    "tune_gc",
]

log = logging.getLogger("projections.writer")

CHUNK: Final = 5000
"""Events per script call: a batch is folded and sent in chunks, the next folding while the
previous one runs in Redis. Bigger chunks fold more into net changes (on the pipeline's
messages, 3.8 Redis commands and 1,510 bytes per order at 1,000 events, 2.75 and 1,300 at
5,000) for a longer hold of Redis (~10 ms per 1,000 events) while a projector catches up;
one keeping up sends small batches whatever this is."""
REBUILD_CHUNK: Final = 5000
"""A rebuild's chunks (a page of the store is 10,000), as big as the live ones."""
TRADE_CAP: Final = 1000
"""Trades kept per symbol."""
RAISED_TRUSTED_S: Final = 1.0
"""How long a position this writer raised a partition's position key to is taken as standing
there: a key that Redis lost (restarted without its last second of AOF) is set again within
this, as every 0.1 s round did before."""


GC_THRESHOLDS: Final = (1_000_000, 50, 100)
"""The projector's and the rebuild's collector thresholds: a batch allocates tens of thousands
of short-lived objects beside a large long-lived document cache, and the default thresholds
(700, 10, 10) traverse that cache again and again (~15 % of a batch's CPU here).

The first generation's is above what a fetch holds at its peak: 20,000 records (each and its
``__dict__``) and their decoded events, ~60k tracked objects, freed by their reference counts
once applied. At 50,000 the collector ran in the middle of nearly every big fetch and traversed
them all (~35 ms a pass): 1.8-2.6 s of the projector's 36.5-48 s of CPU on the replay of a
300k-order pipeline run (``gc.callbacks``), 0.11 s at 1,000,000. What outlives a batch is the
documents cache (~0.74 tracked objects per order: 227k after that run), and the steady state
makes no cyclic garbage (the collected count stays flat), so a collection now comes after
~1.3M orders' worth of cache (a pass of ~1M objects, a few tenths of a second), and garbage
cycles, if any appear, are bounded by the same count."""


def tune_gc() -> None:
    """Move what startup allocated out of the collector's sight and collect less often."""
    tune_gc_to(GC_THRESHOLDS)


class Fenced(Exception):
    """The partition's epoch, a generation or a checkpoint moved: someone else writes it."""


def all_folds() -> list[Fold]:
    """Every projection's fold, in the order they apply."""
    return [RefdataFold(), MarketFold(), OrdersFold(), AccountsFold()]


class ProjectionWriter:
    """Applies batches of one or more partitions to Redis."""

    def __init__(
        self,
        client: aioredis.Redis,
        control: Control,
        folds: Sequence[Fold] | None = None,
        trade_cap: int = TRADE_CAP,
        *,
        live: bool = True,
        chunk: int | None = None,
    ) -> None:
        """``live=False`` writes pinned generations for a rebuild: its own fencing epoch, no
        generation check, no market data published, the live position left alone, and
        chunks of ``REBUILD_CHUNK`` events (``chunk`` overrides)."""
        self._redis = client
        self._live = live
        self._chunk = chunk or (CHUNK if live else REBUILD_CHUNK)
        self._control = control
        self._folds = list(folds) if folds is not None else all_folds()
        self._trade_cap = trade_cap
        self._raise = client.register_script(RAISE_LUA)
        self._claims: dict[int, Claim] = {}
        self._raised: dict[int, tuple[int, float]] = {}
        """Per partition, the highest position this writer raised its position key to since it
        claimed or reloaded it (the key never moves back: ``apply.lua``, ``RAISE_LUA``), and
        when (``time.monotonic()``)."""

    @property
    def folds(self) -> list[Fold]:
        """The folds applied."""
        return self._folds

    async def claim(self, partition: int, gens: dict[str, int] | None = None) -> Checkpoint:
        """Own ``partition`` from now on (fences its previous owner); where to resume.

        ``gens`` pins generations (a rebuild writes a new one); by default the live ones.
        """
        self._raised.pop(partition, None)
        epoch = str(await self._redis.incr(self._epoch_key(partition)))
        claim = Claim(epoch, {}, {})
        await self._load(partition, claim, gens)
        self._claims[partition] = claim
        return claim.resume()

    def release(self, partition: int) -> None:
        """Forget ``partition`` (revoked)."""
        self._claims.pop(partition, None)
        self._raised.pop(partition, None)

    def checkpoint(self, partition: int) -> Checkpoint | None:
        """Where a claimed partition stands in Redis (``None``: not claimed): never ahead of
        a script still in flight, so a watermark raised from it cannot pass data not yet
        applied (a ``min_position`` read would miss it)."""
        claim = self._claims.get(partition)
        return claim.applied if claim is not None else None

    def claimed(self) -> list[int]:
        """The partitions this writer holds."""
        return sorted(self._claims)

    def below(self, partition: int, position: int) -> bool:
        """Whether ``partition``'s position key may still be below ``position`` (not raised to
        it or past by this writer since it claimed or reloaded the partition, in the last
        ``RAISED_TRUSTED_S``)."""
        raised, when = self._raised.get(partition, (-1, 0.0))
        return position > raised or monotonic() - when > RAISED_TRUSTED_S

    async def raise_position(self, partition: int, position: int) -> bool:
        """Say the partition reflects ``position`` (never moves it back); whether it moved.

        True of a partition whose input is consumed up to a Kafka end offset read *after* the
        relay's checkpoint reached ``position``: every event up to it is applied.

        A position this writer already raised the key to (or past) is not sent again: the
        watermark task asks every 0.1 s for each caught-up partition, and while the relay's
        checkpoint stood still each ask was a script call that moved nothing (~38 a second
        from an idle projector of four partitions, counted in Redis's ``commandstats``); now
        one per partition every ``RAISED_TRUSTED_S``.
        """
        if not self.below(partition, position):
            return False
        moved = await self._raise(
            keys=[self._control.pos(partition)], args=[position, self._control.moved()]
        )
        if partition in self._claims:
            self._raised[partition] = (position, monotonic())
        return bool(moved)

    async def _load(self, partition: int, claim: Claim, gens: dict[str, int] | None) -> None:
        self._raised.pop(partition, None)  # (after a failure: ask Redis again)
        names = [fold.name for fold in self._folds]
        if gens is None:
            raw = await self._redis.mget([self._control.gen(n) for n in names])
            gens = {n: int(g) if g is not None else 1 for n, g in zip(names, raw, strict=True)}
        claim.gens = {n: gens[n] for n in names}
        keys = [self.space(n, claim.gens[n]).checkpoint(partition) for n in names]
        stored = await self._redis.mget(keys)
        claim.checkpoints = {
            n: Checkpoint.decode(raw) for n, raw in zip(names, stored, strict=True)
        }
        claim.stored = {n: stored_text(raw) for n, raw in zip(names, stored, strict=True)}
        claim.cache.clear()
        claim.stale = False
        claim.applied = claim.resume()

    def space(self, projection: str, gen: int) -> Space:
        """The keys of one generation of a projection."""
        return Space(self._control.space(projection, gen))

    async def apply(
        self, partition: int, events: Sequence[StoredEvent], next_offset: int | None
    ) -> int:
        """Apply a batch and move the partition's checkpoints; the number of Redis ops sent.

        Raises :class:`Fenced` when the partition is no longer this writer's. Any other error
        leaves Redis untouched or fully applied; retrying the same batch is safe either way.
        """
        claim = self._claims.get(partition)
        if claim is None:
            raise Fenced(f"partition {partition} is not claimed")
        if claim.stale:
            await self._load(partition, claim, claim.gens)
        try:
            return await self._apply(partition, claim, events, next_offset)
        except ResponseError as exc:
            claim.stale = True
            if "FENCED" in str(exc):
                self._claims.pop(partition, None)
                raise Fenced(f"partition {partition}: {exc}") from exc
            raise
        except BaseException:
            claim.stale = True
            raise

    async def _apply(
        self, partition: int, claim: Claim, events: Sequence[StoredEvent], next_offset: int | None
    ) -> int:
        """Fold and send the batch in chunks: chunk k+1 folds while chunk k runs in Redis.

        A chunk's checkpoint keeps the offset the batch started from (a crash after it
        re-reads the batch and skips what the chunk applied); the last chunk's has
        ``next_offset``.

        The documents chunks closed are forgotten only once the whole batch landed. Forgotten
        when its own script returned, a chunk's closed document was also dropped from what
        the next chunk, folded meanwhile, had made of it (an amend that loses time priority,
        to a new price or a larger quantity, takes the order out of the book and puts it
        back in one chunk): the chunk after that reloaded it from Redis while the next
        chunk's script was still in flight, a stale entry.
        """
        started = dict(claim.checkpoints)
        ops = 0
        closed: list[str] = []
        pending: tuple[asyncio.Future[Any], Prepared] | None = None
        try:
            size = self._chunk
            for start in range(0, max(len(events), 1), size):
                chunk = events[start : start + size]
                final = start + size >= len(events)
                prepared = await self._prepare(partition, claim, chunk, started, next_offset, final)
                claim.checkpoints = prepared.moved  # (the next chunk's compare-and-set expects it)
                claim.stored = {name: ck.encode() for name, ck in prepared.moved.items()}
                closed += prepared.evict
                if pending is not None:
                    ops += await _finish(claim, *pending)
                pending = (asyncio.ensure_future(self._send(prepared.body)), prepared)
            assert pending is not None
            ops += await _finish(claim, *pending)
            for key in closed:  # (nothing in flight now: a key missed reads what Redis has)
                claim.cache.pop(key, None)
        finally:
            if pending is not None and not pending[0].done():
                with contextlib.suppress(BaseException):
                    await pending[0]
        return ops

    async def _prepare(
        self,
        partition: int,
        claim: Claim,
        events: Sequence[StoredEvent],
        started: dict[str, Checkpoint],
        next_offset: int | None,
        final: bool,
    ) -> Prepared:
        last = events[-1].position if events else 0
        plans = []
        for fold in self._folds:
            done = claim.checkpoints[fold.name].position
            todo = events if not events or events[0].position > done else _after(events, done)
            plans.append((fold, self.space(fold.name, claim.gens[fold.name]), todo))
        await self._fetch(claim.cache, plans)
        changes = Changes()
        for fold, space, todo in plans:
            if todo:
                fold.fold(todo, space, claim.cache, changes)
        moved = {
            name: Checkpoint(
                max(claim.checkpoints[name].position, last),
                next_offset if final else started[name].offset,
            )
            for name in claim.checkpoints
        }
        ops, count = changes.encode(self._trade_cap)
        body = self._payload(partition, claim, moved, last)
        body += ops
        return Prepared(body, moved, changes.evict, count)

    async def _send(self, body: list[Arg]) -> None:
        """Run the apply script on one chunk's arguments (a subclass may send them otherwise)."""
        await run_apply(self._redis, body)

    async def _fetch(
        self, cache: Cache, plans: list[tuple[Fold, Space, Sequence[StoredEvent]]]
    ) -> None:
        wanted: list[str] = []
        loaders: list[Fold] = []
        for fold, space, todo in plans:
            if todo:
                keys = fold.wanted(todo, space, cache)
                wanted += keys
                loaders += [fold] * len(keys)
        if wanted:
            found = await self._redis.mget(wanted)
            for key, fold, raw in zip(wanted, loaders, found, strict=True):
                cache[key] = fold.load(raw) if raw is not None else None

    def _payload(
        self, partition: int, claim: Claim, moved: dict[str, Checkpoint], last: int
    ) -> list[Arg]:
        """The script's arguments before the op stream (see ``apply.lua``)."""
        control = self._control
        live = self._live
        args: list[Arg] = [
            self._epoch_key(partition),
            claim.epoch,
            control.pos(partition) if live else f"{control.prefix}:rebuild:pos",
            str(last),
            control.market_seq(""),
            control.channel("") if live else "",
            control.moved() if live else "",
        ]
        if live:
            args.append(str(len(claim.gens)))
            for name, gen in claim.gens.items():
                args += (control.gen(name), str(gen))
        else:
            args.append("0")
        args.append(str(len(claim.gens)))
        for name in claim.gens:
            key = self.space(name, claim.gens[name]).checkpoint(partition)
            args += (key, claim.stored[name], moved[name].encode())
        return args

    def _epoch_key(self, partition: int) -> str:
        if self._live:
            return self._control.epoch(partition)
        return f"{self._control.prefix}:rebuild:epoch:{partition}"


@dataclass(slots=True)
class Prepared:
    """One chunk ready to send: the script's body and what to record once it ran."""

    body: list[Arg]
    moved: dict[str, Checkpoint]
    evict: list[str]
    """Cache keys of documents the chunk closed (forgotten once the batch landed)."""
    ops: int


async def _finish(claim: Claim, sent: asyncio.Future[Any], prepared: Prepared) -> int:
    """Wait for a chunk's script; then say where Redis stands. Its number of ops."""
    await sent
    claim.applied = least(prepared.moved)
    return prepared.ops


def _after(events: Sequence[StoredEvent], position: int) -> Sequence[StoredEvent]:
    """The events after ``position`` (events come in position order)."""
    for index, event in enumerate(events):
        if event.position > position:
            return events[index:]
    return []
