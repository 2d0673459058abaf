"""Stand-in matching and settlement workers: they append what the real ones would.

For the engine inputs of one symbol appended since their last run, they append the engine's
events on the orders' streams (``OrderAccepted``, a trade as two ``OrderFilled``,
``OrderCancelled``, ...; the exact classes and ``to_dict()`` of ``domain/``, metadata
``correlation_id`` of the input, ``causation_id`` = the input's event id, ``actor`` =
``"matching"``), then settlement's account events (``TradeSettled``, ``FundsReleased``; actor
``"settlement"``), as ``workers/README.md`` describes. The audit tests then do not depend on
the workers being deployed; where they do run, the tests wait for them instead.
"""

from __future__ import annotations

from typing import Any

from domain import streams
from domain.account import Account
from domain.account_events import RELEASED_ORDER_CLOSED
from domain.events import Event
from domain.folds import fold_account
from domain.instrument import Instrument
from domain.matching import MatchingEngine
from domain.order_events import OrderCancelled, OrderExpired, OrderFilled, TradeExecuted
from domain.rejections import OrderRejected
from event_store import ANY, MariaDbEventStore, NewEvent, StreamAppend
from event_store.audit import AuditReader, engine_inputs
from event_store.model import RecordedEvent
from workers.instruments import instrument_of
from workers.matching.shard import engine_command


class StandInWorkers:
    """The matching and settlement workers of one symbol, run on demand."""

    def __init__(self, store: MariaDbEventStore, reader: AuditReader, symbol: str) -> None:
        self.store = store
        self.reader = reader
        self.symbol = symbol
        self.engine: MatchingEngine | None = None
        self.instrument: Instrument | None = None
        self.next_position = 1

    async def run(self) -> None:
        """Process every engine input of the symbol appended since the last run."""
        if self.engine is None or self.instrument is None:
            listed = await self.reader.first_event(streams.instrument(self.symbol))
            assert listed is not None, f"{self.symbol} is not listed"
            self.instrument = instrument_of(listed.data)
            self.engine = MatchingEngine([self.instrument])
            self.next_position = listed.position
        last = await self.reader.last_position()
        inputs = [
            e async for e in engine_inputs(self.reader, self.symbol, last, self.next_position)
        ]
        self.next_position = last + 1
        for event in inputs:
            await self._match(event, self.engine.process(engine_command(event)))

    async def _match(self, cause: RecordedEvent, outputs: list[Event]) -> None:
        meta = _meta(cause, "matching")
        by_stream: dict[str, list[NewEvent]] = {}
        appended: list[tuple[Event, NewEvent]] = []
        for output in outputs:
            for event in output.fills() if isinstance(output, TradeExecuted) else (output,):
                new = NewEvent(event.event_type, event.to_dict(), meta)
                order_id = event.to_dict()["order_id"]
                assert isinstance(order_id, int)
                by_stream.setdefault(streams.order(order_id), []).append(new)
                appended.append((event, new))
        if by_stream:
            await self.store.append(*(StreamAppend(s, e, ANY) for s, e in by_stream.items()))
        for event, new in appended:
            await self._settle(event, new, cause)

    async def _settle(self, event: Event, recorded: NewEvent, cause: RecordedEvent) -> None:
        assert self.instrument is not None
        if isinstance(event, OrderFilled):
            account = await self._account(event.user_id)
            booked = account.settle_fill(event, self.instrument)
        elif isinstance(event, OrderCancelled | OrderExpired | OrderRejected):
            account = await self._account(event.user_id)
            booked = account.release_order(event.order_id, RELEASED_ORDER_CLOSED, event.at)
        else:
            return
        if not booked:
            return
        meta = {**_meta(cause, "settlement"), "causation_id": str(recorded.event_id)}
        news = [NewEvent(e.event_type, e.to_dict(), meta) for e in booked]
        await self.store.append(StreamAppend(streams.account(account.user_id), news, ANY))

    async def _account(self, user_id: int) -> Account:
        account = Account(user_id)
        fold_account(account, await self.store.read_stream(streams.account(user_id)))
        return account


def _meta(cause: RecordedEvent, actor: str) -> dict[str, Any]:
    return {
        "correlation_id": cause.metadata.get("correlation_id"),
        "causation_id": str(cause.event_id),
        "actor": actor,
    }
