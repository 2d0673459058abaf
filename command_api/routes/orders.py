"""``POST /v1/orders``, ``POST /v1/orders/batch`` (and ``/batch/cancel``), ``DELETE`` and
``PATCH /v1/orders/{id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from command_api.auth import CurrentUser
from command_api.routes.common import IdempotencyKey, claim_of, context, problems, render
from command_api.schemas import (
    AmendRequest,
    BatchAccepted,
    BatchRequest,
    CancelBatchRequest,
    CancelBatchRequested,
    NewOrderRequest,
    OrderAccepted,
    OrderChangeRequested,
)
from command_api.services import order_changes, orders
from command_api.services.order_rules import OrderTerms

router = APIRouter(prefix="/v1/orders", tags=["orders"])

OrderId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def terms(order: NewOrderRequest) -> OrderTerms:
    """The use case's view of an order request."""
    return OrderTerms(
        order.symbol,
        order.side,
        order.type,
        order.price,
        order.quantity,
        order.time_in_force,
        order.post_only,
        order.client_order_id,
    )


@router.post(
    "",
    status_code=201,
    response_model=OrderAccepted,
    responses={
        200: {"model": OrderAccepted, "description": "The original order of this client_order_id"},
        **problems(403, 409),
    },
    summary="Place an order",
)
async def place_order(
    body: NewOrderRequest, request: Request, user_id: CurrentUser, key: IdempotencyKey = None
) -> Response:
    """Checks, reserves and appends the order in one transaction."""
    claim = claim_of(request, str(user_id), key, body)
    return render(await orders.place_order(context(request), user_id, terms(body), claim))


@router.post(
    "/batch",
    status_code=201,
    response_model=BatchAccepted,
    responses=problems(403, 409),
    summary="Place several orders at once",
)
async def place_batch(
    body: BatchRequest, request: Request, user_id: CurrentUser, key: IdempotencyKey = None
) -> Response:
    """Every leg is checked and reserved, or nothing is appended."""
    claim = claim_of(request, str(user_id), key, body)
    legs = [terms(order) for order in body.orders]
    written = await orders.place_batch(context(request), user_id, legs, body.all_or_nothing, claim)
    return render(written)


@router.post(
    "/batch/cancel",
    status_code=202,
    response_model=CancelBatchRequested,
    responses=problems(403, 409),
    summary="Cancel several open orders at once",
)
async def cancel_batch(
    body: CancelBatchRequest, request: Request, user_id: CurrentUser, key: IdempotencyKey = None
) -> Response:
    """One answer per id (``cancel_requested``, ``not_open``, ``not_found``); ``409
    ORDER_NOT_OPEN`` only when none of them is open."""
    claim = claim_of(request, str(user_id), key, body)
    written = await order_changes.cancel_orders(context(request), user_id, body.order_ids, claim)
    return render(written)


@router.delete(
    "/{order_id}",
    status_code=202,
    response_model=OrderChangeRequested,
    responses=problems(403, 404, 409),
    summary="Cancel an open order",
)
async def cancel_order(
    order_id: OrderId, request: Request, user_id: CurrentUser, key: IdempotencyKey = None
) -> Response:
    """``404`` for an unknown order or another user's; ``409 ORDER_NOT_OPEN`` once closed."""
    claim = claim_of(request, str(user_id), key)
    return render(await order_changes.cancel_order(context(request), user_id, order_id, claim))


@router.patch(
    "/{order_id}",
    status_code=202,
    response_model=OrderChangeRequested,
    responses=problems(403, 404, 409),
    summary="Change an open order's total quantity and/or price",
)
async def amend_order(
    order_id: OrderId,
    body: AmendRequest,
    request: Request,
    user_id: CurrentUser,
    key: IdempotencyKey = None,
) -> Response:
    """Reducing the quantity keeps time priority; the new total must exceed what filled."""
    claim = claim_of(request, str(user_id), key, body)
    written = await order_changes.amend_order(
        context(request), user_id, order_id, body.quantity, body.price, claim
    )
    return render(written)
