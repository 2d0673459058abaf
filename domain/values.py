"""Value objects for prices, quantities and money: integers inside, decimal strings outside.

* :class:`Price` counts **ticks** of an instrument's tick size (``"101.25"`` at tick ``0.01``
  is ``Price(10125)``).
* :class:`Quantity` counts **shares**; it must be a positive multiple of the lot size.
* :class:`Money` counts **minor units** of a currency (USD cents).

None of them can be built invalid: the constructors reject floats, bools, zero and negative
values where they make no sense, and the ``parse`` functions reject anything that is not an
exact decimal string on the grid. No float ever touches money.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from domain.errors import InvalidAmount, InvalidPrice, InvalidQuantity, UnknownAsset

#: Minor-unit digits of the cash currencies the exchange settles in.
CURRENCY_DIGITS: dict[str, int] = {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "JPY": 0}

MAX_DECIMAL_LENGTH = 24
"""The longest decimal string a price, amount or tick size may be: longer ones overflow the
28-digit decimal context that the parsers divide in (the wire schemas refuse them too)."""

_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decimal_from_text(text: object, what: str) -> Decimal:
    """Parse an exact decimal string such as ``"101.25"``; ``ValueError`` for anything else.

    Floats, exponents, ``NaN``, whitespace, signs other than a leading ``-`` and strings longer
    than :data:`MAX_DECIMAL_LENGTH` are refused, so the result is always exactly what the client
    typed.
    """
    if isinstance(text, Decimal) and text.is_finite():
        return text
    if isinstance(text, str) and len(text) > MAX_DECIMAL_LENGTH:
        raise ValueError(f"{what} has more than {MAX_DECIMAL_LENGTH} characters")
    if not isinstance(text, str) or _DECIMAL.fullmatch(text) is None:
        raise ValueError(f"{what} must be a decimal string like '101.25', got {text!r}")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise ValueError(f"{what} is not a decimal: {text!r}") from exc


def units_of(value: Decimal, unit: Decimal) -> int | None:
    """How many whole ``unit`` make ``value``, or ``None`` when it is not an exact multiple."""
    count, rest = divmod(value, unit)
    return int(count) if rest == 0 else None


def format_units(count: int, unit: Decimal) -> str:
    """Render ``count * unit`` as a plain decimal string with the unit's number of places."""
    places = max(0, -int(unit.as_tuple().exponent))
    return f"{Decimal(count) * unit:.{places}f}"


@dataclass(frozen=True, slots=True, order=True)
class Price:
    """A positive price in integer ticks of the instrument's tick size."""

    ticks: int

    def __post_init__(self) -> None:
        if not _is_int(self.ticks):
            raise InvalidPrice(f"price ticks must be an integer, got {self.ticks!r}")
        if self.ticks <= 0:
            raise InvalidPrice(f"price must be positive, got {self.ticks} ticks")

    @classmethod
    def parse(cls, text: object, tick_size: Decimal | str) -> Price:
        """Parse a wire price (``"101.25"``) on the ``tick_size`` grid; ``InvalidPrice`` if not."""
        tick = Decimal(tick_size)
        try:
            value = decimal_from_text(text, "price")
        except ValueError as exc:
            raise InvalidPrice(str(exc)) from exc
        if value <= 0:
            raise InvalidPrice(f"price must be positive, got {text!r}")
        ticks = units_of(value, tick)
        if ticks is None:
            raise InvalidPrice(f"price {text!r} is not a multiple of the tick size {tick}")
        return cls(ticks)

    def to_decimal(self, tick_size: Decimal | str) -> Decimal:
        """The price as an exact :class:`~decimal.Decimal` in currency units."""
        return Decimal(self.ticks) * Decimal(tick_size)

    def format(self, tick_size: Decimal | str) -> str:
        """The wire form, e.g. ``Price(10125).format("0.01") == "101.25"``."""
        return format_units(self.ticks, Decimal(tick_size))


@dataclass(frozen=True, slots=True, order=True)
class Quantity:
    """A positive number of shares (always a whole number of lots where a lot size applies)."""

    shares: int

    def __post_init__(self) -> None:
        if not _is_int(self.shares):
            raise InvalidQuantity(f"quantity must be an integer, got {self.shares!r}")
        if self.shares <= 0:
            raise InvalidQuantity(f"quantity must be positive, got {self.shares}")

    @classmethod
    def parse(cls, value: object, lot_size: int = 1) -> Quantity:
        """Accept an int (or a string of digits) that is a positive multiple of ``lot_size``."""
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            value = int(value)
        if not _is_int(value):
            raise InvalidQuantity(f"quantity must be an integer number of shares, got {value!r}")
        assert isinstance(value, int)
        if value <= 0:
            raise InvalidQuantity(f"quantity must be positive, got {value}")
        if value % lot_size:
            raise InvalidQuantity(f"quantity {value} is not a multiple of the lot size {lot_size}")
        return cls(value)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of cash in integer minor units (``Money(125, "USD")`` is $1.25); may be signed."""

    minor: int
    currency: str = "USD"

    def __post_init__(self) -> None:
        if not _is_int(self.minor):
            raise InvalidAmount(f"money must be integer minor units, got {self.minor!r}")
        if self.currency not in CURRENCY_DIGITS:
            raise UnknownAsset(f"unknown currency {self.currency!r}")

    @classmethod
    def parse(cls, text: object, currency: str = "USD") -> Money:
        """Parse a positive wire amount (``"1000.00"``) with at most the currency's decimals."""
        if currency not in CURRENCY_DIGITS:
            raise UnknownAsset(f"unknown currency {currency!r}")
        try:
            value = decimal_from_text(text, "amount")
        except ValueError as exc:
            raise InvalidAmount(str(exc)) from exc
        if value <= 0:
            raise InvalidAmount(f"amount must be positive, got {text!r}")
        minor = units_of(value, minor_unit(currency))
        if minor is None:
            raise InvalidAmount(f"amount {text!r} has more decimals than {currency} allows")
        return cls(minor, currency)

    def format(self) -> str:
        """The wire form, e.g. ``Money(125, "USD").format() == "1.25"``."""
        return format_units(self.minor, minor_unit(self.currency))

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor - other.minor, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidAmount(f"cannot mix {self.currency} and {other.currency}")


def minor_unit(currency: str) -> Decimal:
    """The size of one minor unit of ``currency`` (``Decimal("0.01")`` for USD)."""
    return Decimal(1).scaleb(-CURRENCY_DIGITS[currency])
