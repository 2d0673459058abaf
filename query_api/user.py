"""A user's routes: orders, an order's lifecycle, the account and its ledger."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from common.problems import Problem
from projections import user_reads
from query_api.deps import CurrentUser, Models, Reflected
from query_api.market import json_response

router = APIRouter(prefix="/v1", tags=["user"])

PROBLEMS: Final[dict[int | str, dict[str, Any]]] = {
    s: {"description": "problem+json", "content": {"application/problem+json": {}}}
    for s in (401, 403, 404, 422, 503)
}
Status = Literal["accepted", "partially_filled", "filled", "cancelled", "expired", "rejected"]
OrderId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _not_found(order_id: int) -> Problem:
    return Problem(404, "NOT_FOUND", f"You have no order {order_id}.")


@router.get("/orders", summary="Your orders, newest first", responses=PROBLEMS)
async def orders(
    position: Reflected,
    user_id: CurrentUser,
    found: Models,
    status: Status | None = None,
    symbol: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, description="Page below this order id.")] = None,
) -> Response:
    """Orders as ``GET /v1/orders/{order_id}`` shows them, filtered by status and/or symbol."""
    return json_response(await user_reads.orders(found, user_id, status, symbol, limit, before))


@router.get("/orders/{order_id}", summary="One of your orders", responses=PROBLEMS)
async def order(
    position: Reflected, user_id: CurrentUser, found: Models, order_id: OrderId
) -> Response:
    """``{"order_id","client_order_id","symbol","side","type","time_in_force","price",
    "quantity","filled_quantity","remaining_quantity","avg_fill_price","status","reason",
    "created_at","updated_at","position","caused_by"}`` (``position``: the order's last event;
    ``caused_by``: the ``causation_id`` of its latest engine event, the ``event_id`` of the request
    or input it answered)."""
    shown = await user_reads.order(found, user_id, order_id)
    if shown is None:
        raise _not_found(order_id)
    return json_response(shown)


@router.get("/orders/{order_id}/events", summary="An order's lifecycle", responses=PROBLEMS)
async def order_events(
    position: Reflected,
    user_id: CurrentUser,
    found: Models,
    order_id: OrderId,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> Response:
    """Every event of the order's stream, oldest first:
    ``[{"position","type","at","data","causation_id"}]`` (prices in ``data`` as decimal strings,
    times ISO 8601; ``causation_id``: the id of the input an engine event answers, else null)."""
    state = await user_reads.order_state(found, user_id, order_id)
    instrument = await found.instrument(state["symbol"]) if state is not None else None
    if state is None or instrument is None:
        raise _not_found(order_id)
    return json_response(await user_reads.order_events(found, instrument, state, offset, limit))


@router.get("/account", summary="Your balances", responses=PROBLEMS)
async def account(
    request: Request, position: Reflected, user_id: CurrentUser, found: Models
) -> Response:
    """``{"user_id","balances":{"USD":{"total","available","held"},"ACME":{…}},"position",
    "account_position"}``: cash as decimal strings, shares as integers."""
    shown = await user_reads.account(found, user_id)
    request.state.projection_position = shown["position"]  # (read with the balances)
    return json_response(shown)


@router.get("/account/ledger", summary="Your ledger, newest first", responses=PROBLEMS)
async def ledger(
    position: Reflected,
    user_id: CurrentUser,
    found: Models,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, description="Page below this position.")] = None,
    asset: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
) -> Response:
    """One entry per change of a balance: ``[{"position","asset","delta","balance_after",
    "kind","ref","at"}]`` (``kind``: deposit, withdrawal, trade, fee; ``ref``: the cause)."""
    return json_response(await user_reads.ledger(found, user_id, limit, before, asset))
