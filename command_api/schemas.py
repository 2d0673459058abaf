"""Request and response bodies: decimal strings and integers on the wire, never floats.

Requests are strict (``extra="forbid"``, no float or bool coercion). Only the *shape* is checked
here; prices, quantities and amounts are checked by the domain against the instrument, so their
errors carry the domain's codes (``INVALID_PRICE``, ``INVALID_QUANTITY``, ...). The OpenAPI
schema still states those rules (``json_schema_extra``: the decimal and symbol patterns, positive
quantities, non-empty batches), so a client or fuzzer built from it meets no rejection it did not
announce; the domain enforces them with its own codes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from command_api.services.order_rules import MAX_QUANTITY
from domain.values import CURRENCY_DIGITS, MAX_DECIMAL_LENGTH

DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]+)?$"
"""Unsigned decimal strings (``domain.values``; the domain refuses others: ``INVALID_PRICE``)."""
INTEGER_NOTE = "A JSON integer such as 10: a number written with a fraction or exponent is refused."
SYMBOL_PATTERN = r"^[A-Z][A-Z0-9._-]{0,15}$"
"""``domain.instrument``'s symbols (``INVALID_INSTRUMENT``; never listed: ``UNKNOWN_SYMBOL``)."""

Username = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.-]{3,64}$")]
Symbol = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=16,
        examples=["ACME"],
        json_schema_extra={"pattern": SYMBOL_PATTERN},
    ),
]
Decimal = Annotated[
    StrictStr,
    Field(
        max_length=MAX_DECIMAL_LENGTH,
        examples=["101.25"],
        json_schema_extra={"pattern": DECIMAL_PATTERN, "format": "decimal"},
    ),
]
"""A decimal string (the domain's parsers refuse longer ones: ``domain.values``)."""
Shares = Annotated[
    StrictInt,
    Field(
        ge=-(2**62),
        le=2**62,
        examples=[10],
        description=INTEGER_NOTE,
        json_schema_extra={"minimum": 1},
    ),
]
"""A count of shares: positive (the domain refuses others with its codes)."""
OrderShares = Annotated[Shares, Field(json_schema_extra={"minimum": 1, "maximum": MAX_QUANTITY})]
"""An order's quantity: a count of shares whose schema also shows the domain's maximum."""
ClientOrderId = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market"]
TimeInForce = Literal["GTC", "IOC", "FOK", "DAY"]
SelfTrade = Literal["reject_opposite", "cancel_newest", "cancel_oldest", "cancel_both", "decrement"]


class Strict(BaseModel):
    """Unknown fields are an error, and nothing is coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NewUser(Strict):
    """``POST /v1/users``."""

    username: Username


class UserCreated(BaseModel):
    """The new user and its API key (shown once; ``null`` when an idempotent replay)."""

    user_id: int
    username: str
    api_key: str | None
    position: int


class NewInstrument(Strict):
    """``POST /v1/instruments``."""

    symbol: Symbol
    tick_size: Decimal = "0.01"
    lot_size: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 1
    self_trade: SelfTrade = "reject_opposite"
    maker_fee_bps: Annotated[StrictInt, Field(ge=0, le=1000)] = 0
    taker_fee_bps: Annotated[StrictInt, Field(ge=0, le=1000)] = 0
    currency: Annotated[
        StrictStr, Field(max_length=8, json_schema_extra={"enum": sorted(CURRENCY_DIGITS)})
    ] = "USD"


class InstrumentListed(BaseModel):
    """A listed instrument."""

    symbol: str
    tick_size: str
    lot_size: int
    self_trade: str
    maker_fee_bps: int
    taker_fee_bps: int
    currency: str
    position: int


class Funding(Strict):
    """``POST /v1/deposits`` and ``/v1/withdrawals``: cash as a decimal string, shares as an int."""

    asset: Annotated[
        StrictStr,
        Field(
            min_length=1,
            max_length=16,
            examples=["USD"],
            json_schema_extra={"pattern": SYMBOL_PATTERN},
        ),
    ]
    amount: Annotated[Decimal | Shares, Field(examples=["1000.00", 10])]


class Funded(BaseModel):
    """Where the deposit or withdrawal landed."""

    asset: str
    amount: str | int
    position: int


class NewOrderRequest(Strict):
    """``POST /v1/orders`` (and each leg of a batch)."""

    symbol: Symbol
    side: Side
    type: OrderType = "limit"
    price: Decimal | None = None
    quantity: OrderShares
    time_in_force: TimeInForce | None = None
    post_only: StrictBool = False
    client_order_id: ClientOrderId | None = None


class OrderAccepted(BaseModel):
    """An accepted order (``200`` when ``client_order_id`` was seen before)."""

    order_id: int
    client_order_id: str | None
    status: Literal["accepted"]
    position: int
    event_id: str | None = Field(
        None,
        description="The id of the event the matching engine answers (the causation_id of the"
        " order events it writes in reply); absent from answers recorded before it existed.",
    )


class BatchRequest(Strict):
    """``POST /v1/orders/batch``."""

    orders: Annotated[
        list[NewOrderRequest], Field(max_length=1000, json_schema_extra={"minItems": 1})
    ]
    all_or_nothing: StrictBool = True


class BatchLeg(BaseModel):
    """One order of an accepted batch."""

    order_id: int
    client_order_id: str | None
    status: Literal["accepted"]


class BatchAccepted(BaseModel):
    """An accepted batch."""

    batch_id: int
    orders: list[BatchLeg]
    position: int
    event_id: str | None = Field(
        None,
        description="The id of the event the matching engine answers (the causation_id of the"
        " order events it writes in reply); absent from answers recorded before it existed.",
    )


class AmendRequest(Strict):
    """``PATCH /v1/orders/{order_id}``: the new *total* quantity and/or price."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    quantity: OrderShares | None = None
    price: Decimal | None = None


class CancelBatchRequest(Strict):
    """``POST /v1/orders/batch/cancel``."""

    order_ids: Annotated[
        list[Annotated[int, Field(ge=1, le=2**63 - 1)]], Field(min_length=1, max_length=1000)
    ]


class CancelLeg(BaseModel):
    """What became of one order of a batch cancel."""

    order_id: int
    status: Literal["cancel_requested", "not_open", "not_found"]


class CancelBatchRequested(BaseModel):
    """A batch cancel: the open orders' cancels handed to the engine."""

    orders: list[CancelLeg]
    position: int


class OrderChangeRequested(BaseModel):
    """A cancel or amend handed to the engine."""

    order_id: int
    status: Literal["cancel_requested", "amend_requested"]
    position: int
    event_id: str | None = Field(
        None,
        description="The id of the event the matching engine answers (the causation_id of the"
        " order events it writes in reply); absent from answers recorded before it existed.",
    )


class ProblemBody(BaseModel):
    """``application/problem+json``."""

    type: str
    title: str
    status: int
    detail: str
    code: str


class NewDemoUser(Strict):
    """``POST /v1/demo/users`` (dev and test stacks only)."""

    username: Username | None = None


class DemoOffer(BaseModel):
    """What a demo user receives: the demo symbol and the starting deposits."""

    symbol: str
    deposits: dict[str, str | int]


class DemoUserCreated(DemoOffer):
    """A demo user, its API key (shown once) and the position of its last deposit."""

    user_id: int
    username: str
    api_key: str
    position: int
