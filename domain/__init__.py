"""The pure core of the exchange: value objects, account rules, events and the matching engine.

Nothing in this package does I/O, reads a clock or the environment, or logs: commands come in
(with their time ``at`` in integer nanoseconds since the Unix epoch), events go out.
"""

from domain.account import Account, Balance, Hold
from domain.account_events import (
    FeesCollected,
    FeesNetted,
    FundsDeposited,
    FundsReleased,
    FundsReserved,
    FundsWithdrawn,
    TradeSettled,
)
from domain.commands import (
    AmendOrder,
    CancelOrder,
    Command,
    ExpireOrders,
    NewOrder,
    OrderType,
    Side,
    SubmitBatch,
    TimeInForce,
    cancel_order,
    new_order,
)
from domain.errors import (
    DomainError,
    ErrorCode,
    InsufficientFunds,
    InsufficientHoldings,
    InvalidAmount,
    InvalidInstrument,
    InvalidOrder,
    InvalidPrice,
    InvalidQuantity,
    OppositeSideOrderOpen,
    OrderNotOpen,
    UnknownAsset,
    UnknownSymbol,
)
from domain.events import Event, event_from_dict, event_types
from domain.instrument import Instrument, SelfTradeMode
from domain.matching import MatchingEngine, OrderBook
from domain.matching.book import OpenOrder
from domain.order_events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderReduced,
    TradeExecuted,
)
from domain.order_requests import (
    AmendRequested,
    BatchPlaced,
    CancelRequested,
    OrderPlaced,
    SessionClosed,
)
from domain.rejections import AmendRejected, BatchRejected, CancelRejected, OrderRejected
from domain.values import Money, Price, Quantity

__all__ = [
    "Account",
    "AmendOrder",
    "AmendRejected",
    "AmendRequested",
    "Balance",
    "BatchPlaced",
    "BatchRejected",
    "CancelOrder",
    "CancelRejected",
    "CancelRequested",
    "Command",
    "DomainError",
    "ErrorCode",
    "Event",
    "ExpireOrders",
    "FeesCollected",
    "FeesNetted",
    "FundsDeposited",
    "FundsReleased",
    "FundsReserved",
    "FundsWithdrawn",
    "Hold",
    "Instrument",
    "InsufficientFunds",
    "InsufficientHoldings",
    "InvalidAmount",
    "InvalidInstrument",
    "InvalidOrder",
    "InvalidPrice",
    "InvalidQuantity",
    "MatchingEngine",
    "Money",
    "NewOrder",
    "OpenOrder",
    "OppositeSideOrderOpen",
    "OrderAccepted",
    "OrderAmended",
    "OrderBook",
    "OrderCancelled",
    "OrderExpired",
    "OrderFilled",
    "OrderNotOpen",
    "OrderPlaced",
    "OrderReduced",
    "OrderRejected",
    "OrderType",
    "Price",
    "Quantity",
    "SelfTradeMode",
    "SessionClosed",
    "Side",
    "SubmitBatch",
    "TimeInForce",
    "TradeExecuted",
    "TradeSettled",
    "UnknownAsset",
    "UnknownSymbol",
    "cancel_order",
    "event_from_dict",
    "event_types",
    "new_order",
]
