"""The settlement worker (run by ``python -m workers.settlement``): fills and closed orders →
accounts.

It consumes the settlement topic: the relay puts there only the events it acts on (fills and
closing events of ``order-*`` streams, ``event_store.outbox``), keyed by the owning user, so each
account is booked by one partition (an order's events arrive in order: one owner, one
partition) and the worker decodes nothing it does not book. It books the owner's account with
the domain's rules:

* ``OrderFilled`` → ``TradeSettled`` (consumes the order's hold, moves cash and shares, charges
  the fee), and ``FundsReleased`` of the leftover when the order is filled;
* ``OrderCancelled`` / ``OrderExpired`` / ``OrderRejected`` → ``FundsReleased`` of the rest;
* the batch's fees → the fee account, netted: one ``FeesNetted`` per (currency, symbol) on
  ``account-0`` per batch instead of a ``FeesCollected`` per trade side (a row per side less;
  each side's fee stays on its ``TradeSettled``).

An amend that lowers what an order may spend releases nothing until the order ends: the command
API may already have reserved more for a later amend still in flight (its ``AmendRequested``
precedes the engine's ``OrderAmended`` in the order's stream), and releasing on each
``OrderAmended`` could take that reservation away. Holds only grow while an order is open.

A batch's account events and ``SettlementInputConsumed`` on ``settlement-<p>`` (expected version:
the fence; data: the settlement topic, the last position and the next Kafka offset) are one
append. Account streams are appended with the versions the decisions were taken on: no other
settlement partition writes an account, so only the command API's appends (reservations) can
conflict, and a conflict drops those accounts and decides the batch again.

Batches are pipelined like the matching worker's (:meth:`SettlementWorker.start`): batch N+1 is
decided on the accounts as batch N leaves them while N commits, and submitted only once N is
durable (so N+1's fence expects the version N created). If N fails, N+1 was decided on state
that never became durable. A conflict on an account (the command API appended to it) is
rebooked account by account (:meth:`SettlementWorker._rebook`): only the accounts that moved
are taken back out of both batches (``Bookings.take_back``), read again and booked again,
first N's inputs, then N+1's on top; every other account's rows stand, decided on versions
that did not move (the append's expected versions still hold them to that). Any other failure
(fenced, MariaDB down) takes both back and the consumer loop seeks back to the durable offset.
Decisions and rows are made by :mod:`workers.settlement_codec` (no domain events built).

Checkpoints written on another topic (the layout before the settlement topic consumed the
events topic, keyed by stream) are moved once: ``workers.settlement_resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from domain import streams
from domain.folds import ORDER_CLOSING_EVENT_TYPES
from domain.instrument import Instrument
from event_store.errors import WrongExpectedVersion
from event_store.model import AppendResult, RecordedEvent
from event_store.planning import EncodedAppend, EncodedEvent, encoded_event
from event_store.protocol import EventStore
from workers.accounts import Accounts
from workers.consumer import Busy, Fenced, Resume
from workers.instruments import Instruments
from workers.settlement_codec import (
    FILLED,
    Bookings,
    SettlementError,
    SettlementInput,
    input_from_event,
    input_from_message,
)
from workers.settlement_resume import checkpoint, last_checkpoint, move_to_topic

log = logging.getLogger("settlement")

MAX_ATTEMPTS: Final = 20
BOOK_CHUNK: Final = 500
"""Inputs booked between two returns to the event loop (see :meth:`SettlementWorker._book`)."""
_SETTLED: Final = frozenset({FILLED, *ORDER_CLOSING_EVENT_TYPES})
_ORDER_PREFIX: Final = streams.order(0).removesuffix("0")
_ACCOUNT_PREFIX: Final = streams.account(0).removesuffix("0")
APPENDS_TO: Final = tuple(s.removesuffix("0") for s in (streams.account(0), streams.settlement(0)))
"""The streams the worker appends to: its store's writer catches up with their rows only, not
with every order event others appended (``MariaDbEventStore``'s ``appends_to``)."""

__all__ = ["SettlementError", "SettlementWorker"]


@dataclass(slots=True)
class _Batch:
    """The inputs of one batch and what its append expects."""

    partition: int
    inputs: list[SettlementInput]
    users: set[int]
    position: int
    next_offset: int
    fence: int | None = None
    """The version of ``settlement-<p>`` its append expects (taken when decided)."""
    bookings: Bookings | None = None
    """Its decisions, applied to the cached accounts (taken back if it is void)."""
    checkpoint: EncodedEvent | None = None
    append: EncodedAppend | None = None
    stale: set[int] = field(default_factory=set)
    """Accounts of the batch in flight whose refresh found events it left out because that
    batch failed (see :meth:`Accounts.refresh`): booked on its state, to be booked again."""


@dataclass(slots=True)
class _InFlight:
    batch: _Batch
    commit: asyncio.Future[AppendResult]


class SettlementWorker:
    """A pipelined :class:`~workers.consumer.PartitionWorker` of the settlement topic."""

    def __init__(self, store: EventStore, *, group: str, topic: str, partitions: int) -> None:
        self.group = group
        self.topic = topic
        self._partitions = partitions
        self._store = store
        self._accounts = Accounts(store)
        self._instruments = Instruments(store)
        self._fences: dict[int, int] = {}
        """Per partition: the version of ``settlement-<p>`` the next batch decided expects."""
        self._in_flight: dict[int, _InFlight] = {}
        """Per partition, the append submitted last (at most one: see :meth:`start`)."""

    async def assign(self, partition: int) -> Resume:
        """Where ``settlement-<p>`` says this partition stands (moved off a legacy topic first)."""
        await self._drop_in_flight(partition)
        version, last = await last_checkpoint(self._store, partition)
        if last is None or last.get("topic") != self.topic:
            await move_to_topic(self._store, self.topic, self._partitions)
            version, last = await last_checkpoint(self._store, partition)
        self._fences[partition] = version
        if last is None:
            return Resume(0, None)
        if last.get("topic") != self.topic:
            raise SettlementError(
                f"{streams.settlement(partition)} is still checkpointed on {last.get('topic')!r}"
                " (is a settlement worker of the old layout still running?)"
            )
        return Resume(int(last["last_position"]), last.get("kafka_offset"))

    async def revoke(self, partition: int) -> None:
        """Forget the partition's fence version and what it had in flight."""
        await self._drop_in_flight(partition)
        self._fences.pop(partition, None)

    def prefetch(self, partition: int, keys: Sequence[bytes | None]) -> None:
        """The consumer loop's hint before it decodes a fetched batch: the settlement topic is
        keyed by user id, so the keys name the batch's accounts, and their refresh read starts
        now, beside the decoding (:meth:`Accounts.prefetch`; the batch in flight has been
        booked into them already, so it reads what :meth:`_decide` would)."""
        self._accounts.prefetch({int(key) for key in keys if key is not None and key.isdigit()})

    def decode(self, value: bytes) -> SettlementInput:
        """A settlement-topic message as an input (the consumer loop's decoder for us)."""
        return input_from_message(value)

    async def apply(
        self,
        partition: int,
        events: Sequence[SettlementInput | RecordedEvent],
        next_offset: int,
    ) -> None:
        """Book the batch's fills and closes, with the position, in one append."""
        await self.start(partition, events, next_offset)
        await self.flush(partition)

    async def start(
        self,
        partition: int,
        events: Sequence[SettlementInput | RecordedEvent],
        next_offset: int,
    ) -> None:
        """:meth:`apply`, pipelined: decide the batch now, on the accounts as the batch in
        flight leaves them, then wait for that one and submit this one without waiting for it
        (:meth:`flush` or the next ``start`` does). Raises if the batch in flight failed other
        than by a conflict on an account (neither is applied then)."""
        batch = _batch_of(partition, events, next_offset)
        if batch is None:
            # Nothing to book (the position moves with the next batch that has some); still,
            # a start returns once the batch before it is durable (the loop counts on it).
            await self._settle(partition)
            return
        try:
            append = await self._decide(batch)
        except SettlementError:
            # Decided on the state of the batch in flight: if that one fails, the refusal may
            # be its doing, and the batch is decided again once it is booked afresh.
            self._void(batch)
            if not await self._settle(partition):
                raise
            append = await self._decide(batch)
        except BaseException:
            self._void(batch, drop=True)
            raise
        await self._settle(partition, batch)  # (may book some of its accounts again)
        self._submit(batch, batch.append or append)  # (set by _book: the or is for mypy)

    async def flush(self, partition: int) -> None:
        """Wait until the partition's started batches are durable (a batch that met a conflict
        is booked again); raise if one failed otherwise."""
        await self._settle(partition)

    async def _decide(self, batch: _Batch) -> EncodedAppend:
        """The batch's append, decided on the cached accounts (refreshed first)."""
        in_flight = self._in_flight.get(batch.partition)
        speculative = in_flight.batch.users if in_flight is not None else ()
        commit = in_flight.commit if in_flight is not None else None
        batch.stale = await self._accounts.refresh(batch.users, speculative, commit)
        return await self._book(batch, await self._instruments_of(batch.inputs))

    async def _book(self, batch: _Batch, instruments: dict[str, Instrument]) -> EncodedAppend:
        """The batch's append, decided on the cached accounts as they stand, which move on to
        the state it makes durable; the fence version is taken.

        Returns to the event loop every ``BOOK_CHUNK`` inputs: the batch in flight commits on
        this loop, and its writer's round trips (claim, insert, commit) would otherwise each
        wait for the whole batch to be booked."""
        partition = batch.partition
        bookings = batch.bookings = Bookings(instruments)
        accounts = self._accounts
        inputs = batch.inputs
        flight = self._in_flight.get(partition)
        for start in range(0, len(inputs), BOOK_CHUNK):
            if start:
                await asyncio.sleep(0)
                if self._in_flight.get(partition) is not flight or partition not in self._fences:
                    # revoked meanwhile: the accounts booked on may have been dropped
                    raise Fenced(f"partition {partition} was revoked while it was booked")
            for item in inputs[start : start + BOOK_CHUNK]:
                cached = accounts[item.data["user_id"]]
                bookings.book(cached.account, cached.version, item)
        fence = self._fences.get(partition)
        if fence is None:  # revoked while the batch was decided
            raise Fenced(f"partition {partition} is no longer assigned")
        batch.fence = fence
        consumed = checkpoint(self.topic, partition, batch.position, batch.next_offset)
        row = encoded_event(consumed.type, consumed.data, consumed.metadata)
        append = batch.append = bookings.append(streams.settlement(partition), batch.fence, row)
        batch.checkpoint = row
        accounts.advance(bookings.booked())
        self._fences[partition] = fence + 1
        return append

    async def _instruments_of(self, inputs: list[SettlementInput]) -> dict[str, Instrument]:
        found: dict[str, Instrument] = {}
        for symbol in {i.data["symbol"] for i in inputs if i.type == FILLED}:
            instrument = await self._instruments.get(symbol)
            if instrument is not None:
                found[symbol] = instrument
        return found

    def _submit(self, batch: _Batch, append: EncodedAppend) -> None:
        commit = asyncio.ensure_future(self._store.append_encoded(append))
        self._in_flight[batch.partition] = _InFlight(batch, commit)

    async def _settle(self, partition: int, decided: _Batch | None = None) -> bool:
        """Wait for the partition's batch in flight. True when it met a conflict on an account
        and was booked again (and so were the accounts of what was ``decided`` on top of it
        that moved: its ``append`` is new then)."""
        flight = self._in_flight.pop(partition, None)
        if flight is None:
            return False
        try:
            await flight.commit
        except WrongExpectedVersion as exc:
            await self._rebook(flight.batch, decided, exc)
            return True
        except BaseException:
            self._void(decided)
            self._void(flight.batch)
            raise
        flight.batch.bookings = None  # durable: never taken back
        return False

    async def _rebook(
        self, batch: _Batch, decided: _Batch | None, exc: WrongExpectedVersion
    ) -> None:
        """Book a batch that met a conflict again, waiting for each attempt: only its accounts
        that moved (the store's append cache knows their new versions, the conflict names one,
        ``decided``'s refresh may have found more) are taken back, read again and booked again,
        and then ``decided``'s inputs of those accounts on top. The checkpoint, the fence and
        every other account's rows stand (the fees too: they depend on the fills alone).
        Anything but a conflict on an account takes both batches back and raises."""
        redo: set[int] = set()  # ``decided``'s accounts taken back
        for attempt in range(1, MAX_ATTEMPTS):
            try:
                _raise_if_fenced(exc, batch.partition)
                assert batch.bookings is not None
                moved = self._moved(batch.bookings.expected_versions(), exc) & batch.users
                if decided is not None and decided.bookings is not None:
                    moved |= decided.stale
                    again = (moved & decided.users) - redo
                    self._accounts.rewind(decided.bookings.take_back(again))
                    redo |= again
                log.info(
                    "account changed meanwhile; booking it again",
                    extra={"moved": len(moved), "attempt": attempt},
                )
                self._accounts.rewind(batch.bookings.take_back(moved))
                await self._accounts.reread(moved)
                if batch.partition not in self._fences:
                    raise Fenced(f"partition {batch.partition} was revoked while it was booked")
                await self._store.append_encoded(self._book_again(batch, moved))
            except WrongExpectedVersion as conflict:
                exc = conflict
                continue
            except BaseException:
                self._void(decided)
                self._void(batch)
                raise
            batch.bookings = None  # durable: never taken back
            if decided is not None and redo:
                self._book_again(decided, redo)
            return
        self._void(decided)
        self._void(batch)
        raise Busy(f"accounts kept changing during {MAX_ATTEMPTS} attempts")

    def _moved(self, expected: dict[int, int], exc: WrongExpectedVersion) -> set[int]:
        """The accounts of a conflicting append whose streams moved: the conflict's own, and
        those the store's append cache holds at another version than expected (a hint: one it
        misses conflicts again, and is then named)."""
        known = self._store.known_version
        account = streams.account
        moved = {user for user, version in expected.items() if known(account(user)) != version}
        suffix = exc.stream_id.removeprefix(_ACCOUNT_PREFIX)
        if suffix != exc.stream_id and suffix.isdigit():
            moved.add(int(suffix))
        return moved

    def _book_again(self, batch: _Batch, users: set[int]) -> EncodedAppend:
        """The batch's append with the inputs of ``users`` (taken back) booked again on the
        cached accounts as they stand."""
        bookings, accounts = batch.bookings, self._accounts
        assert bookings is not None and batch.fence is not None and batch.checkpoint is not None
        for item in batch.inputs:
            if item.data["user_id"] in users:
                cached = accounts[item.data["user_id"]]
                bookings.book(cached.account, cached.version, item, net=False)
        accounts.advance({u: n for u, n in bookings.booked().items() if u in users})
        fence_stream = streams.settlement(batch.partition)
        batch.append = bookings.append(fence_stream, batch.fence, batch.checkpoint)
        return batch.append

    def _void(self, batch: _Batch | None, *, drop: bool = False) -> None:
        """A decided batch that will never be durable: take its bookings back out of the
        cached accounts (or ``drop`` them all), and give its fence version back."""
        if batch is None:
            return
        if batch.bookings is not None:
            self._accounts.rewind(batch.bookings.undo())
            batch.bookings = None
        batch.append = None
        if drop:
            self._accounts.forget(batch.users)
        if batch.fence is not None and batch.partition in self._fences:
            self._fences[batch.partition] = min(self._fences[batch.partition], batch.fence)
            batch.fence = None

    async def _drop_in_flight(self, partition: int) -> None:
        """Let the partition's last append end (what the store holds is what counts next)."""
        flight = self._in_flight.pop(partition, None)
        if flight is None:
            return
        with contextlib.suppress(Exception):
            await flight.commit
        self._accounts.forget(flight.batch.users)


def _raise_if_fenced(exc: WrongExpectedVersion, partition: int) -> None:
    """``Fenced`` when the conflict is on the partition's checkpoint stream (a successor owns
    it); a conflict on an account stream (the command API's reservations) is retried."""
    if exc.stream_id == streams.settlement(partition):
        raise Fenced(f"{exc.stream_id} moved on to version {exc.actual}") from exc


def _batch_of(
    partition: int, events: Sequence[SettlementInput | RecordedEvent], next_offset: int
) -> _Batch | None:
    """The batch's inputs (fills and closes of orders), or ``None`` if it has none."""
    inputs = [
        e if isinstance(e, SettlementInput) else input_from_event(e)
        for e in events
        if e.type in _SETTLED and e.stream_id.startswith(_ORDER_PREFIX)
    ]
    if not inputs:
        return None
    users = {i.data["user_id"] for i in inputs}
    return _Batch(partition, inputs, users, events[-1].position, next_offset)
