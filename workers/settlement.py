"""The settlement worker (``python -m workers.settlement``): fills and closed orders → accounts.

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

Checkpoints written on another topic (the layout before the settlement topic consumed the
events topic, keyed by stream) are moved once: ``workers.settlement_resume``.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import uvloop

from domain import streams
from domain.account import Account
from domain.account_events import FEE_ACCOUNT, RELEASED_ORDER_CLOSED, TradeSettled
from domain.errors import DomainError
from domain.events import Event, event_from_dict
from domain.folds import ORDER_CLOSING_EVENT_TYPES
from domain.order_events import OrderFilled
from event_store.errors import WrongExpectedVersion
from event_store.model import NewEvent, RecordedEvent, StreamAppend
from event_store.protocol import EventStore
from workers.accounts import Accounts
from workers.consumer import Busy, Fenced, Resume
from workers.instruments import Instruments
from workers.settlement_resume import ACTOR, checkpoint, last_checkpoint, move_to_topic

log = logging.getLogger("settlement")

ANY: Final = -1
MAX_ATTEMPTS: Final = 20
_FILLED: Final = OrderFilled.__name__
_SETTLED: Final = frozenset({_FILLED, *ORDER_CLOSING_EVENT_TYPES})
_ORDER_PREFIX: Final = streams.order(0).removesuffix("0")
_FEE_META: Final = {"actor": ACTOR}
"""A batch's ``FeesNetted`` has many causes: each side's ``TradeSettled`` names its own."""


class SettlementError(Exception):
    """An input the account rules refuse even on fresh state: a bug, never skipped."""


class SettlementWorker:
    """A :class:`~workers.consumer.PartitionWorker` of the settlement topic."""

    def __init__(self, store: EventStore, *, group: str, topic: str, partitions: int) -> None:
        self.group = group
        self.topic = topic
        self._partitions = partitions
        self._store = store
        self._accounts = Accounts(store)
        self._instruments = Instruments(store)
        self._versions: dict[int, int] = {}
        self._fees = Account(FEE_ACCOUNT)

    async def assign(self, partition: int) -> Resume:
        """Where ``settlement-<p>`` says this partition stands (moved off a legacy topic first)."""
        version, last = await last_checkpoint(self._store, partition)
        if last is None or last.get("topic") != self.topic:
            await move_to_topic(self._store, self.topic, self._partitions)
            version, last = await last_checkpoint(self._store, partition)
        self._versions[partition] = version
        if last is None:
            return Resume(0, None)
        if last.get("topic") != self.topic:
            raise SettlementError(
                f"{streams.settlement(partition)} is still checkpointed on {last.get('topic')!r}"
                " (is a settlement worker of the old layout still running?)"
            )
        return Resume(int(last["last_position"]), last.get("kafka_offset"))

    async def revoke(self, partition: int) -> None:
        """Forget the partition's fence version."""
        self._versions.pop(partition, None)

    async def apply(self, partition: int, events: list[RecordedEvent], next_offset: int) -> None:
        """Book the batch's fills and closes, with the position, in one append."""
        inputs = [e for e in events if e.type in _SETTLED and e.stream_id.startswith(_ORDER_PREFIX)]
        if not inputs:
            return  # nothing to book; the position moves with the next batch that has some
        users = {int(e.data["user_id"]) for e in inputs}
        consumed = checkpoint(self.topic, partition, events[-1].position, next_offset)
        for attempt in range(MAX_ATTEMPTS):
            await self._accounts.refresh(users)
            appends = await self._decide(inputs)
            appends.append(
                StreamAppend(streams.settlement(partition), [consumed], self._versions[partition])
            )
            try:
                result = await self._store.append(*appends)
            except WrongExpectedVersion as exc:
                self._accounts.forget(users)
                if exc.stream_id == streams.settlement(partition):
                    raise Fenced(f"{exc.stream_id} moved on to version {exc.actual}") from exc
                log.info("account changed meanwhile; deciding again", extra={"attempt": attempt})
                continue
            except BaseException:
                self._accounts.forget(users)
                raise
            self._versions[partition] += 1
            self._accounts.appended(result.stream_versions)
            return
        raise Busy(f"accounts kept changing during {MAX_ATTEMPTS} attempts")

    async def _decide(self, inputs: list[RecordedEvent]) -> list[StreamAppend]:
        """The account events of every input, per account stream (versions as read)."""
        decided: dict[int, list[NewEvent]] = {}
        versions: dict[int, int] = {}
        settled: list[TradeSettled] = []
        for event in inputs:
            user_id = int(event.data["user_id"])
            cached = self._accounts[user_id]
            versions.setdefault(user_id, cached.version)
            outcome = await self._settle(cached.account, event)
            meta = {
                "correlation_id": event.metadata.get("correlation_id"),
                "causation_id": str(event.event_id),
                "actor": ACTOR,
            }
            booked = decided.setdefault(user_id, [])
            for produced in outcome:
                booked.append(NewEvent(produced.event_type, produced.to_dict(), meta))
                if type(produced) is TradeSettled:
                    settled.append(produced)
        appends = [
            StreamAppend(streams.account(user), events, versions[user])
            for user, events in decided.items()
            if events
        ]
        fees = [
            NewEvent(fee.event_type, fee.to_dict(), _FEE_META)
            for fee in self._fees.net_fees(settled)
        ]
        if fees:
            appends.append(StreamAppend(streams.account(FEE_ACCOUNT), fees, ANY))
        return appends

    async def _settle(self, account: Account, event: RecordedEvent) -> list[Event]:
        data: dict[str, Any] = event.data
        try:
            if event.type == _FILLED:
                fill: Any = event_from_dict(_FILLED, data)
                instrument = await self._instruments.get(fill.symbol)
                if instrument is None:
                    raise SettlementError(f"a fill in the unlisted {fill.symbol}")
                return account.settle_fill(fill, instrument)
            order_id = int(data["order_id"])
            return account.release_order(order_id, RELEASED_ORDER_CLOSED, int(data["at"]))
        except DomainError as exc:
            raise SettlementError(
                f"{event.type} at position {event.position} cannot be settled: {exc}"
            ) from exc


GC_THRESHOLDS: Final = (50_000, 50, 100)
"""A batch allocates ~10^5 short-lived containers (decoded messages, account events, rows)
beside the long-lived cache of every account met (holds and balances): with the default
thresholds the collector walked that cache again and again (see ``common.gc_tuning``)."""


async def _main() -> None:
    from common.gc_tuning import tune_gc
    from common.settings import SettlementSettings
    from workers.service import Operations, run_store_consumer

    settings = SettlementSettings()
    tune_gc(GC_THRESHOLDS)

    def make(store: EventStore, _ops: Operations) -> SettlementWorker:
        return SettlementWorker(
            store,
            group=settings.settlement_group,
            topic=settings.settlement_topic,
            partitions=settings.settlement_partitions,
        )

    await run_store_consumer("settlement", settings, make)


if __name__ == "__main__":
    uvloop.run(_main())
