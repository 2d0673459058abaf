"""Per-key locks: requests that write the same stream take turns inside the process.

Two requests on one order, one ``client_order_id``, one username or one ``Idempotency-Key``
would otherwise read the same version and race to append: one wins, the other conflicts and
retries, and under a storm the retries run out. Holding the stream's lock across the read, the
decision and the append makes each request see the one before it, so it gets its real answer
(the original order, the recorded response, ``409 USERNAME_TAKEN``, ...). Expected versions
still guard against other processes.

A key's lock exists only while someone holds or waits for it, so the map never outgrows the
requests in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    """Holders and waiters: the slot is dropped when the last one leaves."""


class KeyedLocks:
    """asyncio locks by key, created on first use and dropped once idle."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def __len__(self) -> int:
        """Keys currently held or waited for."""
        return len(self._slots)

    def hold(self, keys: Iterable[str]) -> _Held:
        """Hold every lock of ``keys`` (taken in sorted order, so two holders never deadlock):
        ``async with locks.hold(keys): ...``."""
        return _Held(self, keys)

    async def _acquire(self, key: str) -> None:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        slot.users += 1
        try:
            await slot.lock.acquire()
        except BaseException:  # (cancelled while waiting: leave without the lock)
            self._leave(key, slot)
            raise

    def _release(self, key: str) -> None:
        slot = self._slots[key]
        slot.lock.release()
        self._leave(key, slot)

    def _leave(self, key: str, slot: _Slot) -> None:
        slot.users -= 1
        if slot.users == 0:
            del self._slots[key]


class _Held:
    """The locks of :meth:`KeyedLocks.hold` while its block runs. A class, not an
    ``asynccontextmanager``: a keyed command (every request the Python client sends) holds one
    or two, and the generator's machinery cost more than the locks."""

    __slots__ = ("_keys", "_locks", "_taken")

    def __init__(self, locks: KeyedLocks, keys: Iterable[str]) -> None:
        self._locks = locks
        self._keys = keys
        self._taken: list[str] = []

    async def __aenter__(self) -> None:
        locks, taken = self._locks, self._taken
        try:
            for key in sorted(set(self._keys)):
                await locks._acquire(key)
                taken.append(key)
        except BaseException:  # (cancelled while waiting: give back what was taken)
            self._release()
            raise

    async def __aexit__(self, *_exc: object) -> None:
        self._release()

    def _release(self) -> None:
        locks, taken = self._locks, self._taken
        while taken:
            locks._release(taken.pop())
