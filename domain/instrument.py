"""Instruments: what is traded, on which price grid, in which lots, under which self-trade rule.

Money arithmetic for orders lives here because it depends on the instrument: a price of ``p``
ticks for ``q`` shares costs ``p * tick_minor * q`` minor units of the instrument's currency
(``tick_minor`` = minor units per tick, so the tick size must be a whole number of cents).

Fees are in basis points of the notional, **rounded down to the minor unit per fill**. Because
``sum(floor(x_i)) <= floor(sum(x_i))``, the fee reserved for a whole order always covers the fees
of its fills, however the order is split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, get_args

from domain.errors import InvalidInstrument
from domain.values import (
    CURRENCY_DIGITS,
    Price,
    Quantity,
    decimal_from_text,
    format_units,
    minor_unit,
    units_of,
)

SelfTradeMode = Literal[
    "reject_opposite", "cancel_newest", "cancel_oldest", "cancel_both", "decrement"
]
SELF_TRADE_MODES: tuple[SelfTradeMode, ...] = get_args(SelfTradeMode)
BPS = 10_000
_SYMBOL = re.compile(r"[A-Z][A-Z0-9._-]{0,15}")


_TICK_MINOR: dict[tuple[Decimal, str], int] = {}


@dataclass(frozen=True, slots=True)
class Instrument:
    """A listed symbol.

    ``self_trade`` is ``"reject_opposite"`` (the default: a user may not have open orders on both
    sides, ``OPPOSITE_SIDE_ORDER_OPEN``) or one of the self-trade-prevention modes
    ``cancel_newest``, ``cancel_oldest``, ``cancel_both``, ``decrement``.
    """

    symbol: str
    tick_size: Decimal = Decimal("0.01")
    lot_size: int = 1
    self_trade: SelfTradeMode = "reject_opposite"
    maker_fee_bps: int = 0
    taker_fee_bps: int = 0
    currency: str = "USD"

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or _SYMBOL.fullmatch(self.symbol) is None:
            raise InvalidInstrument(f"symbol must match {_SYMBOL.pattern}, got {self.symbol!r}")
        if self.currency not in CURRENCY_DIGITS:
            raise InvalidInstrument(f"unknown currency {self.currency!r}")
        tick = self.tick_size
        if not isinstance(tick, Decimal) or not tick.is_finite() or tick <= 0:
            shown = tick if isinstance(tick, Decimal) else repr(tick)
            raise InvalidInstrument(f"tick size must be a positive decimal, got {shown}")
        if units_of(tick, minor_unit(self.currency)) is None:
            raise InvalidInstrument(
                f"tick size {tick} is finer than one {self.currency} minor unit"
            )
        if type(self.lot_size) is not int or self.lot_size <= 0:
            raise InvalidInstrument(f"lot size must be a positive integer, got {self.lot_size!r}")
        if self.self_trade not in SELF_TRADE_MODES:
            raise InvalidInstrument(f"self_trade must be one of {SELF_TRADE_MODES}")
        for fee in (self.maker_fee_bps, self.taker_fee_bps):
            if type(fee) is not int or not 0 <= fee <= 1000:
                raise InvalidInstrument(f"fees are integer basis points in 0..1000, got {fee!r}")

    @classmethod
    def create(
        cls,
        symbol: str,
        tick_size: str = "0.01",
        lot_size: int = 1,
        self_trade: SelfTradeMode = "reject_opposite",
        maker_fee_bps: int = 0,
        taker_fee_bps: int = 0,
        currency: str = "USD",
    ) -> Instrument:
        """Build from wire values (``tick_size`` a decimal string); ``InvalidInstrument`` if bad."""
        try:
            tick = decimal_from_text(tick_size, "tick_size")
        except ValueError as exc:
            raise InvalidInstrument(str(exc)) from exc
        return cls(symbol, tick, lot_size, self_trade, maker_fee_bps, taker_fee_bps, currency)

    @property
    def tick_minor(self) -> int:
        """Minor currency units per tick (1 for a 0.01 tick in USD)."""
        key = (self.tick_size, self.currency)
        ticks = _TICK_MINOR.get(key)
        if ticks is None:  # (Decimal arithmetic: once per tick size and currency)
            ticks = units_of(self.tick_size, minor_unit(self.currency))
            assert ticks is not None
            _TICK_MINOR[key] = ticks
        return ticks

    def parse_price(self, text: object) -> Price:
        """Parse a wire price onto this instrument's tick grid."""
        return Price.parse(text, self.tick_size)

    def format_price(self, ticks: int) -> str:
        """Render integer ticks as the wire decimal string."""
        return format_units(ticks, self.tick_size)

    def parse_quantity(self, value: object) -> Quantity:
        """Parse a share quantity that must be a positive multiple of the lot size."""
        return Quantity.parse(value, self.lot_size)

    def notional(self, price_ticks: int, quantity: int) -> int:
        """Cash value of ``quantity`` shares at ``price_ticks``, in minor units."""
        return price_ticks * self.tick_minor * quantity

    def fee(self, notional: int, bps: int) -> int:
        """Fee of ``bps`` basis points on ``notional`` minor units, rounded down."""
        return notional * bps // BPS

    def maker_fee(self, notional: int) -> int:
        """Fee charged to the resting side of a fill."""
        return self.fee(notional, self.maker_fee_bps)

    def taker_fee(self, notional: int) -> int:
        """Fee charged to the incoming side of a fill."""
        return self.fee(notional, self.taker_fee_bps)

    def buy_hold(self, price_ticks: int, quantity: int) -> int:
        """Cash to reserve for a limit buy: notional plus the higher of the two fee rates.

        A resting buy may fill as maker or as taker, so the hold covers whichever costs more.
        Fills happen at or below the limit, so the hold always covers them.
        """
        notional = self.notional(price_ticks, quantity)
        return notional + self.fee(notional, max(self.maker_fee_bps, self.taker_fee_bps))

    def market_buy_max_notional(self, cash_minor: int) -> int:
        """The engine's spending bound for a market buy holding ``cash_minor``, in ticks x shares.

        Pass the result as ``NewOrder.max_notional``: every fill then costs at most the cash
        held, taker fee included.
        """
        bps = max(self.maker_fee_bps, self.taker_fee_bps)
        notional = cash_minor * BPS // (BPS + bps)
        while notional + 1 + self.fee(notional + 1, bps) <= cash_minor:
            notional += 1
        return notional // self.tick_minor

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (the tick size as a decimal string)."""
        return {
            "symbol": self.symbol,
            "tick_size": str(self.tick_size),
            "lot_size": self.lot_size,
            "self_trade": self.self_trade,
            "maker_fee_bps": self.maker_fee_bps,
            "taker_fee_bps": self.taker_fee_bps,
            "currency": self.currency,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Instrument:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls.create(**data)  # type: ignore[arg-type]
        except TypeError as exc:
            raise InvalidInstrument(f"bad instrument fields: {exc}") from exc
