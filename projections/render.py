"""Integers of the read models rendered as the wire shows them (API.md): decimal strings for
prices and cash, integers for shares, ISO 8601 (UTC, microseconds) for times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from domain.instrument import Instrument
from domain.values import CURRENCY_DIGITS, format_units, minor_unit

_NS: Final = 1_000_000_000
_AVG_PLACES: Final = 4
"""Extra decimal places of an average fill price beyond the tick's."""
_PRICE_FIELDS: Final = frozenset({"price"})


def iso(ns: int | None) -> str | None:
    """Nanoseconds since the epoch as ``2025-01-02T03:04:05.123456Z``."""
    if ns is None:
        return None
    seconds, rest = divmod(ns, _NS)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def price(instrument: Instrument, ticks: int | None) -> str | None:
    """Ticks as the instrument's decimal price (``None`` stays ``None``: market orders)."""
    return None if ticks is None else instrument.format_price(ticks)


def average_price(instrument: Instrument, notional_ticks: int, quantity: int) -> str | None:
    """The average of fills worth ``notional_ticks`` (ticks x shares) over ``quantity`` shares."""
    if quantity <= 0:
        return None
    tick = instrument.tick_size
    places = max(0, -int(tick.as_tuple().exponent))
    exact = Decimal(notional_ticks) * tick / Decimal(quantity)
    text = f"{exact.quantize(Decimal(1).scaleb(-(places + _AVG_PLACES))):f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(places, "0")
    return f"{whole}.{fraction}" if fraction else whole


def is_cash(asset: str) -> bool:
    """A currency (amounts in minor units) rather than a symbol (amounts in shares)."""
    return asset in CURRENCY_DIGITS


def amount(asset: str, units: int) -> str | int:
    """Cash as a decimal string of its currency, shares as an integer."""
    if is_cash(asset):
        return format_units(units, minor_unit(asset))
    return units


def event_data(instrument: Instrument | None, data: dict[str, Any]) -> dict[str, Any]:
    """An order event's data for the wire: prices as decimal strings, times as ISO 8601."""
    shown: dict[str, Any] = {}
    for name, value in data.items():
        if name in _PRICE_FIELDS and isinstance(value, int) and instrument is not None:
            shown[name] = instrument.format_price(value)
        elif name == "max_notional" and isinstance(value, int) and instrument is not None:
            shown[name] = format_units(value, instrument.tick_size)
        elif name in ("at", "expires_at") and isinstance(value, int):
            shown[name] = iso(value)
        else:
            shown[name] = value
    return shown
