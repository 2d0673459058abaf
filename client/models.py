"""The wire shapes of API.md as typed dictionaries (prices and cash as decimal strings, share
quantities as integers; ``decimal.Decimal(s)`` when you compute with them)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market"]
TimeInForce = Literal["GTC", "IOC", "FOK", "DAY"]
OrderStatus = Literal["accepted", "partially_filled", "filled", "cancelled", "expired", "rejected"]
Level = list[Any]
"""``[price, quantity]``: a decimal string and an integer."""


class OrderRequest(TypedDict):
    """One order of ``POST /v1/orders`` or of a batch (build it with :func:`client.order`)."""

    symbol: str
    side: Side
    type: OrderType
    quantity: int
    price: NotRequired[str]
    time_in_force: NotRequired[TimeInForce]
    post_only: NotRequired[bool]
    client_order_id: NotRequired[str]


class UserCreated(TypedDict):
    user_id: int
    username: str
    api_key: str | None
    position: int


class Instrument(TypedDict):
    symbol: str
    tick_size: str
    lot_size: int
    self_trade: str
    maker_fee_bps: int
    taker_fee_bps: int
    currency: str
    position: NotRequired[int]


class Funded(TypedDict):
    asset: str
    amount: str | int
    position: int


class OrderAccepted(TypedDict):
    order_id: int
    client_order_id: str | None
    status: Literal["accepted"]
    position: int
    event_id: NotRequired[str | None]
    """The request's event: the engine's answers cite it as their ``causation_id``."""


class BatchLeg(TypedDict):
    order_id: int
    client_order_id: str | None
    status: Literal["accepted"]


class BatchAccepted(TypedDict):
    batch_id: int
    orders: list[BatchLeg]
    position: int
    event_id: NotRequired[str | None]


class OrderChangeRequested(TypedDict):
    order_id: int
    status: Literal["cancel_requested", "amend_requested"]
    position: int
    event_id: NotRequired[str | None]


class CancelLeg(TypedDict):
    order_id: int
    status: Literal["cancel_requested", "not_open", "not_found"]


class CancelBatchRequested(TypedDict):
    orders: list[CancelLeg]
    position: int


class Book(TypedDict):
    symbol: str
    bids: list[Level]
    asks: list[Level]
    seq: int
    position: int


class Trade(TypedDict):
    trade_id: int
    price: str
    quantity: int
    taker_side: Side
    executed_at: str
    position: int


class Candle(TypedDict):
    start: int
    interval: str
    open: str
    high: str
    low: str
    close: str
    volume: int
    trades: int


class Order(TypedDict):
    order_id: int
    client_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price: str | None
    quantity: int
    filled_quantity: int
    remaining_quantity: int
    avg_fill_price: str | None
    status: OrderStatus
    reason: str | None
    created_at: str
    updated_at: str
    position: int
    caused_by: NotRequired[str | None]
    """The ``causation_id`` of the order's latest engine event."""


class OrderEvent(TypedDict):
    position: int
    type: str
    at: str
    data: dict[str, Any]
    causation_id: NotRequired[str | None]
    """For an engine event, the ``event_id`` of the input it answers."""


class Balance(TypedDict):
    total: str | int
    available: str | int
    held: str | int


class Account(TypedDict):
    user_id: int
    balances: dict[str, Balance]
    position: int


class LedgerEntry(TypedDict):
    position: int
    asset: str
    delta: str | int
    balance_after: str | int
    kind: str
    ref: Any
    at: NotRequired[str]


def order(
    symbol: str,
    side: Side,
    quantity: int,
    price: str | None = None,
    *,
    type: OrderType | None = None,
    time_in_force: TimeInForce | None = None,
    post_only: bool = False,
    client_order_id: str | None = None,
) -> OrderRequest:
    """An order request: a limit when ``price`` is given, else a market order."""
    request = OrderRequest(
        symbol=symbol,
        side=side,
        type=type or ("market" if price is None else "limit"),
        quantity=quantity,
    )
    if price is not None:
        request["price"] = price
    if time_in_force is not None:
        request["time_in_force"] = time_in_force
    if post_only:
        request["post_only"] = True
    if client_order_id is not None:
        request["client_order_id"] = client_order_id
    return request
