"""Bearer API keys: the admin key from the settings, user keys looked up by their sha256."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from command_api.services.admin import hash_key
from common.problems import Problem

_bearer = HTTPBearer(auto_error=False, description="An API key: the admin key or a user's key.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

CHALLENGE = {"WWW-Authenticate": "Bearer"}
MAX_KEY_LENGTH = 256


def _key(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise Problem(
            401, "UNAUTHORIZED", "Send 'Authorization: Bearer <api key>'.", headers=CHALLENGE
        )
    key = credentials.credentials
    if len(key) > MAX_KEY_LENGTH:
        raise Problem(401, "UNAUTHORIZED", "Unknown API key.", headers=CHALLENGE)
    return key


def _is_admin(request: Request, key: str) -> bool:
    admin_key: str = request.app.state.settings.admin_key
    return secrets.compare_digest(key.encode(), admin_key.encode())


async def require_admin(request: Request, credentials: Credentials) -> None:
    """Only the admin key passes (``401`` without a key, ``403`` with a user's key)."""
    key = _key(credentials)
    if _is_admin(request, key):
        return
    if await request.app.state.repo.user_of_key(hash_key(key)) is None:
        raise Problem(401, "UNAUTHORIZED", "Unknown API key.", headers=CHALLENGE)
    raise Problem(403, "FORBIDDEN", "This operation needs the admin key.")


async def current_user(request: Request, credentials: Credentials) -> int:
    """The user id of the caller's key (``401`` if unknown, ``403`` for the admin key)."""
    key = _key(credentials)
    user_id: int | None = await request.app.state.repo.user_of_key(hash_key(key))
    if user_id is not None:
        return user_id
    if _is_admin(request, key):
        raise Problem(403, "FORBIDDEN", "The admin key has no account; use a user's key.")
    raise Problem(401, "UNAUTHORIZED", "Unknown API key.", headers=CHALLENGE)


CurrentUser = Annotated[int, Depends(current_user)]
AdminOnly = Depends(require_admin)
