"""``GET /v1/demo`` and ``POST /v1/demo/users``: demo users with deposits (dev and test only).

The web UI creates a demo user with this instead of holding the admin key. ``create_app``
mounts the router only when :func:`demo_enabled` says the stack is a dev or test stack
(``EXCHANGE_ENV``), so elsewhere both paths answer ``404 NOT_FOUND`` and are absent from the
OpenAPI document.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from command_api.routes.common import context, problems, render
from command_api.schemas import DemoOffer, DemoUserCreated, NewDemoUser
from command_api.services import demo
from common.deployment import LOCAL_ENVS
from common.settings import CommandApiSettings

router = APIRouter(prefix="/v1/demo", tags=["demo (dev and test stacks only)"])


def demo_enabled(settings: CommandApiSettings) -> bool:
    """Demo users exist only on the local dev and test stacks (never in ``production``)."""
    return settings.env in LOCAL_ENVS


@router.get("", response_model=DemoOffer, summary="What a demo user receives")
async def demo_offer() -> DemoOffer:
    """Present (``200``) only where demo users can be created."""
    return DemoOffer.model_validate(demo.offer())


@router.post(
    "/users",
    status_code=201,
    response_model=DemoUserCreated,
    responses=problems(409),
    summary="Create a user with starting deposits (no key needed)",
)
async def create_demo_user(request: Request, body: NewDemoUser | None = None) -> Response:
    """Lists the demo symbol if needed, registers the user and deposits cash and shares;
    ``409 USERNAME_TAKEN`` for a name in use."""
    username = body.username if body is not None else None
    return render(await demo.create_demo_user(context(request), username))
