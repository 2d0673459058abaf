"""Synthetic stored events and exports for the audit unit tests (no I/O)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cli.audit.chain import ChainWriter, Format, event_record, header_record, trailer_record
from event_store.model import RecordedEvent


def recorded(
    position: int,
    event_type: str,
    data: dict[str, Any],
    stream_id: str = "order-7",
    metadata: dict[str, Any] | None = None,
    version: int | None = None,
) -> RecordedEvent:
    """A stored event as the store returns it."""
    return RecordedEvent(
        position,
        stream_id,
        version or position,
        UUID(int=position),
        event_type,
        1,
        data,
        {"correlation_id": "c-1", "actor": "42"} if metadata is None else metadata,
        datetime(2026, 1, 2, 3, 4, 5, position, tzinfo=UTC),
    )


def sample_events() -> list[RecordedEvent]:
    """A few events with every metadata shape the export must carry through."""
    return [
        recorded(3, "OrderPlaced", {"symbol": "ACME", "order_id": 7, "quantity": 10}),
        recorded(
            4,
            "FundsReserved",
            {"asset": "ACME", "amount": 10, "order_id": 7, "note": "Zürich ✓"},
            stream_id="account-42",
            metadata={"correlation_id": "", "actor": "42"},
        ),
        recorded(
            9,
            "OrderAccepted",
            {"symbol": "ACME", "order_id": 7},
            metadata={"correlation_id": "c-1", "causation_id": "e-3", "actor": "matching"},
            version=2,
        ),
        recorded(12, "OrderCancelled", {"order_id": 7, "quantity": 10}, metadata={}, version=3),
    ]


def export_text(fmt: Format, events: list[RecordedEvent] | None = None) -> str:
    """A whole export of ``events`` (default :func:`sample_events`) in ``fmt``."""
    events = sample_events() if events is None else events
    out = io.StringIO()
    writer = ChainWriter(out, fmt)
    writer.write(header_record({"order": 7}, {"from": None, "to": None}, "2026-01-02T00:00Z", 12))
    for event in events:
        writer.write(event_record(event))
    writer.write(trailer_record(len(events), events[-1].position if events else None))
    return out.getvalue()
