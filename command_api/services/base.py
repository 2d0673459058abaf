"""What every use case shares: its context, the retry loop and the atomic commit.

A use case *decides* on loaded state and returns a :class:`Decision`: the appends, what the
write does (its :class:`~command_api.idempotency.Outcome`) and the result it gives. Account
decisions are the domain's (``domain.account.Account``): they apply their events to the cached
account as they decide. :func:`commit_with_account` serialises
decisions per account inside this process and queues the append right after the decision, so
the next order of the same account can be decided (and queued into the same group commit) before
the first is durable. If an append fails, its decision (and any after it) is taken back out of
the account on its next use, which then reads what was appended since; the expected versions make
any decision taken on a stale or speculative state fail.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, cast

import orjson

from command_api import idempotency
from command_api.clock import Clock
from command_api.idempotency import IdempotencyClaim, Outcome, Written
from command_api.repository import AccountEntry, Repository, Speculation
from command_api.services.errors import ApplicationError, ConflictRetryExhausted
from command_api.services.locks import KeyedLocks
from common.logging import correlation_id
from domain import streams
from domain.account import Account
from domain.errors import DomainError
from domain.events import Event
from event_store.errors import WrongExpectedVersion
from event_store.ids import new_event_id_text
from event_store.model import AppendResult, NewEvent, StreamAppend
from event_store.outbox import order_route
from event_store.planning import NEW_SCHEMA_VERSION, EncodedStream, encode_append
from event_store.protocol import EventStore

DAY_NS = 86_400 * 10**9
_ACCOUNT_PREFIX = streams.account(0)[:-1]


@dataclass(slots=True)
class Context:
    """The adapters and policies the use cases run with (wired by ``bootstrap``)."""

    store: EventStore
    repo: Repository
    clock: Clock
    new_id: Callable[[], int]
    session_close_ns: int = 21 * 3600 * 10**9
    """Time of day (UTC, ns after midnight) at which DAY orders expire."""
    max_attempts: int = 12
    """Attempts of a command whose appends keep conflicting (then ``ConflictRetryExhausted``)."""
    orders_partitions: int = 4
    """Partitions of the orders topic: the engine's shards (a batch must stay on one)."""
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    """Per-stream locks: commands writing the same order, claim or key take turns."""
    backoff_s: tuple[float, float] = (0.004, 0.25)
    """First and largest pause before retrying a conflict (full jitter, doubling)."""

    def next_session_close(self, at: int) -> int:
        """The first session close strictly after ``at``."""
        close = at - at % DAY_NS + self.session_close_ns
        return close if close > at else close + DAY_NS


@dataclass(slots=True)
class Decision:
    """What a use case decided: events to append, and what the write does and gives once they
    are appended (``body``, to which the append's ``position`` is added)."""

    outcome: Outcome
    body: dict[str, Any]
    appends: list[StreamAppend] = field(default_factory=list)
    account_events: list[AccountEvent] = field(default_factory=list)
    """The account events it applied to the owner's account (``commit_with_account``)."""
    batch_id: int | None = None
    """The batch whose ``BatchPlaced`` (among ``encoded``) gives ``body`` again: an
    ``Idempotency-Key`` records the batch instead of the body."""
    encoded: list[EncodedStream] = field(default_factory=list)
    """Streams the decision encoded itself (a batch's orders, claims and ``BatchPlaced``:
    ``event_store.planning.new_stream``), appended after ``appends``."""


def event(
    event_type: str, data: dict[str, Any], actor: int | str, engine_symbol: str | None = None
) -> NewEvent:
    """A new event with its metadata: correlation id, actor, and (for the matching engine's
    inputs) the ``order_symbol`` route that makes the relay publish it to the orders topic."""
    return NewEvent(event_type, data, metadata(actor, engine_symbol))


def metadata(actor: int | str, engine_symbol: str | None = None) -> dict[str, Any]:
    """The metadata :func:`event` gives: look it up once for the many events of one command."""
    key = (correlation_id.get(), actor, engine_symbol)
    found = _last_metadata.get(key)
    if found is None:
        found = {"correlation_id": key[0], "actor": str(actor)}
        if engine_symbol is not None:
            found.update(order_route(engine_symbol))
        if len(_last_metadata) >= 64:
            _last_metadata.clear()
        _last_metadata[key] = found
    return found


_last_metadata: dict[tuple[str | None, int | str, str | None], dict[str, Any]] = {}
"""The metadata of the latest requests, shared (read-only) by the events of one command: the
store then encodes it once per command instead of once per event."""


class AccountEvent(NamedTuple):
    """An account event a decision applied, as the account stream stores it (a
    ``domain.folds.DecidedEvent``): :func:`commit_with_account` encodes it with a new id and the
    request's metadata, without a ``NewEvent`` and its ``EventId`` (~3 µs per order placed)."""

    type: str
    data: dict[str, object]


def account_events(events: list[Event]) -> list[AccountEvent]:
    """The domain's account events as events of the account stream."""
    new = tuple.__new__  # (a NamedTuple's own ``__new__`` is a Python function: one call more)
    return [new(AccountEvent, (e.event_type, e.to_dict())) for e in events]


def _account_stream(user_id: int, events: list[AccountEvent], expected: int) -> EncodedStream:
    """The account stream's append, encoded: each event with a new id, the metadata of
    :func:`event` with the account's owner as the actor."""
    dumps = orjson.dumps
    shared = dumps(metadata(user_id))
    new_id = new_event_id_text
    rows = tuple([(new_id(), e.type, NEW_SCHEMA_VERSION, dumps(e.data), shared) for e in events])
    return tuple.__new__(EncodedStream, (streams.account(user_id), expected, rows, None))


Attempt = Callable[[], Awaitable[Written]]
ConflictHandler = Callable[[WrongExpectedVersion], Awaitable[Written | None]]


async def run(
    ctx: Context,
    claim: IdempotencyClaim | None,
    attempt: Attempt,
    on_conflict: ConflictHandler | None = None,
    keys: Iterable[str] = (),
) -> Written:
    """Run ``attempt`` until it commits, retrying version conflicts up to ``ctx.max_attempts``
    times (then ``ConflictRetryExhausted``).

    ``keys`` are the streams the command claims or changes (its order, ``client_order_id``,
    username): with the idempotency key's stream, their locks are held throughout, so requests
    on the same records take turns in this process instead of conflicting. A conflict left
    (another process wrote first) is retried after a jittered pause that doubles each time.

    The idempotency key is not read up front: nearly every key is new, and an attempt that
    appends records the key in the same atomic append (expected: no stream), so a used key
    fails it with a conflict. The key is read after a conflict, after a refusal and after an
    answer that appended nothing (an original order, a cancel already requested), and its
    recorded response wins: a resend gets the first response, whatever the state now.
    """
    held = [*keys] if claim is None else [*keys, claim.stream_id]
    if not held:  # (the common order: no lock, no context manager)
        return await _run(ctx, claim, attempt, on_conflict)
    async with ctx.locks.hold(held):
        return await _run(ctx, claim, attempt, on_conflict)


async def _run(
    ctx: Context,
    claim: IdempotencyClaim | None,
    attempt: Attempt,
    on_conflict: ConflictHandler | None,
) -> Written:
    for tries in range(ctx.max_attempts):
        try:
            written = await attempt()
        except (DomainError, ApplicationError):
            if claim is not None:  # a resend refused now may have succeeded the first time
                replayed = await idempotency.replay(ctx.store, claim, ctx.repo.first_stored)
                if replayed is not None:
                    return replayed
            raise
        except WrongExpectedVersion as exc:
            # The winner may be this key's first request, unless the conflict is an account's
            # (settlement, or another decision: the retry reads it; a key conflicting as well
            # shows up on that retry).
            if claim is not None and not exc.stream_id.startswith(_ACCOUNT_PREFIX):
                replayed = await idempotency.replay(ctx.store, claim, ctx.repo.first_stored)
                if replayed is not None:
                    return replayed
            if on_conflict is not None:
                answer = await on_conflict(exc)
                if answer is not None:
                    return answer
        else:
            if claim is None or written.recorded:
                return written
            replayed = await idempotency.replay(ctx.store, claim, ctx.repo.first_stored)
            return written if replayed is None else replayed
        if tries + 1 == ctx.max_attempts:
            break
        first, largest = ctx.backoff_s
        await asyncio.sleep(random.uniform(0, min(largest, first * 2**tries)))
    raise ConflictRetryExhausted("Too many concurrent changes to the same records; retry shortly.")


Appends = list[StreamAppend | EncodedStream]


def _appends(decision: Decision, claim: IdempotencyClaim | None) -> Appends:
    """The decision's streams, then the key's record (encoded: see ``_encoded``)."""
    appends: Appends = [*decision.appends, *decision.encoded]
    if claim is not None:
        appends.append(
            idempotency.record(claim, decision.outcome, decision.body, decision.batch_id)
        )
    return appends


def _written(decision: Decision, result: AppendResult, claim: IdempotencyClaim | None) -> Written:
    body = {**decision.body, "position": result.last_position}
    return Written(decision.outcome, body, recorded=claim is not None)


async def commit(ctx: Context, decision: Decision, claim: IdempotencyClaim | None) -> Written:
    """Append a decision that touches no account."""
    result = await _append(ctx.store, _appends(decision, claim), _encoded(decision, claim))
    return _written(decision, result, claim)


def _encoded(decision: Decision, claim: IdempotencyClaim | None) -> bool:
    """Whether some stream of the decision's append comes encoded (``Decision.encoded``, or
    the key's record: ``idempotency.record``)."""
    return bool(decision.encoded) or claim is not None


def _append(store: EventStore, appends: Appends, encoded: bool) -> Awaitable[AppendResult]:
    """``store.append(*appends)``, or its encoded form if some streams came ``encoded``."""
    if encoded:  # (every event id is new: each attempt of a command draws its own)
        return store.submit_encoded(encode_append(appends, None, fresh=True))
    return store.append(*cast("list[StreamAppend]", appends))


async def commit_with_account(
    ctx: Context,
    user_id: int,
    decide: Callable[[Account], Decision],
    claim: IdempotencyClaim | None,
) -> Written:
    """Decide on the user's account and append the decision with the account's version.

    ``decide`` applies its account events to the account (the domain's decisions do). A domain
    rejection decided on cached state is re-decided once on the stream's latest state (after the
    account's in-flight appends settled), so a stale cache never wrongly refuses. A failed
    append's decision is taken back out of the account on its next use (see ``AccountEntry``).
    """
    entry = ctx.repo.account_entry(user_id)
    async with entry.lock:
        if not entry.loaded or _others_appended(ctx.store, entry):
            await _settled_refresh(ctx.repo, entry)
        try:
            assets = len(entry.account.balances)
            decision = _decide(entry, decide)
        except DomainError:
            await _settled_refresh(ctx.repo, entry)
            assets = len(entry.account.balances)
            decision = _decide(entry, decide)
        # From here to the end of the block nothing awaits: the speculative state change
        # (made by the decision) and the queued append go together.
        expected = entry.version
        speculation = None
        if decision.account_events:
            speculation = entry.speculate(list(decision.account_events), assets)
        try:
            appends = _appends(decision, claim)
        except BaseException:
            entry.failed()
            raise
        encoded = _encoded(decision, claim)
        if decision.account_events:
            appends.insert(0, _account_stream(user_id, decision.account_events, expected))
            encoded = True
        try:
            queued = _queue(ctx.store, appends, encoded)
        except BaseException:  # (refused before it was queued: a closed store)
            if speculation is not None:
                entry.failed()
            raise
        if speculation is not None:
            queued.add_done_callback(partial(_tracked, entry, speculation))
        entry.inflight.add(queued)
    try:
        result = await queued
    finally:
        entry.inflight.discard(queued)
        # A failed append holds its exception: without the ``del`` this frame (and the
        # whole decision, every leg's events) may live on in a cycle until the collector runs.
        del queued
    return _written(decision, result, claim)


def _others_appended(store: EventStore, entry: AccountEntry) -> bool:
    """Whether the store's append cache knows the account past what the entry holds (its
    decisions in flight included): another process (settlement) appended since it was read.

    Read now, before deciding, rather than after the append conflicts: in the pipeline
    benchmark about a third of the appends failed on the account this way (settlement books
    each trader's fills and releases between its batches), and each one cost a decision of
    every leg, its encoding and the store's check of its event ids, all for nothing, and a
    reference cycle (task, exception, traceback, frame) that only the collector freed. A hint
    without I/O: what settlement appends after the store's last look still conflicts as before.
    """
    known = store.known_version(streams.account(entry.account.user_id))
    return known is not None and known > entry.version


def _decide(entry: AccountEntry, decide: Callable[[Account], Decision]) -> Decision:
    """Run a decision; a failed one that changed the account halfway drops it (the domain's
    decisions refuse before they change anything, and a batch takes its legs back)."""
    version = entry.account.version
    try:
        return decide(entry.account)
    except BaseException:
        if entry.account.version != version:
            entry.forget()
        raise


def _queue(store: EventStore, appends: Appends, encoded: bool) -> asyncio.Future[AppendResult]:
    """The decision's append, queued now (``EventStore.submit_encoded``: the MariaDB store gives
    its writer's future, no task around it), or as a task of ``store.append``."""
    if encoded:  # (every event id is new: each attempt of a command draws its own)
        return store.submit_encoded(encode_append(appends, None, fresh=True))
    return asyncio.ensure_future(store.append(*cast("list[StreamAppend]", appends)))


def _tracked(entry: AccountEntry, speculation: Speculation, done: asyncio.Future[Any]) -> None:
    """The entry learns whether a decision's account events landed (a done callback of its
    append, run before the caller awaiting it resumes: it was added first).

    A task per decision (``ensure_future`` of a coroutine awaiting the append, then telling
    the entry) cost a task, two coroutines and an event-loop turn per order."""
    if done.cancelled() or done.exception() is not None:
        entry.failed()
    else:
        entry.landed(speculation)


async def _settled_refresh(repo: Repository, entry: AccountEntry) -> None:
    """Wait for the entry's queued appends, then read what the stream holds beyond it."""
    if entry.inflight:
        await asyncio.wait(set(entry.inflight))
    await repo.refresh(entry)
