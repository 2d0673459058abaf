"""``POST /v1/users`` and ``POST /v1/instruments`` (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from command_api.auth import AdminOnly
from command_api.routes.common import IdempotencyKey, claim_of, context, problems, render
from command_api.schemas import InstrumentListed, NewInstrument, NewUser, UserCreated
from command_api.services import admin

router = APIRouter(prefix="/v1", tags=["admin"], dependencies=[AdminOnly])


@router.post(
    "/users",
    status_code=201,
    response_model=UserCreated,
    responses=problems(403, 409),
    summary="Create a user and its API key (shown once)",
)
async def create_user(body: NewUser, request: Request, key: IdempotencyKey = None) -> Response:
    """``409 USERNAME_TAKEN`` when the username (case-insensitive) is in use."""
    claim = claim_of(request, "admin", key, body)
    return render(await admin.register_user(context(request), body.username, claim))


@router.post(
    "/instruments",
    status_code=201,
    response_model=InstrumentListed,
    responses=problems(403, 409),
    summary="List an instrument",
)
async def create_instrument(
    body: NewInstrument, request: Request, key: IdempotencyKey = None
) -> Response:
    """``409 DUPLICATE_SYMBOL`` when the symbol is listed; ``422 INVALID_INSTRUMENT`` if bad."""
    claim = claim_of(request, "admin", key, body)
    written = await admin.list_instrument(
        context(request),
        body.symbol,
        body.tick_size,
        body.lot_size,
        body.self_trade,
        (body.maker_fee_bps, body.taker_fee_bps),
        body.currency,
        claim,
    )
    return render(written)
