"""Net changes of a batch: what the folds produce and the writer sends to Redis in one go.

A fold records *net* effects: the last value of each JSON document, the final score (or
removal) of each zset member, the summed quantity change of each book level, one merged
candle per bucket. ``ops()`` turns them into a flat list of commands for the apply script
(``projections/apply.lua``): plain Redis commands plus three of its own (``L2``, ``CANDLE``,
``TRADES``) that need a read-compare-write on the server, because other partitions change
the same keys concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Op = list[str]

MAX_ARGS = 2000
"""Arguments per command: Lua's ``unpack`` of the apply script stops near 8000."""


def _chunked(ops: list[Op], head: list[str], args: list[str], step: int = 1) -> None:
    """Append ``head + args`` as one or more commands of at most ``MAX_ARGS`` arguments."""
    if len(args) <= MAX_ARGS:
        if args:
            head.extend(args)
            ops.append(head)
        return
    size = MAX_ARGS - MAX_ARGS % step
    for start in range(0, len(args), size):
        ops.append([*head, *args[start : start + size]])


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
    lists: dict[str, list[bytes]] = field(default_factory=dict)
    """Values appended to lists (RPUSH)."""
    levels: dict[tuple[str, str, str, str, int], int] = field(default_factory=dict)
    """L2: (levels key, quantities key, symbol, side, price) → quantity change."""
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
        slot = (keys[0], keys[1], keys[2], keys[3], price)
        self.levels[slot] = self.levels.get(slot, 0) + delta

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

    def ops(self, trade_cap: int) -> list[Op]:
        """The commands of the apply script, in an order where later ones may rely on earlier."""
        ops: list[Op] = []
        for key, doc in self.docs.items():
            ops.append(["DEL", key] if doc is None else ["SET", key, doc.decode()])
        for key, fields in self.hashes.items():
            pairs: list[str] = []
            for name, value in fields.items():
                pairs += (name, value)
            _chunked(ops, ["HSET", key], pairs, 2)
        for key, members in self.zsets.items():
            added: list[str] = []
            removed: list[str] = []
            for member, score in members.items():
                if score is None:
                    removed.append(member)
                else:
                    added += (str(score), member)
            _chunked(ops, ["ZREM", key], removed)
            _chunked(ops, ["ZADD", key], added, 2)
        for key, values in self.lists.items():
            _chunked(ops, ["RPUSH", key], [v.decode() for v in values])
        for (levels_key, qty_key, symbol, side, price), delta in self.levels.items():
            if delta:
                ops.append(["L2", levels_key, qty_key, symbol, side, str(price), str(delta)])
        by_key: dict[tuple[str, str], list[str]] = {}
        for key, symbol, trade_id, record in self.trades:
            by_key.setdefault((key, symbol), []).extend((str(trade_id), record.decode()))
        for (key, symbol), pairs in by_key.items():
            _chunked(ops, ["TRADES", key, symbol, str(trade_cap)], pairs, 2)
        for (index, prefix, bucket), c in self.candles.items():
            merged = (c.open_id, c.open, c.close_id, c.close, c.high, c.low, c.volume, c.trades)
            ops.append(["CANDLE", index, prefix, str(bucket), *map(str, merged)])
        return ops
