"""The accounts a worker decides on, cached with the stream version they reflect.

Before a batch is decided every account it touches is brought up to its stream's end in one
round trip (:meth:`EventStore.read_stream_tails`: each event's version, type and data only, no
id, metadata or time to transfer and build for events that are only folded; folded by
``fold_account_data``, without domain events), so a conflict with the command API's concurrent
appends is rare; when one happens the appends' expected versions catch it and the caller drops
the accounts it touched (:meth:`Accounts.forget`) and decides again on fresh state.

A pipelined caller decides a batch while the previous one commits: the accounts that batch
booked are then *speculative* (their cached state and version include its events, not durable
yet). Their tails are read past the speculative version, which is exact once that batch
commits, and moot if it fails: what was read past it is folded only once that batch is durable
(:meth:`Accounts.refresh`), so a failed batch's bookings can always be taken back exactly;
they are never snapshotted nor noted to the store's writer as committed versions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from domain import streams
from domain.account import Account
from domain.folds import fold_account_data
from event_store.model import Snapshot, StoredData
from event_store.protocol import EventStore

SNAPSHOT_TYPE: Final = "domain.Account"
"""The command API's account snapshots (``Account.snapshot()``), shared with it."""
SNAPSHOT_EVERY: Final = 500
MAX_CACHED: Final = 200_000


@dataclass(slots=True)
class Cached:
    """An account and the version of its stream it reflects (0: nothing read yet)."""

    account: Account
    version: int = 0


_Tails = tuple[dict[str, tuple[Cached, int]], dict[str, list[StoredData]]]
"""Per account stream: its cached state and the version read from; the events read."""


@dataclass(slots=True)
class _Prefetch:
    users: frozenset[int]
    read: asyncio.Future[_Tails]


def _discard(read: asyncio.Future[_Tails]) -> None:
    """A read nobody will use: cancelled, its failure (if any) retrieved, not logged."""
    read.cancel()
    read.add_done_callback(lambda done: done.cancelled() or done.exception())


class Accounts:
    """Accounts by user id, refreshed from the store on demand."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._cached: dict[int, Cached] = {}
        self._prefetched: _Prefetch | None = None

    def __getitem__(self, user_id: int) -> Cached:
        return self._cached[user_id]

    def prefetch(self, user_ids: Iterable[int]) -> None:
        """Start the read a :meth:`refresh` of these accounts would make, now: the caller
        refreshes them soon and has other work meanwhile (the consumer loop decodes the batch
        while MariaDB reads). Replaces an earlier prefetch not used yet."""
        self._drop_prefetch()
        users = frozenset(user_ids)
        if users:
            self._prefetched = _Prefetch(users, asyncio.ensure_future(self._read(users)))

    async def refresh(
        self,
        user_ids: Iterable[int],
        speculative: Collection[int] = (),
        in_flight: asyncio.Future[Any] | None = None,
    ) -> set[int]:
        """Bring every named account up to its stream's end (new ones from their snapshot);
        ``speculative``: accounts whose cached state includes the append ``in_flight``, not
        durable yet. Events past a speculative account's version are folded only once that
        append is durable (they were appended after it then); if it fails they are left out,
        and the account is returned: its cached state and version are the failed append's, to
        be taken back and read again by the caller (folding first would leave it nothing exact
        to take back: the account would have to be dropped and loaded again in full).

        A :meth:`prefetch` of these accounts (or more) is used if every account it read is
        still cached at the version it read from; otherwise they are read now. (Events others
        appended between that read and now are missed exactly as those appended between a read
        and the append: the append's expected versions catch them.)"""
        users = set(user_ids)
        read = await self._prefetched_read(users)
        if read is None:
            read = await self._read(users)
        return await self._fold(read, speculative, in_flight)

    async def reread(self, user_ids: Collection[int]) -> None:
        """Bring these accounts up to their streams' ends with a read of their own (a prefetch
        made meanwhile is left to the batch it was made for)."""
        await self._fold(await self._read(user_ids), (), None)

    async def _fold(
        self, read: _Tails, speculative: Collection[int], in_flight: asyncio.Future[Any] | None
    ) -> set[int]:
        wanted, found = read
        failed = False
        if in_flight is not None and any(
            events and wanted[s][0].account.user_id in speculative for s, events in found.items()
        ):
            await asyncio.wait((in_flight,))
            failed = in_flight.cancelled() or in_flight.exception() is not None
        stale: set[int] = set()
        for stream_id, events in found.items():
            cached = wanted[stream_id][0]
            user_id = cached.account.user_id
            if failed and events and user_id in speculative:
                stale.add(user_id)
                continue
            cached.version = fold_account_data(cached.account, events) or cached.version
            if len(events) >= SNAPSHOT_EVERY and user_id not in speculative:
                snapshot = Snapshot(
                    stream_id, cached.version, cached.account.snapshot(), SNAPSHOT_TYPE
                )
                await self._store.save_snapshot(snapshot)
        # The versions just read are committed ones: the store's writer plans the batch's
        # appends on them instead of looking each account up again under its lock.
        self._store.note_versions(
            {s: c.version for s, (c, _) in wanted.items() if c.account.user_id not in speculative}
        )
        return stale

    async def _read(self, users: Collection[int]) -> _Tails:
        """Each account's cached state (new ones from their snapshots) and the events of its
        stream after the version that state reflects."""
        if len(self._cached) + len(users) > MAX_CACHED:
            self._cached.clear()  # (never inside a batch: it needs all it loads)
        await self._start([u for u in users if u not in self._cached])
        wanted = {}
        for user_id in users:
            cached = self._cached[user_id]
            wanted[streams.account(user_id)] = (cached, cached.version + 1)
        found = await self._store.read_stream_tails({s: v for s, (_, v) in wanted.items()})
        return wanted, found

    async def _prefetched_read(self, users: set[int]) -> _Tails | None:
        """The prefetched read, if it covers ``users`` and the accounts did not move since."""
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is None:
            return None
        if not prefetched.users.issuperset(users):
            _discard(prefetched.read)
            return None
        wanted, found = await prefetched.read
        cached = self._cached
        for state, from_version in wanted.values():
            if cached.get(state.account.user_id) is not state or state.version + 1 != from_version:
                return None  # rewound, dropped or booked since: read again
        return wanted, found

    def _drop_prefetch(self) -> None:
        if self._prefetched is not None:
            _discard(self._prefetched.read)
            self._prefetched = None

    def advance(self, booked: Mapping[int, int]) -> None:
        """The caller applied ``booked[user]`` events of its own to each cached account (their
        append is submitted, or about to be): its version moves past them."""
        cached = self._cached
        for user_id, count in booked.items():
            cached[user_id].version += count

    def rewind(self, undone: Mapping[int, tuple[Account, int]]) -> None:
        """Accounts whose bookings were taken back out (``Bookings.undo``) stand at the
        version they were decided on again (unless dropped meanwhile: then nothing to do)."""
        for user_id, (account, version) in undone.items():
            cached = self._cached.get(user_id)
            if cached is not None and cached.account is account:
                cached.version = version

    def forget(self, user_ids: Iterable[int]) -> None:
        """Drop accounts whose cached state went ahead of the store (a failed append)."""
        self._drop_prefetch()
        for user_id in user_ids:
            self._cached.pop(user_id, None)

    async def _start(self, user_ids: list[int]) -> None:
        """Cache accounts met for the first time, from their snapshots (one round trip)."""
        if not user_ids:
            return
        snapshots = await self._store.load_snapshots([streams.account(u) for u in user_ids])
        for user_id in user_ids:
            snapshot = snapshots.get(streams.account(user_id))
            if snapshot is not None and snapshot.type == SNAPSHOT_TYPE:
                cached = Cached(Account.from_snapshot(snapshot.state), snapshot.version)
            else:
                cached = Cached(Account(user_id))
            self._cached[user_id] = cached
