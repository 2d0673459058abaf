"""Authentication before the body: a write without a known key is refused unread.

FastAPI reads and parses a route's body before it runs the route's dependencies, so an
unauthenticated client could make the API read (up to the body limit) whatever it sends. This
pure-ASGI layer answers ``401`` for a request to an operation that needs a key (its OpenAPI
operation has ``security``: it depends on ``auth.py``'s bearer key) when it has no bearer key,
or a key that is neither the admin key nor a user's, before anything reads the body, and
closes the connection (the body is never read). Which key may do what (``403``) stays with the
routes' dependencies.
"""

from __future__ import annotations

import re
import secrets

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from command_api.auth import CHALLENGE, MAX_KEY_LENGTH
from command_api.errors import render_error
from command_api.services.admin import hash_key
from common.middleware import CLOSE
from common.problems import openapi_operations, problem_response

_UNAUTHORIZED_HEADERS = {**CHALLENGE, **CLOSE}


class AuthFirst:
    """Refuse requests to keyed routes without a known key before their body is read."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api
        self._keyed: list[tuple[str, re.Pattern[str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        try:
            detail = await self._refusal(scope)
        except Exception as exc:  # noqa: BLE001 - re-raised unless the app has a handler for it
            await render_error(self.api, scope, send, exc)  # (a store down: 503)
            return
        if detail is None:
            await self.app(scope, receive, send)
            return
        response = problem_response(401, "UNAUTHORIZED", detail, headers=_UNAUTHORIZED_HEADERS)
        await response(scope, receive, send)

    async def _refusal(self, scope: Scope) -> str | None:
        """Why the request is refused, or ``None`` to let it through."""
        key = _bearer_key(scope["headers"])
        if key is not None and self._known_cached(key):
            return None  # (the common request: no route match, no I/O)
        if not self._keyed_route(scope):
            return None  # a route without a key, 404 or 405: the router answers
        if key is None:
            return "Send 'Authorization: Bearer <api key>'."
        repo = getattr(self.api.state, "repo", None)
        if repo is None or await repo.user_of_key(hash_key(key)) is not None:
            return None
        return "Unknown API key."

    def _known_cached(self, key: str) -> bool:
        repo = getattr(self.api.state, "repo", None)
        if repo is not None and repo.cached_user_of_api_key(key) is not None:
            return True  # (a user's key: the common request)
        admin_key: str = self.api.state.settings.admin_key
        return secrets.compare_digest(key.encode(), admin_key.encode())

    def _keyed_route(self, scope: Scope) -> bool:
        """Whether the request is for an operation that needs a key."""
        if self._keyed is None:
            self._keyed = keyed_operations(self.api)
        method, path = scope["method"], scope["path"]
        return any(m == method and pattern.fullmatch(path) for m, pattern in self._keyed)


def keyed_operations(api: FastAPI) -> list[tuple[str, re.Pattern[str]]]:
    """``(method, path pattern)`` of every operation whose OpenAPI entry has ``security``."""
    return [(m, pattern) for m, pattern, op in openapi_operations(api) if op.get("security")]


def _bearer_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The bearer key of ``Authorization`` (``None`` if missing, not bearer or too long)."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            key = key.strip()
            if scheme.lower() != "bearer" or not key or len(key) > MAX_KEY_LENGTH:
                return None
            return key
    return None
