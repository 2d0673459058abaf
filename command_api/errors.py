"""How the use cases' errors become problem+json responses: the only place that picks their
HTTP status."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import exc as sa_exc
from starlette.types import Message, Scope, Send

from command_api.services.errors import (
    ApplicationError,
    ConflictRetryExhausted,
    DuplicateClientOrderId,
    DuplicateSymbol,
    IdempotencyKeyReused,
    NotFound,
    UsernameTaken,
)
from common.problems import problem_response
from domain.errors import DomainError, ErrorCode
from event_store.errors import EventStoreClosed, EventStoreUnavailable

log = logging.getLogger(__name__)

_CONFLICTS = frozenset({ErrorCode.ORDER_NOT_OPEN})

APPLICATION_STATUS: Final[Mapping[type[ApplicationError], int]] = MappingProxyType(
    {
        NotFound: 404,
        UsernameTaken: 409,
        DuplicateSymbol: 409,
        DuplicateClientOrderId: 409,
        IdempotencyKeyReused: 409,
        ConflictRetryExhausted: 503,
    }
)
"""The status of each application error (every subclass of ``ApplicationError`` has one)."""

_APPLICATION_HEADERS: Final[Mapping[type[ApplicationError], dict[str, str]]] = MappingProxyType(
    {ConflictRetryExhausted: {"Retry-After": "1"}}
)


def domain_error_status(exc: DomainError) -> int:
    """A broken rule is ``422``; ``409`` for an order that is no longer open."""
    return 409 if exc.code in _CONFLICTS else 422


def application_error_status(exc: ApplicationError) -> int:
    """The status of an application error (of its nearest listed class)."""
    for cls in type(exc).__mro__:
        status = APPLICATION_STATUS.get(cls)
        if status is not None:
            return status
    raise LookupError(f"no HTTP status is set for {type(exc).__name__}")


async def render_error(api: FastAPI, scope: Scope, send: Send, exc: Exception) -> None:
    """Answer ``exc`` with the app's exception handler for it, as FastAPI would (for the pure
    ASGI layers in front of it); re-raised if the app has none."""
    handlers: dict[Any, Any] = api.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            response = await handler(Request(scope), exc)
            await response(scope, _no_body, send)
            return
    raise exc


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def install_error_handlers(app: FastAPI) -> None:
    """Domain and application errors become problem+json; a down store is ``503``."""

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> Response:
        status = domain_error_status(exc)
        title = "Order not open" if status == 409 else "Request rejected"
        return problem_response(status, str(exc.code), exc.message, title=title)

    @app.exception_handler(ApplicationError)
    async def _application(_: Request, exc: ApplicationError) -> Response:
        headers = _APPLICATION_HEADERS.get(type(exc))
        return problem_response(
            application_error_status(exc), exc.code, exc.message, headers=headers
        )

    # The store's reads may surface SQLAlchemy's wrappers of a lost connection or a full pool.
    @app.exception_handler(EventStoreUnavailable)
    @app.exception_handler(EventStoreClosed)
    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    @app.exception_handler(sa_exc.TimeoutError)
    async def _unavailable(_: Request, exc: Exception) -> Response:
        log.warning("event store unavailable", extra={"error": str(exc)})
        return problem_response(
            503,
            "SERVICE_UNAVAILABLE",
            "The event store (MariaDB) is unavailable; retry shortly.",
            headers={"Retry-After": "2"},
        )
