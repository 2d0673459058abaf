"""What every write route shares: the ``Idempotency-Key`` header, the context, the rendering."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Final

import orjson
from fastapi import Header, Request
from fastapi.responses import Response
from pydantic import BaseModel

from command_api import idempotency
from command_api.idempotency import IdempotencyClaim, Outcome, Written
from command_api.schemas import ProblemBody
from command_api.services.base import Context

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Resending the same key and body returns the first response.",
    ),
]

STATUS_OF: Final[Mapping[Outcome, int]] = MappingProxyType(
    {Outcome.CREATED: 201, Outcome.ACCEPTED: 202, Outcome.ORIGINAL: 200}
)
"""The HTTP status of each outcome of a write (an idempotent replay reads it back from its record,
so these must stay distinct)."""

PROBLEM = {"model": ProblemBody, "content": {"application/problem+json": {}}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem+json statuses a route may give."""
    common = (400, 401, 413, 422, 503)
    return {s: {**PROBLEM, "description": "problem+json"} for s in sorted({*common, *statuses})}


def context(request: Request) -> Context:
    """The service context wired at startup."""
    ctx: Context = request.app.state.ctx
    return ctx


def claim_of(
    request: Request, scope: str, key: str | None, body: BaseModel | None = None
) -> IdempotencyClaim | None:
    """The request's idempotency claim, or ``None`` without the header (the common case)."""
    if key is None:
        return None
    dumped = None if body is None else body.model_dump(mode="json")
    return idempotency.claim(scope, key, request.method, request.url.path, dumped, STATUS_OF)


def render(written: Written) -> Response:
    """A JSON response from a use case's result, with the status of its outcome."""
    return Response(
        orjson.dumps(written.body), STATUS_OF[written.outcome], media_type="application/json"
    )
