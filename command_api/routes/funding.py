"""``POST /v1/deposits`` and ``POST /v1/withdrawals``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from command_api.auth import CurrentUser
from command_api.routes.common import IdempotencyKey, claim_of, context, problems, render
from command_api.schemas import Funded, Funding
from command_api.services import funding

router = APIRouter(prefix="/v1", tags=["funding"])


@router.post(
    "/deposits",
    status_code=201,
    response_model=Funded,
    responses=problems(403, 409),
    summary="Deposit cash or shares",
)
async def deposit(
    body: Funding, request: Request, user_id: CurrentUser, key: IdempotencyKey = None
) -> Response:
    """Cash amounts are decimal strings (``"1000.00"``), shares integers."""
    claim = claim_of(request, str(user_id), key, body)
    return render(await funding.deposit(context(request), user_id, body.asset, body.amount, claim))


@router.post(
    "/withdrawals",
    status_code=201,
    response_model=Funded,
    responses=problems(403, 409),
    summary="Withdraw available cash or shares",
)
async def withdraw(
    body: Funding, request: Request, user_id: CurrentUser, key: IdempotencyKey = None
) -> Response:
    """``422 INSUFFICIENT_FUNDS`` / ``INSUFFICIENT_HOLDINGS`` above the available balance."""
    claim = claim_of(request, str(user_id), key, body)
    written = await funding.withdraw(context(request), user_id, body.asset, body.amount, claim)
    return render(written)
