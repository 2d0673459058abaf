"""``ExchangeClient``: every command and query route of the HTTP contract (shared/API.md).

One client holds one API key (or none, for the market reads); :meth:`ExchangeClient.as_user`
gives another key's client on the same connection pool. Read-your-writes: each command's
``position`` is remembered, and a query passes the highest one as ``min_position`` (when
``read_your_writes`` is on, the default), so a read never shows a state older than the
caller's own last write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Final, Literal, cast

from client.errors import Unavailable
from client.market import MarketSubscription
from client.models import (
    Account,
    BatchAccepted,
    Book,
    CancelBatchRequested,
    Candle,
    Funded,
    Instrument,
    LedgerEntry,
    Order,
    OrderAccepted,
    OrderChangeRequested,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Trade,
    UserCreated,
)
from client.transport import RetryPolicy, Transport

ENGINE_OUTCOMES: Final = frozenset(
    {
        "OrderAccepted", "OrderRejected", "OrderFilled", "OrderExpired", "OrderCancelled",
        "OrderReduced", "OrderAmended", "CancelRejected", "AmendRejected",
    }
)  # fmt: skip
"""Events only the matching engine appends to an order: one of them after a request's position
means the engine processed that request."""


def _answered(events: Sequence[OrderEvent], after: int, caused_by: str | None) -> bool:
    """Whether ``events`` hold the engine's answer: an event caused by ``caused_by``, or
    without it (an older server or caller) any engine event after position ``after``."""
    if caused_by is not None:
        return any(e.get("causation_id") == caused_by for e in events)
    return any(e["type"] in ENGINE_OUTCOMES and e["position"] > after for e in events)


class ExchangeClient:
    """An asyncio client of the command and query APIs (use ``async with``)."""

    def __init__(
        self,
        command_url: str,
        query_url: str,
        api_key: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        max_connections: int = 100,
        read_your_writes: bool = True,
        idempotency_keys: bool = True,
        transport: Transport | None = None,
    ) -> None:
        self.transport = transport or Transport(
            command_url, query_url, retry=retry, timeout_s=timeout_s,
            max_connections=max_connections, idempotency_keys=idempotency_keys,
        )  # fmt: skip
        self.api_key = api_key
        self.read_your_writes = read_your_writes
        self.written_position = 0
        """The highest store position this client's commands returned."""
        self.read_position: int | None = None
        """``X-Projection-Position`` of the last query."""

    @classmethod
    def through_nginx(cls, url: str, api_key: str | None = None, **options: Any) -> ExchangeClient:
        """A client of the stack behind nginx (``/api/command``, ``/api/query``)."""
        base = url.rstrip("/")
        return cls(f"{base}/api/command", f"{base}/api/query", api_key, **options)

    def as_user(self, api_key: str | None) -> ExchangeClient:
        """A client of another key on the same connections (its own written position)."""
        other = ExchangeClient(
            "", "", api_key, read_your_writes=self.read_your_writes, transport=self.transport
        )
        return other

    async def __aenter__(self) -> ExchangeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (every client sharing it)."""
        await self.transport.aclose()

    # ----------------------------------------------------------------- commands

    async def _command(
        self, method: str, path: str, body: Any = None, idempotency_key: str | None = None
    ) -> Any:
        answer = await self.transport.command(method, path, self.api_key, body, idempotency_key)
        position = answer.body.get("position") if isinstance(answer.body, dict) else None
        if isinstance(position, int) and position > self.written_position:
            self.written_position = position
        return answer.body

    async def create_user(
        self, username: str, *, idempotency_key: str | None = None
    ) -> UserCreated:
        """``POST /v1/users`` (admin): the new user and its API key (shown once)."""
        body = {"username": username}
        return cast(UserCreated, await self._command("POST", "/v1/users", body, idempotency_key))

    async def list_instrument(
        self,
        symbol: str,
        tick_size: str = "0.01",
        lot_size: int = 1,
        self_trade: str = "reject_opposite",
        *,
        maker_fee_bps: int = 0,
        taker_fee_bps: int = 0,
        currency: str = "USD",
        idempotency_key: str | None = None,
    ) -> Instrument:
        """``POST /v1/instruments`` (admin)."""
        body = {
            "symbol": symbol, "tick_size": tick_size, "lot_size": lot_size,
            "self_trade": self_trade, "maker_fee_bps": maker_fee_bps,
            "taker_fee_bps": taker_fee_bps, "currency": currency,
        }  # fmt: skip
        return cast(
            Instrument, await self._command("POST", "/v1/instruments", body, idempotency_key)
        )

    async def deposit(
        self, asset: str, amount: str | int, *, idempotency_key: str | None = None
    ) -> Funded:
        """``POST /v1/deposits``: cash as a decimal string, shares as an integer."""
        body = {"asset": asset, "amount": amount}
        return cast(Funded, await self._command("POST", "/v1/deposits", body, idempotency_key))

    async def withdraw(
        self, asset: str, amount: str | int, *, idempotency_key: str | None = None
    ) -> Funded:
        """``POST /v1/withdrawals`` (``Rejected`` ``INSUFFICIENT_FUNDS``/``_HOLDINGS``)."""
        body = {"asset": asset, "amount": amount}
        return cast(Funded, await self._command("POST", "/v1/withdrawals", body, idempotency_key))

    async def place_order(
        self, request: OrderRequest, *, idempotency_key: str | None = None
    ) -> OrderAccepted:
        """``POST /v1/orders`` (build ``request`` with :func:`client.order`)."""
        return cast(
            OrderAccepted, await self._command("POST", "/v1/orders", request, idempotency_key)
        )

    async def place_batch(
        self,
        orders: Sequence[OrderRequest],
        *,
        all_or_nothing: bool = True,
        idempotency_key: str | None = None,
    ) -> BatchAccepted:
        """``POST /v1/orders/batch`` (at most 1000 orders)."""
        body = {"orders": list(orders), "all_or_nothing": all_or_nothing}
        answer = await self._command("POST", "/v1/orders/batch", body, idempotency_key)
        return cast(BatchAccepted, answer)

    async def cancel_order(
        self, order_id: int, *, idempotency_key: str | None = None
    ) -> OrderChangeRequested:
        """``DELETE /v1/orders/{id}`` (``Conflict`` ``ORDER_NOT_OPEN`` once closed)."""
        path = f"/v1/orders/{order_id}"
        return cast(
            OrderChangeRequested, await self._command("DELETE", path, None, idempotency_key)
        )

    async def cancel_batch(
        self, order_ids: Sequence[int], *, idempotency_key: str | None = None
    ) -> CancelBatchRequested:
        """``POST /v1/orders/batch/cancel`` (at most 1000 ids; ``Conflict`` ``ORDER_NOT_OPEN``
        only when none of them is open)."""
        body = {"order_ids": list(order_ids)}
        answer = await self._command("POST", "/v1/orders/batch/cancel", body, idempotency_key)
        return cast(CancelBatchRequested, answer)

    async def amend_order(
        self,
        order_id: int,
        *,
        quantity: int | None = None,
        price: str | None = None,
        idempotency_key: str | None = None,
    ) -> OrderChangeRequested:
        """``PATCH /v1/orders/{id}``: the new *total* quantity and/or the new price."""
        body: dict[str, Any] = {}
        if quantity is not None:
            body["quantity"] = quantity
        if price is not None:
            body["price"] = price
        path = f"/v1/orders/{order_id}"
        return cast(OrderChangeRequested, await self._command("PATCH", path, body, idempotency_key))

    # ------------------------------------------------------------------ queries

    async def _query(self, path: str, min_position: int | None, **params: Any) -> Any:
        if min_position is None and self.read_your_writes and self.written_position:
            min_position = self.written_position
        answer = await self.transport.query(
            path, self.api_key, {**params, "min_position": min_position}
        )
        self.read_position = answer.projection_position
        return answer.body

    async def instruments(self, *, min_position: int | None = None) -> list[Instrument]:
        """``GET /v1/instruments``, by symbol."""
        return cast(list[Instrument], await self._query("/v1/instruments", min_position))

    async def book(self, symbol: str, depth: int = 10, *, min_position: int | None = None) -> Book:
        """``GET /v1/books/{symbol}``: bids descending, asks ascending."""
        return cast(Book, await self._query(f"/v1/books/{symbol}", min_position, depth=depth))

    async def book_orders(
        self, symbol: str, depth: int = 10, *, min_position: int | None = None
    ) -> dict[str, Any]:
        """``GET /v1/books/{symbol}/orders``: the L3 book (orders per level, time priority)."""
        path = f"/v1/books/{symbol}/orders"
        return cast(dict[str, Any], await self._query(path, min_position, depth=depth))

    async def trades(
        self,
        symbol: str,
        limit: int = 100,
        *,
        before: int | None = None,
        min_position: int | None = None,
    ) -> list[Trade]:
        """``GET /v1/trades/{symbol}``, newest first."""
        path = f"/v1/trades/{symbol}"
        return cast(list[Trade], await self._query(path, min_position, limit=limit, before=before))

    async def candles(
        self,
        symbol: str,
        interval: Literal["1m", "5m", "1h", "1d"] = "1m",
        limit: int = 100,
        *,
        before: int | None = None,
        min_position: int | None = None,
    ) -> list[Candle]:
        """``GET /v1/candles/{symbol}``, oldest first."""
        params = {"interval": interval, "limit": limit, "before": before}
        return cast(
            list[Candle], await self._query(f"/v1/candles/{symbol}", min_position, **params)
        )

    async def orders(
        self,
        *,
        status: OrderStatus | None = None,
        symbol: str | None = None,
        limit: int = 100,
        before: int | None = None,
        min_position: int | None = None,
    ) -> list[Order]:
        """``GET /v1/orders``: the caller's orders, newest first."""
        params = {"status": status, "symbol": symbol, "limit": limit, "before": before}
        return cast(list[Order], await self._query("/v1/orders", min_position, **params))

    async def order(self, order_id: int, *, min_position: int | None = None) -> Order:
        """``GET /v1/orders/{id}`` (``NotFound`` for another user's)."""
        return cast(Order, await self._query(f"/v1/orders/{order_id}", min_position))

    async def order_events(
        self,
        order_id: int,
        *,
        offset: int = 0,
        limit: int = 1000,
        min_position: int | None = None,
    ) -> list[OrderEvent]:
        """``GET /v1/orders/{id}/events``: the order's lifecycle, oldest first."""
        path = f"/v1/orders/{order_id}/events"
        params = {"offset": offset, "limit": limit}
        return cast(list[OrderEvent], await self._query(path, min_position, **params))

    async def account(self, *, min_position: int | None = None) -> Account:
        """``GET /v1/account``: balances (cash as decimal strings, shares as integers)."""
        return cast(Account, await self._query("/v1/account", min_position))

    async def ledger(
        self,
        limit: int = 100,
        *,
        before: int | None = None,
        asset: str | None = None,
        min_position: int | None = None,
    ) -> list[LedgerEntry]:
        """``GET /v1/account/ledger``, newest first."""
        params = {"limit": limit, "before": before, "asset": asset}
        return cast(
            list[LedgerEntry], await self._query("/v1/account/ledger", min_position, **params)
        )

    def subscribe(self, symbol: str, *, max_resubscribes: int = 100) -> MarketSubscription:
        """``WS /v1/ws/market/{symbol}`` as an async iterator of snapshots and updates; it
        resubscribes (a fresh snapshot) when ``seq`` skips or the socket drops."""
        url = self.transport.query_url.replace("http", "ws", 1) + f"/v1/ws/market/{symbol}"
        return MarketSubscription(url, symbol, max_resubscribes=max_resubscribes)

    # ----------------------------------------------------------------- helpers

    async def processed_order(
        self,
        order_id: int,
        min_position: int,
        *,
        caused_by: str | None = None,
        timeout_s: float = 30.0,
        poll_s: float = 0.005,
    ) -> list[OrderEvent]:
        """The order's lifecycle once the engine's answer to a request (a placement, cancel or
        amend, answered with ``min_position``) is visible in the query API. The end of an
        order's end-to-end path.

        ``caused_by`` is the request's ``event_id`` (from its answer): the wait ends on an event
        the engine wrote in reply to *that* request. Without it, any engine event after
        ``min_position`` ends it, which may be the answer to an earlier request (a fill of the
        placement landing after an amend's position, say)."""
        deadline = time.monotonic() + timeout_s
        while True:
            events = await self.order_events(order_id, min_position=min_position)
            if _answered(events, min_position, caused_by):
                return events
            if time.monotonic() > deadline:
                raise Unavailable(503, "NOT_PROCESSED", f"order {order_id} not processed yet")
            await asyncio.sleep(poll_s)

    async def order_after(
        self,
        order_id: int,
        position: int,
        *,
        caused_by: str | None = None,
        timeout_s: float = 60.0,
        poll_s: float = 0.01,
    ) -> Order:
        """The order once the query API shows the engine's answer to the request that placed,
        cancelled or amended it (answered with ``position``; ``caused_by``: its ``event_id``, as
        in :meth:`processed_order`). Cheaper than :meth:`processed_order`: one small document
        per poll, and the lifecycle only when a later event of the order hides the answer."""
        deadline = time.monotonic() + timeout_s
        while True:
            shown = await self.order(order_id, min_position=position)
            if caused_by is None and shown["position"] > position:
                return shown
            if caused_by is not None and shown.get("caused_by") == caused_by:
                return shown
            if caused_by is not None and shown["position"] > position:
                events = await self.order_events(order_id, min_position=shown["position"])
                if _answered(events, position, caused_by):
                    return shown
            if time.monotonic() > deadline:
                raise Unavailable(503, "NOT_PROCESSED", f"order {order_id} not processed yet")
            await asyncio.sleep(poll_s)

    async def health(self) -> dict[str, Any]:
        """Both APIs' ``/health`` (``{"command": …, "query": …}``)."""
        command = await self.transport.get(self.transport.command_url + "/health")
        query = await self.transport.get(self.transport.query_url + "/health")
        return {"command": command.body, "query": query.body}

    async def ready(self) -> dict[str, Any]:
        """Both APIs' ``/ready`` (``Unavailable`` naming the dependency that is down)."""
        command = await self.transport.get(self.transport.command_url + "/ready")
        query = await self.transport.get(self.transport.query_url + "/ready")
        return {"command": command.body, "query": query.body}
