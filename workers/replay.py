"""Rebuild a symbol's matching engine from the store: its listing, then its engine inputs.

The engine is pure and deterministic, so feeding a fresh :class:`MatchingEngine` the same
inputs in the same (position) order rebuilds the book the matching worker had after them:
``OrderPlaced``, ``CancelRequested``, ``AmendRequested``, ``BatchPlaced`` and ``SessionClosed``
whose metadata routes them to the symbol (``order_symbol``). The auditors' time travel
(``exchange audit state --symbol``) and the replay check reuse it.

A ``SessionClosed`` expires the DAY orders of the whole engine shard; replaying one symbol
sees only its own session closes, which expire its DAY orders at the same instant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from domain import streams
from domain.commands import Command
from domain.matching import MatchingEngine
from event_store.audit import (
    ENGINE_INPUT_TYPES,
    AuditReader,
    Progress,
    UnknownLifecycle,
    engine_inputs,
)
from event_store.model import RecordedEvent
from event_store.outbox import ORDER_SYMBOL
from event_store.protocol import EventStore
from workers.instruments import instrument_of
from workers.matching.shard import engine_command

_PAGE: Final = 5000
_INPUTS: Final = frozenset(ENGINE_INPUT_TYPES)


async def replay_symbol(
    store: AuditReader | EventStore,
    symbol: str,
    up_to_position: int,
    *,
    progress: Progress | None = None,
) -> MatchingEngine:
    """A fresh engine holding ``symbol``'s book as it stood at ``up_to_position``.

    ``store`` is an :class:`AuditReader` (one SQL scan of the engine inputs, reported to
    ``progress``) or any :class:`EventStore` (its log is read in pages and filtered here).
    Raises ``UnknownLifecycle`` when the symbol was never listed.
    """
    listed = await _first_event(store, streams.instrument(symbol))
    if listed is None:
        raise UnknownLifecycle(f"no instrument {symbol!r} in the store")
    engine = MatchingEngine([instrument_of(listed.data)])
    batch: list[Command] = []
    async for event in _inputs(store, symbol, listed.position, up_to_position, progress):
        batch.append(engine_command(event))
        if len(batch) >= _PAGE:
            engine.process_many(batch)
            batch.clear()
    engine.process_many(batch)
    return engine


async def _first_event(store: AuditReader | EventStore, stream_id: str) -> RecordedEvent | None:
    if isinstance(store, AuditReader):
        return await store.first_event(stream_id)
    events = await store.read_stream(stream_id, limit=1)
    return events[0] if events else None


async def _inputs(
    store: AuditReader | EventStore,
    symbol: str,
    listed_at: int,
    up_to_position: int,
    progress: Progress | None,
) -> AsyncIterator[RecordedEvent]:
    if isinstance(store, AuditReader):
        async for event in engine_inputs(store, symbol, up_to_position, listed_at, progress):
            yield event
        return
    after = listed_at
    while after < up_to_position:
        page = await store.read_all(after, _PAGE)
        for event in page:
            if event.position > up_to_position:
                return
            if event.type in _INPUTS and event.metadata.get(ORDER_SYMBOL) == symbol:
                yield event
        if len(page) < _PAGE:
            return
        after = page[-1].position
