"""Write one lifecycle's events as a hash-chained export (header, events, trailer)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TextIO

from cli.audit.chain import ChainWriter, Format, event_record, header_record, trailer_record
from event_store.audit import (
    AuditReader,
    Window,
    order_lifecycle,
    symbol_lifecycle,
    user_lifecycle,
)
from event_store.model import RecordedEvent


async def lifecycle_events(
    reader: AuditReader,
    scope: dict[str, Any],
    window: Window,
    progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[RecordedEvent]:
    """The events of the lifecycle ``scope`` names, in position order.

    ``UnknownLifecycle`` is raised here, before any event is read, for a lifecycle the store
    does not know.
    """
    if "symbol" in scope:
        return await symbol_lifecycle(reader, str(scope["symbol"]), window, progress)
    if "order" in scope:
        events = await order_lifecycle(reader, int(scope["order"]), window)
    else:
        events = await user_lifecycle(reader, int(scope["user"]), window)
    return _listed(events, progress)


async def _listed(
    events: list[RecordedEvent], progress: Callable[[int, int], None] | None
) -> AsyncIterator[RecordedEvent]:
    for event in events:
        yield event
    if progress is not None:
        progress(1, 1)


async def export_lifecycle(
    reader: AuditReader,
    scope: dict[str, Any],
    window: Window,
    out: TextIO,
    fmt: Format,
    progress: Callable[[int, int], None] | None = None,
) -> ChainWriter:
    """Write the lifecycle's chain (header, events, trailer) to ``out``; the finished writer.

    The export stops at the store's last position when it starts (the header's
    ``store_position``), so events appended meanwhile never make it inconsistent.
    """
    store_position = await reader.last_position()
    bounds = {
        "from": iso(window.from_time) if window.from_position is None else window.from_position,
        "to": iso(window.to_time) if window.to_position is None else window.to_position,
    }
    if window.to_position is None or window.to_position > store_position:
        window = replace(window, to_position=store_position)
    events = await lifecycle_events(reader, scope, window, progress)
    writer = ChainWriter(out, fmt)
    exported_at = iso(datetime.now(UTC)) or ""
    writer.write(header_record(scope, bounds, exported_at, store_position))
    count, last = 0, None
    async for event in events:
        writer.write(event_record(event))
        count, last = count + 1, event.position
    writer.write(trailer_record(count, last))
    return writer


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` (``None`` stays ``None``)."""
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
