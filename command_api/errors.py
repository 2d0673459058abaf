"""How the command API's typed errors become problem+json responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import exc as sa_exc

from common.problems import problem_response
from domain.errors import DomainError, ErrorCode
from event_store.errors import EventStoreClosed, EventStoreUnavailable

log = logging.getLogger(__name__)

_CONFLICTS = frozenset({ErrorCode.ORDER_NOT_OPEN})


def install_error_handlers(app: FastAPI) -> None:
    """Domain rule violations are ``422`` (``409`` for a closed order); a down store is ``503``."""

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> Response:
        status = 409 if exc.code in _CONFLICTS else 422
        title = "Order not open" if status == 409 else "Request rejected"
        return problem_response(status, str(exc.code), exc.message, title=title)

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
