"""Loads what the use cases decide on, from in-process caches verified by stream versions.

Instruments and API-key hashes never change once written, so a cache hit is always right.
Accounts are cached with the stream version they reflect; every append that touches an account
expects that version, so a stale cache (another process, the settlement worker) shows up as a
``WrongExpectedVersion``, after which the entry is reloaded: the cache can cost a retry, never
correctness.

A reload starts from the entry's *confirmed* state (only what was read from the stream) and
reads just the events appended since, instead of the latest snapshot and up to
``SNAPSHOT_EVERY`` events after it: in the full pipeline the settlement worker appends to the
same account streams all the time, and each of its fills used to cost the next order of that
account a full reload.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from domain import streams
from domain.account import Account
from domain.folds import OrderView, fold_account_data, fold_order
from domain.instrument import Instrument
from event_store.model import AppendResult, RecordedEvent, Snapshot, StoredData
from event_store.protocol import EventStore

SNAPSHOT_EVERY = 500
"""Save an account snapshot when loading it needed this many events past the last one."""

MAX_CACHED_ACCOUNTS = 100_000
SNAPSHOT_TYPE = "domain.Account"
"""Snapshots of ``Account.snapshot()``; any other snapshot type is ignored (replayed instead)."""


@dataclass(slots=True, eq=False)
class AccountEntry:
    """A cached account; ``version`` is -1 until loaded (or after a failed append).

    ``account`` is speculative: it includes the decisions whose appends are still in flight.
    ``confirmed`` (at ``confirmed_version``) holds only events read from the stream, so a failed
    speculation restarts from it instead of from the store's snapshot.
    """

    account: Account
    version: int = -1
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    inflight: set[asyncio.Future[AppendResult]] = field(default_factory=set)
    confirmed: Account | None = None
    confirmed_version: int = 0

    @property
    def loaded(self) -> bool:
        """Whether ``account`` reflects the stream up to ``version``."""
        return self.version >= 0

    def forget(self) -> None:
        """Drop the speculative state: the next use reloads it (from the confirmed state)."""
        self.version = -1
        self.account = Account(self.account.user_id)


class Repository:
    """The command API's read side of the store (streams, snapshots and caches)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._instruments: dict[str, Instrument] = {}
        self._key_users: dict[str, int] = {}
        self._accounts: dict[int, AccountEntry] = {}

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

    async def order(self, order_id: int) -> OrderView | None:
        """The order's view, read from its stream (orders are not cached)."""
        return fold_order(await self._tail(streams.order(order_id), 1))

    async def _tail(self, stream_id: str, from_version: int) -> list[StoredData]:
        """What a fold reads of a stream from ``from_version``: no ids, metadata or times to
        decode (a cancel reads its order's stream, an account catches up after settlement)."""
        return (await self.store.read_stream_tails({stream_id: from_version}))[stream_id]

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
        """Bring the entry up to the stream's end (loading it first if needed)."""
        stream_id = streams.account(entry.account.user_id)
        if not entry.loaded:
            await self._load(entry, stream_id)
            return
        events = await self._tail(stream_id, entry.version + 1)
        entry.version = fold_account_data(entry.account, events) or entry.version

    async def _load(self, entry: AccountEntry, stream_id: str) -> None:
        """Fold the stream past the confirmed state (or the snapshot) into it; copy it as the
        speculative state."""
        account, version = entry.confirmed, entry.confirmed_version
        if account is None:
            account, version = await self._snapshot(entry.account.user_id, stream_id)
        events = await self._tail(stream_id, version + 1)
        version = fold_account_data(account, events) or version
        entry.confirmed, entry.confirmed_version = account, version
        entry.account, entry.version = account.copy(), version
        if len(events) >= SNAPSHOT_EVERY:
            await self.store.save_snapshot(
                Snapshot(stream_id, version, account.snapshot(), SNAPSHOT_TYPE)
            )

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
