"""The checks the command API makes on an order at once, on top of the domain's value objects.

Nothing here does I/O: it turns a request into the domain's ``OrderPlaced`` and the hold it
reserves, or raises the ``DomainError`` whose code the client gets.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.account import Account
from domain.commands import FOK, GTC, IOC, OrderType, Side, TimeInForce
from domain.errors import (
    ErrorCode,
    InsufficientFunds,
    InvalidOrder,
    InvalidPrice,
    InvalidQuantity,
)
from domain.events import Event
from domain.instrument import Instrument
from domain.order_requests import OrderPlaced

MAX_PRICE_TICKS = 10**12
MAX_QUANTITY = 10**12


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """An order request as sent (before any check)."""

    symbol: str
    side: Side
    order_type: OrderType
    price: str | None
    quantity: int
    time_in_force: TimeInForce | None
    post_only: bool
    client_order_id: str | None


def time_in_force(terms: OrderTerms) -> TimeInForce:
    """The order's time in force: as sent, or IOC for market and GTC for limit orders."""
    if terms.time_in_force is not None:
        return terms.time_in_force
    return IOC if terms.order_type == "market" else GTC


def price_ticks(instrument: Instrument, terms: OrderTerms, tif: TimeInForce) -> int | None:
    """The limit price in ticks (``None`` for a market order), checked against the instrument."""
    if terms.order_type == "market":
        if terms.price is not None:
            raise InvalidPrice("a market order takes no price")
        if tif not in (IOC, FOK):
            raise InvalidOrder("a market order is IOC or FOK", ErrorCode.INVALID_TIME_IN_FORCE)
        if terms.post_only:
            raise InvalidOrder("post_only applies to limit orders only")
        return None
    if terms.price is None:
        raise InvalidPrice("a limit order needs a price")
    if terms.post_only and tif in (IOC, FOK):
        raise InvalidOrder("a post-only order must be able to rest (GTC or DAY)")
    ticks = _ticks(instrument, terms.price)
    if ticks > MAX_PRICE_TICKS:
        raise InvalidPrice(f"price {terms.price} is above the maximum")
    return ticks


_TICKS: dict[tuple[str, object], int] = {}
"""Parsed prices by (text, tick size): a batch's legs mostly share a few prices, and parsing
one (``Decimal``) costs more than the rest of the leg's checks."""


def _ticks(instrument: Instrument, text: str) -> int:
    """``instrument.parse_price(text).ticks``, remembered (only successes are; the parser
    refuses strings longer than ``domain.values.MAX_DECIMAL_LENGTH``)."""
    key = (text, instrument.tick_size)
    ticks = _TICKS.get(key)
    if ticks is None:
        ticks = instrument.parse_price(text).ticks
        if len(_TICKS) >= 4096:
            _TICKS.clear()
        _TICKS[key] = ticks
    return ticks


def order_placed(
    instrument: Instrument,
    terms: OrderTerms,
    ids: tuple[int, int],
    at: int,
    session_close: int,
) -> OrderPlaced:
    """The domain's ``OrderPlaced`` for a request (``max_notional`` is set by :func:`reserve`).

    ``ids`` is ``(order_id, user_id)``; ``session_close`` is when a DAY order expires.
    """
    if instrument.symbol != terms.symbol:
        raise InvalidOrder("instrument and order disagree on the symbol")
    tif = time_in_force(terms)
    price = price_ticks(instrument, terms, tif)
    quantity = terms.quantity
    if type(quantity) is not int or quantity <= 0 or quantity % instrument.lot_size:
        quantity = instrument.parse_quantity(quantity).shares  # (raises the precise error)
    if quantity > MAX_QUANTITY:
        raise InvalidQuantity(f"quantity {quantity} is above the maximum")
    return OrderPlaced(
        terms.symbol,
        ids[0],
        ids[1],
        terms.side,
        terms.order_type,
        price,
        quantity,
        tif,
        terms.post_only,
        None,
        session_close if tif == "DAY" else None,
        terms.client_order_id,
        at,
    )


def reserve(
    instrument: Instrument, order: OrderPlaced, account: Account
) -> tuple[OrderPlaced, list[Event]]:
    """Reserve what the order may spend on ``account`` (the domain's rules); its ``FundsReserved``.

    Raises ``INSUFFICIENT_FUNDS``/``INSUFFICIENT_HOLDINGS`` if the account cannot cover it and
    ``OPPOSITE_SIDE_ORDER_OPEN`` under the instrument's ``reject_opposite`` rule. A market buy
    holds all available cash and is bounded by ``max_notional`` (its unspent part is released
    when the order ends). The reservation is applied to ``account`` (see ``Account``).
    """
    cash = None
    if order.side == "buy" and order.price is None:
        cash = account.available(instrument.currency)
        max_notional = instrument.market_buy_max_notional(max(cash, 0))
        if max_notional <= 0:
            raise InsufficientFunds(f"no {instrument.currency} available for a market buy")
        order = order.replace(max_notional=max_notional)
    events = account.reserve_order(
        instrument,
        order.order_id,
        order.side,
        order.order_type,
        order.quantity,
        order.price,
        order.at,
        cash,
    )
    return order, events
