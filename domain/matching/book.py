"""The order book of one symbol: two sides of price levels, each level a FIFO queue.

Layout, chosen for CPython speed:

* A side keeps ``levels: dict[key, PriceLevel]`` and ``keys``, a plain ``list`` of the same keys
  sorted ascending with the **best level last**. The key is the price for bids and the negated
  price for asks, so on both sides ``keys[-1]`` is the best level, an incoming order crosses a
  level iff ``key >= threshold`` (``threshold = opposite.key(limit)``), and taking out the best
  level is an O(1) ``list.pop()``. A new level is a ``bisect.insort`` (a short memmove).
* A level is a FIFO list of open orders read from a moving ``head``, plus its total open
  quantity. Cancelling from the middle is O(1) by **tombstoning**: the order's remaining quantity
  drops to 0 and matching skips (and pops) such entries. A level whose open quantity drops to 0
  is removed at once; a level with many tombstones is compacted, and the popped front is
  trimmed, so memory stays proportional to the open orders (amortised O(1) per operation).
* Orders, levels and user counters are acyclic (``mypyc_attr(acyclic=True)``): in the mypyc
  build they carry no GC header and are not tracked by the cyclic GC; only each level's list is
  (a full collection touches one pointer per queued order, not one object).
* An open order is a :class:`RestingOrder` mutated in place by fills. Read it from outside
  through :class:`OpenOrder` views (:meth:`OrderBook.open_orders`, :meth:`OrderBook.get`).
* ``orders: dict[order_id, order]`` finds any open order in O(1).
* The book counts open orders per user and side (``open_counts``), which makes the
  opposite-side rule and the "can this order meet its own user?" test one dict lookup.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator
from itertools import islice
from typing import Any, Final, NamedTuple

from mypy_extensions import mypyc_attr

from domain.commands import Id, Side
from domain.instrument import Instrument

#: Threshold of an order without a limit (a market order crosses every level).
NO_LIMIT: Final = -(1 << 61)
#: Highest price the engine accepts (keeps every key a machine-size int in the mypyc build).
MAX_PRICE: Final = (1 << 61) - 1
_COMPACT_MIN: Final = 32
_TRIM_MIN: Final = 64

SIDES: Final[tuple[Side, Side]] = ("buy", "sell")


@mypyc_attr(acyclic=True)
class RestingOrder:
    """An open order on the book. Mutable: fills lower ``remaining`` and raise ``filled``.

    Fields are plain ``int``\\ s (``is_sell`` and ``post_only`` are 0/1, ``expires_at`` is 0 for
    GTC) so that the mypyc build stores them unboxed.
    """

    __slots__ = (
        "counts",
        "expires_at",
        "filled",
        "is_sell",
        "level_key",
        "order_id",
        "post_only",
        "price",
        "quantity",
        "remaining",
        "user_id",
    )

    def __init__(
        self,
        remaining: int,
        order_id: Id,
        user_id: Id,
        price: int,
        quantity: int,
        filled: int,
        is_sell: int,
        post_only: int,
        expires_at: int,
    ) -> None:
        self.remaining = remaining  # open now; 0 marks a tombstone in its level's queue
        # Ids are typed Any so that the mypyc build keeps the int objects: they are dict keys
        # (``OrderBook.orders``, ``open_counts``), and an unboxed id would be boxed anew, an
        # allocation, at every lookup.
        self.order_id: Id = order_id
        self.user_id: Id = user_id
        self.price = price
        self.quantity = quantity  # current total (amends change it)
        self.filled = filled
        self.is_sell = is_sell
        self.post_only = post_only
        self.expires_at = expires_at  # DAY session close in ns; 0 for GTC
        # The key of its level in ``BookSide.levels`` (the very object used as the dict key, so a
        # cancel finds the level without boxing a price); set when the order joins a side.
        self.level_key: Any = None
        # Its user's counters on this book (set with ``level_key``): leaving the book updates
        # them without a dict lookup.
        self.counts: UserOrders | None = None


def new_order(
    order_id: Id,
    user_id: Id,
    side: Side,
    price: int,
    quantity: int,
    remaining: int,
    filled: int = 0,
    post_only: bool = False,
    expires_at: int | None = None,
) -> RestingOrder:
    """Build an open order from readable arguments."""
    return RestingOrder(
        remaining,
        order_id,
        user_id,
        price,
        quantity,
        filled,
        0 if side == "buy" else 1,
        1 if post_only else 0,
        expires_at or 0,
    )


class OpenOrder(NamedTuple):
    """Read-only view of an open order on the book."""

    order_id: int
    user_id: int
    side: Side
    price: int
    quantity: int
    remaining: int
    filled: int
    post_only: bool
    expires_at: int | None

    @classmethod
    def of(cls, order: RestingOrder) -> OpenOrder:
        """Snapshot the view of an internal order."""
        return cls(
            order.order_id,
            order.user_id,
            SIDES[order.is_sell],
            order.price,
            order.quantity,
            order.remaining,
            order.filled,
            bool(order.post_only),
            order.expires_at or None,
        )


@mypyc_attr(acyclic=True)
class UserOrders:
    """How many open orders one user has on each side of a book."""

    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids = 0
        self.asks = 0


@mypyc_attr(acyclic=True)
class PriceLevel:
    """Every order at one price, oldest first (tombstones included until skipped).

    The FIFO is a list read from index ``head``: ``queue[head:]`` is the level, ``queue[:head]``
    the entries already taken off the front, trimmed once they are half of the list (amortised
    O(1)). In the mypyc build a list with a moving head is much cheaper than a ``deque``: append,
    index and length are primitives there, where a deque is a Python-level method call.
    """

    __slots__ = ("dead", "head", "key", "price", "qty", "queue")

    def __init__(self, price: int, key: Any) -> None:
        self.price = price
        self.key: Any = key  # its key in ``BookSide.levels`` (the dict's own key object)
        self.queue: list[RestingOrder] = []
        self.head = 0  # index of the oldest entry still on the level
        self.qty = 0  # open quantity of the level; 0 means the level is gone
        self.dead = 0  # tombstones in ``queue[head:]``

    def entries(self) -> Iterator[RestingOrder]:
        """The entries on the level, oldest first, tombstones included (read while unchanged)."""
        return islice(self.queue, self.head, None)

    def open_orders(self) -> Iterator[RestingOrder]:
        """The open orders of the level in time priority."""
        return (order for order in self.entries() if order.remaining)

    def pop_front(self) -> None:
        """The oldest entry leaves the level (it filled, or it is a tombstone)."""
        head = self.head + 1
        if head >= _TRIM_MIN and head * 2 >= len(self.queue):
            del self.queue[:head]
            head = 0
        self.head = head

    def note_tombstone(self) -> None:
        """An entry became a tombstone; drop them all once they are the level's majority."""
        self.dead += 1
        if self.dead > _COMPACT_MIN and self.dead * 2 > len(self.queue) - self.head:
            self.queue = [order for order in self.entries() if order.remaining]
            self.head = 0
            self.dead = 0


class BookSide:
    """One side of a book (see the module docstring for the key convention)."""

    __slots__ = ("bid", "keys", "levels", "open_counts", "side")

    def __init__(self, side: Side, open_counts: dict[int, UserOrders]) -> None:
        self.side: Side = side
        self.bid = side == "buy"  # keys are prices on the bid side, negated prices on the ask side
        self.levels: dict[int, PriceLevel] = {}
        self.keys: list[int] = []
        # Shared by both sides of a book: user id -> open orders per side.
        self.open_counts = open_counts

    def add(self, order: RestingOrder, key: Any = None, counts: UserOrders | None = None) -> None:
        """Append ``order`` at the back of its price level (creating the level if needed).

        A caller that has them already passes the level ``key`` (ideally the command's own price
        object, which the mypyc build need not box) and the user's ``counts``.
        """
        if key is None:
            key = order.price if self.bid else -order.price
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = PriceLevel(order.price, key)
            insort(self.keys, key)
        order.level_key = level.key
        level.queue.append(order)
        level.qty += order.remaining
        if counts is None:
            counts = self.open_counts.get(order.user_id)
            if counts is None:
                counts = self.open_counts[order.user_id] = UserOrders()
        order.counts = counts
        if self.bid:
            counts.bids += 1
        else:
            counts.asks += 1

    def discard(self, order: RestingOrder) -> None:
        """Take an open order off the side in O(1) (tombstone), dropping an emptied level."""
        key = order.level_key
        level = self.levels[key]
        level.qty -= order.remaining
        order.remaining = 0
        self.forget(order)
        if not level.qty:
            self.drop_level(key)
            return
        level.note_tombstone()

    def forget(self, order: RestingOrder) -> None:
        """``order`` left this side: one open order fewer for its user."""
        counts = order.counts
        assert counts is not None, "the order never joined a side"
        if self.bid:
            counts.bids -= 1
        else:
            counts.asks -= 1

    def has_user(self, user_id: Id) -> bool:
        """Whether ``user_id`` has an open order on this side."""
        counts = self.open_counts.get(user_id)
        return counts is not None and (counts.bids if self.bid else counts.asks) > 0

    def key(self, price: int) -> int:
        """The level key of ``price`` on this side (the best level has the highest key)."""
        return price if self.bid else -price

    def drop_level(self, key: Any) -> None:
        """Remove an (empty) level."""
        del self.levels[key]
        keys = self.keys
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def best_first(self) -> Iterator[PriceLevel]:
        """Levels from the best price outwards."""
        levels = self.levels
        return (levels[key] for key in reversed(self.keys))

    def best_price(self) -> int | None:
        """The best price on this side, or ``None`` when it is empty."""
        return self.levels[self.keys[-1]].price if self.keys else None

    def depth(self, limit: int | None = None) -> list[tuple[int, int]]:
        """L2 view: ``(price, open quantity)`` per level, best first."""
        rows = [(level.price, level.qty) for level in self.best_first()]
        return rows if limit is None else rows[:limit]


class OrderBook:
    """Both sides of one symbol, its order index, DAY expiries and trade counter."""

    __slots__ = (
        "asks",
        "bids",
        "day_heap",
        "instrument",
        "lot_size",
        "open_counts",
        "orders",
        "sides",
        "symbol",
        "trade_seq",
    )

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.lot_size = instrument.lot_size
        self.open_counts: dict[int, UserOrders] = {}
        self.bids = BookSide("buy", self.open_counts)
        self.asks = BookSide("sell", self.open_counts)
        self.sides = (self.bids, self.asks)  # indexed by an order's IS_SELL
        self.orders: dict[int, RestingOrder] = {}
        # (expires_at, order_id) of resting DAY orders; stale entries are skipped when popped.
        self.day_heap: list[tuple[int, int]] = []
        self.trade_seq = 0  # id of the last trade on this symbol

    def side_of(self, side: Side) -> BookSide:
        """The side an order of ``side`` rests on."""
        return self.bids if side == "buy" else self.asks

    def opposite_of(self, side: Side) -> BookSide:
        """The side an order of ``side`` trades against."""
        return self.asks if side == "buy" else self.bids

    def remove(self, order: RestingOrder) -> None:
        """Take an open order off the book (cancel, expiry, self-trade prevention)."""
        del self.orders[order.order_id]
        self.sides[order.is_sell].discard(order)

    def get(self, order_id: int) -> OpenOrder | None:
        """View of the open order ``order_id``, or ``None`` if it is not open."""
        order = self.orders.get(order_id)
        return None if order is None else OpenOrder.of(order)

    def best_bid(self) -> int | None:
        """Highest bid price in ticks, if any."""
        return self.bids.best_price()

    def best_ask(self) -> int | None:
        """Lowest ask price in ticks, if any."""
        return self.asks.best_price()

    def open_orders(self, side: Side | None = None) -> Iterator[OpenOrder]:
        """Open orders: bids best first then asks best first (or one side), FIFO per level."""
        for book_side in self.sides if side is None else (self.side_of(side),):
            for level in book_side.best_first():
                for order in level.open_orders():
                    yield OpenOrder.of(order)
