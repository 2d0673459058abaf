"""Blue/green rebuilds: replay stored events into the next generation, then swap it in.

The rebuild writes generation ``g + 1`` of each chosen projection with the same folds as the
live projector (``ProjectionWriter(live=False)``: its own fencing, no market data). When it has
reached the store's head ``H``, one Lua script swaps atomically: for every events partition it
gives the new generation the checkpoint ``H:<the live checkpoint's Kafka offset>`` - the live
projector resumes reading where it was and skips what the rebuild already applied - and points
``<prefix>:gen:<projection>`` at the new generation. The live projector's next write finds the
generation changed (fenced), reloads its partitions and carries on in the new keys; readers
follow within a quarter of a second. If the live projector got past ``H`` first, the swap
refuses and the rebuild catches up further.

``compare`` checks a rebuilt generation against the live one key by key once both reflect
the same events (every partition's live checkpoint at ``H``, or with no event of its own in
between).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import redis.asyncio as aioredis

from projections.base import StoredEvent
from projections.keys import Control, Space
from projections.records import decode_ledger, decode_lifecycle, decode_order, lifecycle_entry
from projections.writer import Checkpoint, ProjectionWriter, all_folds

REBUILD_PARTITION: Final = -1
"""The rebuild replays every partition in position order under one pseudo-partition."""
RECENT: Final = 500_000
"""Events remembered (position, partition) to tell when the live projection is comparable."""

SWAP_LUA: Final = """
local p = cjson.decode(ARGV[1])
for _, g in ipairs(p.gens) do
  if (redis.call('GET', g[1]) or '1') ~= g[2] then
    return redis.error_reply('CHANGED the live generation moved')
  end
end
local moved = {}
for _, c in ipairs(p.cks) do
  local live = redis.call('GET', c[1]) or '0:-'
  local sep = string.find(live, ':', 1, true)
  if tonumber(string.sub(live, 1, sep - 1)) > tonumber(p.position) then
    return 0
  end
  moved[#moved + 1] = {c[2], p.position .. ':' .. string.sub(live, sep + 1)}
end
for _, m in ipairs(moved) do
  redis.call('SET', m[1], m[2])
end
for _, g in ipairs(p.gens) do
  redis.call('SET', g[1], g[3])
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Difference:
    """A key whose live and rebuilt values differ, both as the readers decode them
    (``None``: absent), so a failed verify shows what is wrong, not only where."""

    key: str
    live: object
    rebuilt: object


class Rebuild:
    """One rebuild of some projections into their next generation."""

    def __init__(
        self,
        client: aioredis.Redis,
        control: Control,
        projections: Sequence[str],
        partitions: int,
        partition_of: Callable[[str], int | None],
    ) -> None:
        """``partition_of`` gives a stream's events-topic partition, or ``None`` for a stream
        the relay keeps off the events topic (the live projector never sees its events)."""
        self._redis = client
        self._control = control
        self._folds = [f for f in all_folds() if f.name in projections]
        self.projections = [f.name for f in self._folds]
        self._partitions = partitions
        self._partition_of = partition_of
        self._writer = ProjectionWriter(client, control, self._folds, live=False)
        self.live_gens: dict[str, int] = {}
        self.new_gens: dict[str, int] = {}
        self.position = 0
        self._recent: deque[tuple[int, int]] = deque(maxlen=RECENT)

    async def start(self, from_position: int = 0) -> int:
        """Pick the generations; a fresh one is emptied first. Where the replay starts.

        ``from_position > 0`` continues an interrupted rebuild: its generation must already
        hold every event up to that position.
        """
        raw = await self._redis.mget([self._control.gen(n) for n in self.projections])
        self.live_gens = {
            n: 1 if g is None else int(g) for n, g in zip(self.projections, raw, strict=True)
        }
        self.new_gens = {n: g + 1 for n, g in self.live_gens.items()}
        if from_position == 0:
            for name, gen in self.new_gens.items():
                await self.drop(name, gen)
        resume = await self._writer.claim(REBUILD_PARTITION, self.new_gens)
        if from_position and resume.position != from_position:
            raise ValueError(
                f"the next generation holds events up to {resume.position}, not {from_position}"
            )
        self.position = resume.position
        return self.position

    async def apply(self, events: Sequence[StoredEvent]) -> None:
        """Replay a page of stored events (position order) into the new generation."""
        if not events:
            return
        await self._writer.apply(REBUILD_PARTITION, events, None)
        partition_of = self._partition_of
        for event in events:
            partition = partition_of(event.stream_id)
            if partition is not None:
                self._recent.append((event.position, partition))
        self.position = events[-1].position

    async def swap(self) -> bool:
        """Make the new generations live; ``False`` if the live projection is past ours."""
        cks = []
        for name in self.projections:
            live = Space(self._control.space(name, self.live_gens[name]))
            new = Space(self._control.space(name, self.new_gens[name]))
            cks += [[live.checkpoint(p), new.checkpoint(p)] for p in range(self._partitions)]
        body = {
            "gens": [
                [self._control.gen(n), str(self.live_gens[n]), str(self.new_gens[n])]
                for n in self.projections
            ],
            "cks": cks,
            "position": str(self.position),
        }
        swapped = await self._redis.eval(SWAP_LUA, 0, orjson.dumps(body))
        return bool(swapped)

    async def live_state(self) -> str:
        """``"same"`` (live reflects exactly our events), ``"behind"`` or ``"ahead"``."""
        state = "same"
        for name in self.projections:
            live = Space(self._control.space(name, self.live_gens[name]))
            raw = await self._redis.mget([live.checkpoint(p) for p in range(self._partitions)])
            done = {p: Checkpoint.decode(r).position for p, r in enumerate(raw)}
            if any(position > self.position for position in done.values()):
                return "ahead"
            if any(pos > done[part] for pos, part in self._recent):
                state = "behind"
        return state

    async def compare(self, limit: int = 20) -> list[Difference]:
        """Keys whose value differs between the live and the rebuilt generations (up to
        ``limit``), checkpoints aside, with both values as the readers decode them.

        Each key's stored content is compared first, in one string per key made on the server
        (:data:`FINGERPRINT_LUA`); only the few that differ are read and decoded, since forms
        that differ may still read the same (``projections/records.py``)."""
        differences: list[Difference] = []
        for name in self.projections:
            bases = [
                self._control.space(name, g) for g in (self.live_gens[name], self.new_gens[name])
            ]
            live, new = [await _fingerprints(self._redis, base) for base in bases]
            names = live.keys() | new.keys()
            unequal = {key for key in names if live.get(key) != new.get(key)}
            # (an order's lifecycle is in its document, or in a list beside a document stored
            # before: each order that differs is compared as both, its fields and lifecycle)
            orders = {k[3:] for k in unequal if k.startswith(":o:")}
            orders |= {k[4:] for k in unequal if k.startswith(":oe:")}
            unequal |= {f":o:{n}" for n in orders} | {f":oe:{n}" for n in orders}
            if not unequal:
                continue
            read_live, read_new = [await _read(self._redis, base, unequal) for base in bases]
            for key in sorted(unequal):
                if read_live.get(key) != read_new.get(key):
                    differences.append(
                        Difference(f"{name}:{key}", read_live.get(key), read_new.get(key))
                    )
                    if len(differences) >= limit:
                        return differences
        return differences

    async def drop(self, name: str, gen: int) -> int:
        """Delete every key of one generation of a projection; how many."""
        pattern = f"{self._control.space(name, gen)}:*"
        deleted = 0
        batch: list[bytes] = []
        async for key in self._redis.scan_iter(match=pattern, count=2000):
            batch.append(key)
            if len(batch) >= 2000:
                deleted += await self._redis.unlink(*batch)
                batch = []
        if batch:
            deleted += await self._redis.unlink(*batch)
        return deleted


FINGERPRINT_LUA: Final = """
local out = {}
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key).ok
  local parts = {}
  if kind == 'string' then
    parts = {redis.call('GET', key)}
  elseif kind == 'hash' then
    local flat = redis.call('HGETALL', key)
    local at = {}
    for j = 1, #flat, 2 do at[#at + 1] = j end
    table.sort(at, function(a, b) return flat[a] < flat[b] end)
    for _, j in ipairs(at) do
      parts[#parts + 1] = flat[j]
      parts[#parts + 1] = flat[j + 1]
    end
  elseif kind == 'zset' then
    parts = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  elseif kind == 'list' then
    parts = redis.call('LRANGE', key, 0, -1)
  end
  local enc = {kind}
  for _, part in ipairs(parts) do enc[#enc + 1] = #part .. ':' .. part end
  out[i] = table.concat(enc, ',')
end
return out
"""
"""Each key's kind and content in one string (hash fields sorted; zsets and lists in order):
equal strings, equal values. One reply element per key instead of one per member."""
FINGERPRINT_BATCH: Final = 500
"""Keys per script call (a call holds Redis while it reads them)."""
READ_BATCH: Final = 2000
"""Differing keys read per pipeline (a ``TYPE`` and a read each)."""


async def _fingerprints(client: aioredis.Redis, base: str) -> dict[str, bytes]:
    """Every key of a generation (relative name → its content in one string), checkpoints
    aside. A command and a reply element per key and member made comparing the generations
    of a large stack (a million keys each) take most of ``rebuild --verify``."""
    script = client.register_script(FINGERPRINT_LUA)
    found: dict[str, bytes] = {}
    batches: list[list[str]] = [[]]
    async for raw in client.scan_iter(match=f"{base}:*", count=2000):
        key = raw.decode()
        if not key.startswith(":ck:", len(base)):
            batches[-1].append(key)
        if len(batches[-1]) >= FINGERPRINT_BATCH:
            batches.append([])
    for batch in batches:
        if batch:
            prints = await script(keys=batch)
            found.update(zip((k[len(base) :] for k in batch), prints, strict=True))
    return found


async def _read(client: aioredis.Redis, base: str, names: set[str]) -> dict[str, object]:
    """Some keys of a generation (relative names) as the readers decode them; absent ones
    left out. An order's lifecycle (``:oe:``) reads as the readers find it: in its document,
    or in its list beside a document stored before."""
    wanted = set(names) | {":o:" + n[4:] for n in names if n.startswith(":oe:")}
    found: dict[str, object] = {}
    keys = [(base + n).encode() for n in sorted(wanted)]
    for start in range(0, len(keys), READ_BATCH):
        await _read_keys(client, base, keys[start : start + READ_BATCH], found)
    shown = {n: _as_read(n, found[n], found) for n in names if n in found}
    for name in names:
        if name.startswith(":oe:") and name not in found and ":o:" + name[4:] in found:
            shown[name] = _as_read(name, None, found)
    return {n: v for n, v in shown.items() if v is not None}


_READS: Final = {
    "string": lambda pipe, key: pipe.get(key),
    "hash": lambda pipe, key: pipe.hgetall(key),
    "zset": lambda pipe, key: pipe.zrange(key, 0, -1, withscores=True),
    "list": lambda pipe, key: pipe.lrange(key, 0, -1),
}


async def _read_keys(
    client: aioredis.Redis, base: str, keys: list[bytes], found: dict[str, object]
) -> None:
    """Read ``keys`` (of any kind) into ``found`` in two round trips."""
    if not keys:
        return
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    kinds = [k.decode() if isinstance(k, bytes) else str(k) for k in await pipe.execute()]
    readable = [(key, kind) for key, kind in zip(keys, kinds, strict=True) if kind in _READS]
    pipe = client.pipeline(transaction=False)
    for key, kind in readable:
        _READS[kind](pipe, key)
    values = await pipe.execute()
    for (key, _), value in zip(readable, values, strict=True):
        found[key.decode()[len(base) :]] = value


def _as_read(name: str, value: Any, found: dict[str, Any]) -> object:
    """A value as the readers decode it where its stored form may vary
    (``projections/records.py``: a projection written before the compact forms, or partly so,
    equals its rebuild when it reads the same)."""
    if name.startswith(":o:") and value is not None:
        state = decode_order(value)
        del state["lifecycle"]  # (read as its ``:oe:`` name)
        return state
    if name.startswith(":oe:"):
        raw = found.get(":o:" + name[4:])
        order = decode_order(raw) if raw is not None else {}
        embedded = order.get("lifecycle")
        if embedded is not None:
            return [lifecycle_entry(entry, order) for entry in embedded]
        return None if value is None else [decode_lifecycle(entry, order) for entry in value]
    if name.startswith(":lg:"):
        return [(decode_ledger(member), score) for member, score in value]
    return value
