"""Listed instruments as the workers know them: read once from the store, then cached."""

from __future__ import annotations

from domain import streams
from domain.instrument import Instrument
from event_store.protocol import EventStore


class Instruments:
    """Listed instruments, read once from their ``instrument-<SYMBOL>`` stream."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._known: dict[str, Instrument | None] = {}

    async def get(self, symbol: str) -> Instrument | None:
        """The instrument, or ``None`` if it was never listed."""
        if symbol in self._known:
            return self._known[symbol]
        listed = await self._store.read_stream(streams.instrument(symbol), limit=1)
        found = None
        if listed:
            found = instrument_of(listed[0].data)
            self._known[symbol] = found
        return found


def instrument_of(listing: dict[str, object]) -> Instrument:
    """The instrument an ``InstrumentListed`` event's data describes."""
    return Instrument.from_dict({k: v for k, v in listing.items() if k != "at"})
