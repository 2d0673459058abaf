"""A typed asyncio client of the exchange's HTTP and WebSocket APIs (shared/API.md).

    async with ExchangeClient.through_nginx("http://127.0.0.1:8000", api_key) as exchange:
        placed = await exchange.place_order(order("ACME", "buy", 3, "101.25"))
        mine = await exchange.order(placed["order_id"])   # reads its own write

See ``client/README.md``.
"""

from client.api import ENGINE_OUTCOMES, ExchangeClient
from client.errors import (
    BadRequest,
    Conflict,
    ExchangeError,
    Forbidden,
    NotFound,
    Rejected,
    ServerError,
    TooManyRequests,
    TransportFailed,
    Unauthorized,
    Unavailable,
    UnexpectedResponse,
)
from client.market import MarketSubscription
from client.models import OrderRequest, order
from client.transport import NO_RETRY, RetryPolicy

__all__ = [
    "ENGINE_OUTCOMES",
    "NO_RETRY",
    "BadRequest",
    "Conflict",
    "ExchangeClient",
    "ExchangeError",
    "Forbidden",
    "MarketSubscription",
    "NotFound",
    "OrderRequest",
    "Rejected",
    "RetryPolicy",
    "ServerError",
    "TooManyRequests",
    "TransportFailed",
    "Unauthorized",
    "Unavailable",
    "UnexpectedResponse",
    "order",
]
