"""Read helpers shared by every query: live generations, instruments, positions, auth.

:class:`ReadModels` is what the query API holds: one Redis client, the key layout, and two
small caches (the live generation of each projection, for a quarter of a second; listed
instruments, forever - a listing never changes). Market and user reads live in
``market_reads.py`` and ``user_reads.py``; they return the wire shapes of API.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any, Final, cast

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from domain.instrument import Instrument
from projections.keys import PROJECTIONS, REFDATA, Control, Space
from projections.resp import RespPipe

GEN_CACHE_S: Final = 0.25


class Moves:
    """Wakes whoever waits for the projection's position each time it may have moved.

    Fired by the query API's subscriber of the ``moved`` channel (``query_api/positions.py``);
    with none, a wait is a plain sleep (its timeout), as polling was.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ticket(self) -> asyncio.Event:
        """Take before reading the position: set by any move after that read began."""
        return self._event

    def fire(self) -> None:
        """A move: wake every ticket taken so far."""
        self._event.set()
        self._event = asyncio.Event()

    @staticmethod
    async def wait(ticket: asyncio.Event, timeout_s: float) -> None:
        """Until the ticket's move, or ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                await ticket.wait()
        except TimeoutError:
            pass


class ReadModels:
    """Redis-backed read access to every projection."""

    def __init__(
        self,
        client: aioredis.Redis,
        control: Control,
        partitions: int,
        pipe: RespPipe | None = None,
    ) -> None:
        """``pipe``: a lean connection for :meth:`run` (else redis-py's client serves it)."""
        self.redis = client
        self.pipe = pipe
        self._shas: dict[str, str] = {}
        self.control = control
        self.partitions = partitions
        self._gens: tuple[float, dict[str, int]] | None = None
        self._instruments: dict[str, Instrument] = {}
        self._pos_keys = [control.pos(p) for p in range(partitions)]
        self.position_keys: tuple[str, ...] = tuple(self._pos_keys)
        """The per-partition position keys (a script reads the minimum with its data)."""
        self._scripts: dict[str, AsyncScript] = {}
        self.moves = Moves()

    def script(self, source: str) -> AsyncScript:
        """A registered Lua script (``EVALSHA``, loaded on first use)."""
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts[source] = self.redis.register_script(source)
        return found

    async def space(self, projection: str) -> Space:
        """The keys of the live generation of ``projection``."""
        now = time.monotonic()
        cached = self._gens
        if cached is None or now - cached[0] > GEN_CACHE_S:
            raw = await self.redis.mget([self.control.gen(n) for n in PROJECTIONS])
            gens = {n: 1 if g is None else int(g) for n, g in zip(PROJECTIONS, raw, strict=True)}
            cached = self._gens = (now, gens)
        return Space(self.control.space(projection, cached[1][projection]))

    async def run(self, source: str, keys: list[str], args: list[str | int]) -> Any:
        """Run a read script (``EVALSHA``, loaded on first use) on the lean pipe if any."""
        if self.pipe is None:
            return await self.script(source)(keys=keys, args=args)
        sha = self._shas.get(source)
        if sha is None:
            sha = self._shas[source] = hashlib.sha1(source.encode()).hexdigest()
        try:
            return await self.pipe.call("EVALSHA", sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            await self.pipe.call("SCRIPT", "LOAD", source)
            return await self.pipe.call("EVALSHA", sha, len(keys), *keys, *args)

    async def page(self, key: str, before: int | None, limit: int) -> list[bytes]:
        """Up to ``limit`` zset members by score, highest first, below ``before`` if given."""
        top = f"({before}" if before is not None else "+inf"
        raw = await self.redis.zrevrangebyscore(key, top, "-inf", start=0, num=limit)
        return cast(list[bytes], raw)

    async def position(self) -> int:
        """The store position every partition of the projection has reached (0: none yet)."""
        if self.pipe is not None:
            raw = await self.pipe.call("MGET", *self._pos_keys)
        else:
            raw = await self.redis.mget(self._pos_keys)
        return min(int(value) if value is not None else 0 for value in raw)

    async def wait_for(self, position: int, timeout_s: float, poll_s: float = 0.01) -> int | None:
        """Wait until the projection reaches ``position``; its position, or ``None`` on timeout.

        Rechecks on every move :attr:`moves` hears of, and at least every ``poll_s`` (growing
        to 0.1 s): a move missed while the subscriber reconnects costs at most that."""
        deadline = time.monotonic() + timeout_s
        while True:
            ticket = self.moves.ticket()
            reached = await self.position()
            if reached >= position:
                return reached
            if time.monotonic() >= deadline:
                return None
            await self.moves.wait(ticket, min(poll_s, max(0.0, deadline - time.monotonic())))
            poll_s = min(poll_s * 1.5, 0.1)

    def known_instrument(self, symbol: str) -> Instrument | None:
        """An instrument this process has already read (no I/O), or ``None``."""
        return self._instruments.get(symbol)

    async def instrument(self, symbol: str) -> Instrument | None:
        """A listed instrument, or ``None``."""
        found = self._instruments.get(symbol)
        if found is not None:
            return found
        raw = await self.redis.hget((await self.space(REFDATA)).instruments(), symbol)
        if raw is None:
            return None
        found = self._instruments[symbol] = _instrument(orjson.loads(raw))
        return found

    async def instruments(self) -> list[dict[str, Any]]:
        """Every listed instrument, by symbol."""
        raw = await self.redis.hgetall((await self.space(REFDATA)).instruments())
        listed = [orjson.loads(value) for value in raw.values()]
        for data in listed:
            self._instruments.setdefault(data["symbol"], _instrument(data))
        return sorted(
            ({k: v for k, v in data.items() if k != "listed_at"} for data in listed),
            key=lambda d: str(d["symbol"]),
        )

    async def user_for_key_hash(self, key_hash: str) -> int | None:
        """The user an API key (its sha256) belongs to, or ``None``."""
        raw = await self.redis.hget((await self.space(REFDATA)).auth(), key_hash)
        return int(raw) if raw is not None else None


def _instrument(data: dict[str, Any]) -> Instrument:
    return Instrument.from_dict({k: v for k, v in data.items() if k != "listed_at"})
