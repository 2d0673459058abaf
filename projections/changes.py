"""Net changes of a batch: what the folds produce and the writer sends to Redis in one go.

A fold records *net* effects: the last value of each JSON document, the final score (or
removal) of each zset member, the summed quantity change of each book level, one merged
candle per bucket. ``encode()`` turns them into a flat stream of commands for the apply script
(``projections/apply.lua``): plain Redis commands plus four of its own (``L2``, ``CANDLE``,
``TRADES`` need a read-compare-write on the server, because other partitions change the same
keys concurrently; ``ZADDM`` adds members scored by their own number).

The commands' names and argument counts travel in one binary header argument (3 bytes per
command: its code in :data:`OPS` and its argument count, big-endian), and only their own
arguments after it: Redis turns every argument of a script call into a Lua string (~800
instructions each, hashed and interned, whatever its length), which made ~17 % of Redis's
instructions on the projector's calls; the script reads the header with ``string.byte``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

Arg = bytes | str
Op = list[Arg]

MAX_ARGS = 2000
"""Arguments per command: Lua's ``unpack`` of the apply script stops near 8000."""

OPS: Final = ("MSET", "DEL", "HSET", "ZREM", "ZADD", "RPUSH", "L2", "TRADES", "CANDLE", "ZADDM")
"""The op stream's commands; a command's code in the header is its index here plus one (the
script's ``NAMES`` lists them in the same order)."""
_CODES: Final = {name: index + 1 for index, name in enumerate(OPS)}


def _emit(head: bytearray, out: list[Arg], name: str, args: list[Arg], step: int = 1) -> int:
    """Append a command's arguments to the op stream and its code and argument count to the
    header, split into commands of at most ``MAX_ARGS`` arguments (``step``: arguments that
    must stay together); commands added."""
    return _emit_head(head, out, name, [], args, step)


def _emit_head(
    head: bytearray, out: list[Arg], name: str, first: list[Arg], args: list[Arg], step: int
) -> int:
    """Like :func:`_emit` for commands that repeat ``first`` (a key, ...) before each part."""
    if not args:
        return 0
    code = _CODES[name]
    size = MAX_ARGS - MAX_ARGS % step
    count = 0
    for start in range(0, len(args), size):
        part = args[start : start + size]
        argc = len(first) + len(part)
        head += bytes((code, argc >> 8, argc & 255))
        out += first
        out += part
        count += 1
    return count


def commands(stream: list[Arg]) -> list[Op]:
    """The commands of an op stream (its header, then each command's arguments) as plain
    commands, e.g. to send them otherwise: ``ZADDM key m...`` as ``ZADD key m m ...`` and
    ``L2`` one per level (``levels_key qty_key symbol side price delta``)."""
    found: list[Op] = []
    head = stream[0]
    assert isinstance(head, bytes)
    index = 1
    for at in range(0, len(head), 3):
        name, argc = OPS[head[at] - 1], head[at + 1] * 256 + head[at + 2]
        args = stream[index : index + argc]
        index += argc
        if name == "ZADDM":
            found.append(["ZADD", args[0], *[a for member in args[1:] for a in (member, member)]])
        elif name == "L2":
            found += [["L2", *args[:4], *args[j : j + 2]] for j in range(4, len(args), 2)]
        else:
            found.append([name, *args])
    return found


@dataclass(slots=True)
class Candle:
    """One bucket's OHLCV seen in a batch; open/close decided by trade id (commutative)."""

    open_id: int
    open: int
    close_id: int
    close: int
    high: int
    low: int
    volume: int
    trades: int

    def add(self, trade_id: int, price: int, quantity: int) -> None:
        """Fold one more trade of the bucket in."""
        if trade_id < self.open_id:
            self.open_id, self.open = trade_id, price
        if trade_id > self.close_id:
            self.close_id, self.close = trade_id, price
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume += quantity
        self.trades += 1


@dataclass(slots=True)
class Changes:
    """Accumulates a batch's net changes across every read model."""

    docs: dict[str, bytes | None] = field(default_factory=dict)
    """JSON documents: key → value (``None`` deletes)."""
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)
    """Hash fields to set."""
    zsets: dict[str, dict[str, int | None]] = field(default_factory=dict)
    """Zset members: key → member → score (``None`` removes)."""
    lists: dict[str, list[Arg]] = field(default_factory=dict)
    """Values appended to lists (RPUSH)."""
    levels: dict[tuple[str, str, str, str], dict[int, int]] = field(default_factory=dict)
    """L2: (levels key, quantities key, symbol, side) → price → quantity change."""
    candles: dict[tuple[str, str, int], Candle] = field(default_factory=dict)
    """(candle index key, candle prefix, bucket) → merged candle."""
    trades: list[tuple[str, str, int, bytes]] = field(default_factory=list)
    """(trades key, symbol, trade id, trade JSON)."""
    born: set[str] = field(default_factory=set)
    """Documents and zset members created by this batch (removing them sends nothing)."""
    evict: list[str] = field(default_factory=list)
    """Cache keys to forget once the batch is committed (closed orders, ...)."""

    def set_doc(self, key: str, value: bytes | None, born: bool = False) -> None:
        """Set (or with ``None`` delete) a JSON document.

        ``born``: the document did not exist before this batch, so deleting it later in the
        batch leaves nothing to send.
        """
        if value is None and key in self.born:
            self.born.discard(key)
            self.docs.pop(key, None)
            return
        if born:
            self.born.add(key)
        self.docs[key] = value

    def hset(self, key: str, name: str, value: str) -> None:
        """Set one hash field."""
        fields = self.hashes.get(key)
        if fields is None:
            fields = self.hashes[key] = {}
        fields[name] = value

    def zadd(self, key: str, member: str, score: int, born: bool = False) -> None:
        """Add (or move) a zset member (``born``: it was in no zset before this batch)."""
        if born:
            self.born.add(f"{key}\0{member}")
        members = self.zsets.get(key)
        if members is None:
            members = self.zsets[key] = {}
        members[member] = score

    def zrem(self, key: str, member: str) -> None:
        """Remove a zset member (a no-op on the server if absent)."""
        tag = f"{key}\0{member}"
        if tag in self.born:
            self.born.discard(tag)
            del self.zsets[key][member]
            return
        members = self.zsets.get(key)
        if members is None:
            members = self.zsets[key] = {}
        members[member] = None

    def rpush(self, key: str, value: bytes) -> None:
        """Append to a list."""
        values = self.lists.get(key)
        if values is None:
            values = self.lists[key] = []
        values.append(value)

    def level(self, keys: tuple[str, str, str, str], price: int, delta: int) -> None:
        """Change the total quantity at one level (``keys``: levels, quantities, symbol, side)."""
        prices = self.levels.get(keys)
        if prices is None:
            prices = self.levels[keys] = {}
        prices[price] = prices.get(price, 0) + delta

    def candle(self, slot: tuple[str, str, int], trade_id: int, price: int, qty: int) -> None:
        """Fold a trade into one candle bucket."""
        found = self.candles.get(slot)
        if found is None:
            self.candles[slot] = Candle(trade_id, price, trade_id, price, price, price, qty, 1)
        else:
            found.add(trade_id, price, qty)

    def trade(self, key: str, symbol: str, trade_id: int, record: bytes) -> None:
        """Record a trade (published to the symbol's market data too)."""
        self.trades.append((key, symbol, trade_id, record))

    def encode(self, trade_cap: int) -> tuple[list[Arg], int]:
        """The op stream of the apply script (its header, then each command's arguments, flat:
        Redis hands them to Lua as ``ARGV`` with no JSON to decode) and its number of
        commands, in an order where later commands may rely on earlier ones."""
        head = bytearray()
        out: list[Arg] = [b""]
        count = 0
        sets: list[Arg] = []
        dels: list[Arg] = []
        for key, doc in self.docs.items():
            if doc is None:
                dels.append(key)
            else:
                sets += (key, doc)
        count += _emit(head, out, "MSET", sets, 2)
        count += _emit(head, out, "DEL", dels)
        for key, fields in self.hashes.items():
            pairs: list[Arg] = []
            for name, value in fields.items():
                pairs += (name, value)
            count += _emit_head(head, out, "HSET", [key], pairs, 2)
        for key, members in self.zsets.items():
            added: list[Arg] = []
            own: list[Arg] = []  # (members scored by their own number: sent once)
            removed: list[Arg] = []
            for member, score in members.items():
                if score is None:
                    removed.append(member)
                else:
                    text = str(score)
                    if text == member:
                        own.append(member)
                    else:
                        added += (text, member)
            count += _emit_head(head, out, "ZREM", [key], removed, 1)
            count += _emit_head(head, out, "ZADD", [key], added, 2)
            count += _emit_head(head, out, "ZADDM", [key], own, 1)
        for key, values in self.lists.items():
            count += _emit_head(head, out, "RPUSH", [key], values, 1)
        for keys, prices in self.levels.items():
            moves: list[Arg] = []
            for price, delta in prices.items():
                if delta:
                    moves += (str(price), str(delta))
            count += _emit_head(head, out, "L2", list(keys), moves, 2)
        by_key: dict[tuple[str, str], list[Arg]] = {}
        for key, symbol, trade_id, record in self.trades:
            by_key.setdefault((key, symbol), []).extend((str(trade_id), record))
        for (key, symbol), pairs in by_key.items():
            count += _emit_head(head, out, "TRADES", [key, symbol, str(trade_cap)], pairs, 2)
        for (index, prefix, bucket), c in self.candles.items():
            merged = (c.open_id, c.open, c.close_id, c.close, c.high, c.low, c.volume, c.trades)
            count += _emit_head(
                head, out, "CANDLE", [index, prefix, str(bucket)], [*map(str, merged)], 8
            )
        out[0] = bytes(head)
        return out, count
