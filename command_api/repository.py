"""Loads what the use cases decide on, from in-process caches verified by stream versions.

Instruments and API-key hashes never change once written, so a cache hit is always right.
Accounts are cached with the stream version they reflect; every append that touches an account
expects that version, so a stale cache (another process, the settlement worker) shows up as a
``WrongExpectedVersion``, after which the entry is refreshed: the cache can cost a retry, never
correctness.

An account is cached once, with the decisions whose appends are not known to be durable yet
applied to it (speculation). When an append fails, its decision and those after it are taken
back out in place (``domain.folds.unfold_account_data``), which leaves the account at its
*confirmed* version (everything before was read from the stream or landed), and only the
events appended since are read. Neither depends on how many open orders the account holds: a
market maker's account with thousands of holds costs a conflict what any account does (a copy of
it, as before, cost ~0.1 ms per thousand holds, after every conflict with settlement).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from command_api.placed_orders import PlacedOrders
from command_api.tail_reads import TailReads, TypeReads
from domain import streams
from domain.account import Account
from domain.folds import (
    DecidedEvent,
    OrderView,
    fold_account_data,
    fold_order,
    unfold_account_data,
)
from domain.instrument import Instrument
from domain.order_events import OrderAccepted
from event_store.model import AppendResult, RecordedEvent, Snapshot, StoredData
from event_store.protocol import EventStore

SNAPSHOT_EVERY = 500
"""Save an account snapshot once its stream is this many events past the last one, plus
``SNAPSHOT_PER_HOLD`` per open order (see :meth:`Repository._snapshot_due`)."""
SNAPSHOT_PER_HOLD = 4
"""A snapshot's size grows with the open orders: spacing snapshots by as many events keeps their
cost per event bounded (165 KB rows every 500 events made MariaDB's cost per order grow)."""

MAX_CACHED_ACCOUNTS = 100_000
MAX_CACHED_KEYS = 100_000
"""API keys whose hash :meth:`Repository.cached_user_of_api_key` remembers (then it starts over)."""
SNAPSHOT_TYPE = "domain.Account"
"""Snapshots of ``Account.snapshot()``; any other snapshot type is ignored (replayed instead)."""
_ACCEPTED = OrderAccepted.__name__
_ACCEPTED_VERSION = 2
"""The version of an order's ``OrderAccepted``: the engine's first event on its stream."""


@dataclass(slots=True, eq=False)
class Speculation:
    """A decision applied to a cached account whose append is in flight (or failed)."""

    events: list[DecidedEvent]
    assets: int
    """How many balances the account had before the decision (see ``unfold_account_data``)."""
    landed: bool = False


@dataclass(slots=True, eq=False)
class AccountEntry:
    """A cached account; ``version`` is -1 until loaded (or after a failed append).

    ``account`` is speculative: it includes the decisions whose appends are still in flight
    (``pending``, oldest first). Without them it is the stream at ``confirmed_version`` (-1:
    never read), which a failed speculation returns to (:meth:`rewind`).
    """

    account: Account
    version: int = -1
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    inflight: set[asyncio.Future[AppendResult]] = field(default_factory=set)
    confirmed_version: int = -1
    pending: deque[Speculation] = field(default_factory=deque)
    snapshot_version: int = 0
    """The version of the stream's latest snapshot (as far as this process knows)."""

    @property
    def loaded(self) -> bool:
        """Whether ``account`` reflects the stream up to ``version``."""
        return self.version >= 0

    def speculate(self, events: list[DecidedEvent], assets: int) -> Speculation:
        """Note a decision just applied to ``account`` whose append is about to be queued."""
        speculation = Speculation(events, assets)
        self.pending.append(speculation)
        self.version += len(events)
        return speculation

    def landed(self, speculation: Speculation) -> None:
        """Its append is durable: the oldest landed decisions become confirmed.

        (An append lands at the version it expected, so a landed decision with only landed ones
        before it is exactly what the stream holds there.)
        """
        speculation.landed = True
        pending = self.pending
        while pending and pending[0].landed:
            self.confirmed_version += len(pending.popleft().events)

    def failed(self) -> None:
        """An append failed: the next use rewinds and catches up (:meth:`Repository.refresh`)."""
        self.version = -1

    def rewind(self) -> None:
        """Take every pending decision back out, latest first: ``account`` is the stream at
        ``confirmed_version`` again (or, if one cannot be taken back, must be read anew)."""
        account = self.account
        for speculation in reversed(self.pending):
            if not unfold_account_data(account, speculation.events, speculation.assets):
                self.forget()
                return
        self.pending.clear()
        self.version = self.confirmed_version

    def forget(self) -> None:
        """Drop the account: the next use reads it from the latest snapshot."""
        self.version = self.confirmed_version = -1
        self.pending.clear()
        self.account = Account(self.account.user_id)


class Repository:
    """The command API's read side of the store (streams, snapshots and caches)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._tails = TailReads(store)
        self._past_placement = TypeReads(store, _ACCEPTED_VERSION, 2)
        self._instruments: dict[str, Instrument] = {}
        self._key_users: dict[str, int] = {}
        self._api_key_users: dict[str, int] = {}
        self._accounts: dict[int, AccountEntry] = {}
        self.placed = PlacedOrders()
        """The orders this process placed recently (see :meth:`untouched_orders`)."""

    async def instrument(self, symbol: str) -> Instrument | None:
        """The listed instrument, or ``None``."""
        cached = self._instruments.get(symbol)
        if cached is not None:
            return cached
        events = await self.store.read_stream(streams.instrument(symbol), limit=1)
        if not events:
            return None
        data = {k: v for k, v in events[0].data.items() if k != "at"}
        instrument = Instrument.from_dict(data)
        self._instruments[symbol] = instrument
        return instrument

    def remember_instrument(self, instrument: Instrument) -> None:
        """Cache an instrument this process just listed."""
        self._instruments[instrument.symbol] = instrument

    async def user_of_key(self, key_hash: str) -> int | None:
        """The user an API key (by its sha256) belongs to, or ``None``."""
        cached = self._key_users.get(key_hash)
        if cached is not None:
            return cached
        events = await self.store.read_stream(streams.api_key(key_hash), limit=1)
        if not events:
            return None
        user_id = int(events[0].data["user_id"])
        self._key_users[key_hash] = user_id
        return user_id

    def cached_user_of_key(self, key_hash: str) -> int | None:
        """The user of a key this process has already looked up (no I/O), or ``None``."""
        return self._key_users.get(key_hash)

    def cached_user_of_api_key(self, api_key: str) -> int | None:
        """:meth:`cached_user_of_key` of the key itself (as the ``Authorization`` header gives
        it), its hash remembered: every keyed request asked for the sha256 of its key twice
        (the key check and the fast path), ~2 µs each, while a trader sends the same key with
        every request. Held only in this process's memory, as the requests hold it."""
        user_id = self._api_key_users.get(api_key)
        if user_id is None:
            user_id = self._key_users.get(hashlib.sha256(api_key.encode()).hexdigest())
            if user_id is not None:
                if len(self._api_key_users) >= MAX_CACHED_KEYS:
                    self._api_key_users.clear()
                self._api_key_users[api_key] = user_id
        return user_id

    async def order(self, order_id: int) -> OrderView | None:
        """The order's view, read from its stream (orders are not cached)."""
        return fold_order(await self._tail(streams.order(order_id), 1))

    async def orders(self, order_ids: Sequence[int]) -> list[OrderView | None]:
        """:meth:`order` of each id, their reads gathered (a future each, no task)."""
        tails = await asyncio.gather(*(self._tail(streams.order(i), 1) for i in order_ids))
        return [fold_order(tail) for tail in tails]

    async def untouched_orders(
        self, user_id: int, order_ids: Sequence[int]
    ) -> dict[int, tuple[str, int]]:
        """Of ``order_ids``, the user's orders this process placed whose stream holds nothing
        but the placement and the engine's ``OrderAccepted`` (or only the placement), each with
        its symbol and its stream's version: open, no cancel requested. Only the versions and
        types of the two events after the placement are read (one statement with the other
        requests' reads: no data, however many fills followed; ~35k of the 148k rows the tail
        reads fetched per 100k pipeline orders were ``OrderAccepted`` rows read for their type),
        and none of the streams the store's append cache knows to be further on
        (``placed_orders``); the versions read are handed to that cache (see
        :meth:`note_order_version`).
        """
        placed, store = self.placed, self.store
        mine = {}
        for order_id in order_ids:
            found = placed.get(order_id)
            if found is not None and found[0] == user_id:
                known = store.known_version(streams.order(order_id))
                if known is None or known <= _ACCEPTED_VERSION:
                    mine[order_id] = found[1]
        if not mine:
            return {}
        read = self._past_placement.read
        tails = await asyncio.gather(*(read(streams.order(i)) for i in mine))
        untouched = {}
        for (order_id, symbol), tail in zip(mine.items(), tails, strict=True):
            if not tail:
                untouched[order_id] = (symbol, 1)
            elif len(tail) == 1 and tail[0][1] == _ACCEPTED:
                untouched[order_id] = (symbol, _ACCEPTED_VERSION)
        store.note_versions({streams.order(i): v for i, (_, v) in untouched.items()})
        return untouched

    def note_order_version(self, view: OrderView) -> None:
        """Hand the version of an order read from its stream to the store's append cache, so
        a cancel appended at it is not looked up again under the store's append lock."""
        self.store.note_versions({streams.order(view.order_id): view.version})

    def _tail(self, stream_id: str, from_version: int) -> asyncio.Future[list[StoredData]]:
        """What a fold reads of a stream from ``from_version``: no ids, metadata or times to
        decode (a cancel reads its order's stream, an account catches up after settlement),
        in one statement with the other requests' reads (``TailReads``). A future, not a
        coroutine: gathered for a cancel of many orders, each coroutine was a task (and a
        coroutine of ``TailReads.read`` inside it)."""
        return self._tails.read(stream_id, from_version)

    async def first_stored(self, stream_id: str) -> StoredData | None:
        """The first event of a stream as a fold reads it (no id, metadata or time), or
        ``None``, read with the other requests' reads (an ``Idempotency-Key``'s record after a
        refusal or a conflict: ~900 per 10k single orders, whose late cancels are refused, each
        a statement of its own through ``read_stream``: 3.6 % of the command API's samples)."""
        events = await self._tails.read(stream_id, 1)
        return events[0] if events else None

    async def first_event(self, stream_id: str) -> RecordedEvent | None:
        """The first event of a stream, or ``None`` when the stream does not exist."""
        events = await self.store.read_stream(stream_id, limit=1)
        return events[0] if events else None

    def account_entry(self, user_id: int) -> AccountEntry:
        """The cache entry of an account (possibly not loaded yet)."""
        entry = self._accounts.get(user_id)
        if entry is None:
            if len(self._accounts) >= MAX_CACHED_ACCOUNTS:
                self._evict()
            entry = self._accounts[user_id] = AccountEntry(Account(user_id))
        return entry

    async def refresh(self, entry: AccountEntry) -> None:
        """Bring the entry up to the stream's end: loaded first if needed, its pending decisions
        taken back (call it when none is in flight), then what was appended since is read."""
        stream_id = streams.account(entry.account.user_id)
        if entry.pending or not entry.loaded:
            entry.rewind()
        if entry.confirmed_version < 0:
            await self._load(entry, stream_id)
        else:
            events = await self._tail(stream_id, entry.version + 1)
            entry.version = fold_account_data(entry.account, events) or entry.version
            entry.confirmed_version = entry.version
        if self._snapshot_due(entry):
            await self.store.save_snapshot(
                Snapshot(stream_id, entry.version, entry.account.snapshot(), SNAPSHOT_TYPE)
            )
            entry.snapshot_version = entry.version

    async def _load(self, entry: AccountEntry, stream_id: str) -> None:
        """The latest snapshot, and the stream past it folded into it."""
        account, version = await self._snapshot(entry.account.user_id, stream_id)
        entry.snapshot_version = version
        events = await self._tail(stream_id, version + 1)
        version = fold_account_data(account, events) or version
        entry.account, entry.version, entry.confirmed_version = account, version, version

    @staticmethod
    def _snapshot_due(entry: AccountEntry) -> bool:
        """Whether the stream is far enough past its last snapshot for a new one to pay: a
        snapshot costs as much as the account's open orders, so they space it out too."""
        past = entry.version - entry.snapshot_version
        return past >= SNAPSHOT_EVERY + SNAPSHOT_PER_HOLD * len(entry.account.holds)

    async def _snapshot(self, user_id: int, stream_id: str) -> tuple[Account, int]:
        """The account at its latest snapshot (a new account at version 0 without one)."""
        snapshot = await self.store.load_snapshot(stream_id)
        if snapshot is not None and snapshot.type == SNAPSHOT_TYPE:
            return Account.from_snapshot(snapshot.state), snapshot.version
        return Account(user_id), 0

    def _evict(self) -> None:
        idle = [u for u, e in self._accounts.items() if not e.lock.locked() and not e.inflight]
        for user_id in idle[: len(idle) // 2 or 1]:
            del self._accounts[user_id]
