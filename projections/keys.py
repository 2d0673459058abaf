"""Redis key names of every read model, in one place.

Every key starts with a deployment prefix (``EXCHANGE_PROJECTION_PREFIX``, ``x`` by default),
then, for read-model data, the projection's name and **generation**: ``x:market3:bk:ACME:b``.
A rebuild writes generation ``g + 1`` beside the live one and swaps by changing the pointer
``x:gen:<projection>`` (blue/green); the old generation is then deleted.

Control keys, outside any generation:

* ``x:gen:<projection>`` - the live generation (absent = 1)
* ``x:epoch:<partition>`` - fencing token of the projector owning an events partition
* ``x:pos:<partition>`` - position the projection reflects for that partition (checkpoint, or
  the relay's position once the partition is caught up)
* ``x:md:<SYMBOL>`` - pub/sub channel of the symbol's market data (book and trade deltas)
* ``x:mdseq:<SYMBOL>`` - sequence of those messages (gap-free, kept across a swap)
* ``x:moved`` - pub/sub channel: a partition's reflected position moved (message: the position)

Per projection and generation (``<P>`` = ``x:<projection><gen>``):

* ``<P>:ck:<partition>`` - checkpoint ``"<position>:<next kafka offset or ->"``
* market: ``bk:<SYM>:<b|a>`` zset of price levels (score = price ticks), ``bq:<SYM>:<b|a>``
  hash price → total quantity (L2), ``l3:<SYM>:<b|a>:<price>`` zset order id → time priority,
  ``bo:<order_id>`` JSON of an order resting in the book, ``tr:<SYM>`` zset trade JSON by trade
  id (capped), ``cd:<SYM>:<interval>`` zset of candle buckets, ``cv:<SYM>:<interval>:<bucket>``
  hash of one candle
* orders: ``o:<order_id>`` the order's state and its lifecycle entries (JSON arrays:
  ``projections/records.py``; ``oe:<order_id>``, a list of them, only beside a document stored
  before the entries moved into it), ``uo:<user_id>:*:<SYM|*>`` and
  ``uo:<user_id>:<status>:*`` zsets of order ids (score = order id)
* accounts: ``ac:<user_id>`` JSON of balances, ``lg:<user_id>`` zset of ledger entries (JSON
  arrays) by position
* refdata: ``users`` hash user id → JSON, ``auth`` hash sha256(api key) → user id, ``ins``
  hash symbol → instrument JSON
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MARKET: Final = "market"
ORDERS: Final = "orders"
ACCOUNTS: Final = "accounts"
REFDATA: Final = "refdata"
PROJECTIONS: Final = (REFDATA, MARKET, ORDERS, ACCOUNTS)
"""Every projection, each with its own generation and checkpoints."""

BIDS: Final = "b"
ASKS: Final = "a"
ANY: Final = "*"


def side_code(side: str) -> str:
    """``"b"`` for a buy, ``"a"`` for a sell (the book side an order rests on)."""
    return BIDS if side == "buy" else ASKS


@dataclass(frozen=True, slots=True)
class Control:
    """Keys outside any generation."""

    prefix: str

    def gen(self, projection: str) -> str:
        """Pointer to the live generation of ``projection``."""
        return f"{self.prefix}:gen:{projection}"

    def epoch(self, partition: int) -> str:
        """Fencing token of an events partition's owner."""
        return f"{self.prefix}:epoch:{partition}"

    def pos(self, partition: int) -> str:
        """Position reflected for an events partition."""
        return f"{self.prefix}:pos:{partition}"

    def channel(self, symbol: str) -> str:
        """Pub/sub channel of a symbol's market data."""
        return f"{self.prefix}:md:{symbol}"

    def moved(self) -> str:
        """Pub/sub channel told each time a partition's reflected position moves (the query
        API's ``min_position`` waits wake on it instead of polling)."""
        return f"{self.prefix}:moved"

    def market_seq(self, symbol: str) -> str:
        """Sequence of a symbol's market-data messages (across generations: a swap keeps it)."""
        return f"{self.prefix}:mdseq:{symbol}"

    def space(self, projection: str, gen: int) -> str:
        """The key prefix of one generation of a projection."""
        return f"{self.prefix}:{projection}{gen}"


@dataclass(frozen=True, slots=True)
class Space:
    """Keys of one generation of one projection (``base`` from :meth:`Control.space`)."""

    base: str

    def checkpoint(self, partition: int) -> str:
        """``"<position>:<next offset or ->"`` of a partition."""
        return f"{self.base}:ck:{partition}"

    # market
    def levels(self, symbol: str, side: str) -> str:
        """Zset of a book side's price levels (score = price in ticks)."""
        return f"{self.base}:bk:{symbol}:{side}"

    def level_qty(self, symbol: str, side: str) -> str:
        """Hash price → total resting quantity of a book side."""
        return f"{self.base}:bq:{symbol}:{side}"

    def level_orders(self, symbol: str, side: str, price: int) -> str:
        """Zset of the orders at one price level, in time priority."""
        return f"{self.base}:l3:{symbol}:{side}:{price}"

    def book_order(self, order_id: int) -> str:
        """JSON of an order resting in the book."""
        return f"{self.base}:bo:{order_id}"

    def trades(self, symbol: str) -> str:
        """Zset of a symbol's recent trades (score = trade id)."""
        return f"{self.base}:tr:{symbol}"

    def candle_index(self, symbol: str, interval: str) -> str:
        """Zset of a symbol's candle buckets of one interval (score = bucket start, s)."""
        return f"{self.base}:cd:{symbol}:{interval}"

    def candle(self, symbol: str, interval: str, bucket: int) -> str:
        """Hash of one candle."""
        return f"{self.base}:cv:{symbol}:{interval}:{bucket}"

    def candle_prefix(self, symbol: str, interval: str) -> str:
        """Prefix of a symbol's candle hashes of one interval (the bucket follows)."""
        return f"{self.base}:cv:{symbol}:{interval}:"

    # orders
    def order(self, order_id: int) -> str:
        """JSON of an order's current state."""
        return f"{self.base}:o:{order_id}"

    def order_events(self, order_id: int) -> str:
        """List of an order's lifecycle entries, oldest first: only of a document stored
        before the entries moved into it (``projections/records.py``)."""
        return f"{self.base}:oe:{order_id}"

    def user_orders(self, user_id: int, status: str = ANY, symbol: str = ANY) -> str:
        """Zset of a user's order ids, optionally of one status or of one symbol (the fold
        writes no index of a status and a symbol both)."""
        return f"{self.base}:uo:{user_id}:{status}:{symbol}"

    # accounts
    def account(self, user_id: int) -> str:
        """JSON of a user's balances."""
        return f"{self.base}:ac:{user_id}"

    def ledger(self, user_id: int) -> str:
        """Zset of a user's ledger entries (score = position)."""
        return f"{self.base}:lg:{user_id}"

    # refdata
    def users(self) -> str:
        """Hash user id → JSON (username, registered at)."""
        return f"{self.base}:users"

    def auth(self) -> str:
        """Hash sha256(api key) → user id."""
        return f"{self.base}:auth"

    def instruments(self) -> str:
        """Hash symbol → instrument JSON."""
        return f"{self.base}:ins"
