"""RFC 9457 problem+json errors with a stable machine-readable ``code``."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"

_HTTP_CODES = {
    400: ("BAD_REQUEST", "Bad request"),
    401: ("UNAUTHORIZED", "Unauthorized"),
    403: ("FORBIDDEN", "Forbidden"),
    404: ("NOT_FOUND", "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    409: ("CONFLICT", "Conflict"),
    413: ("PAYLOAD_TOO_LARGE", "Payload too large"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"),
    422: ("VALIDATION_ERROR", "Validation error"),
    429: ("TOO_MANY_REQUESTS", "Too many requests"),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable"),
}


class Problem(Exception):
    """An error a client can act on; the edge renders it as problem+json."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or _HTTP_CODES.get(status, ("", "Error"))[1]
        self.headers = headers or {}
        self.extra = extra or {}


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """Render a problem+json response."""
    body = problem_body(status, code, detail, title=title, extra=extra)
    return Response(body, status, headers=headers, media_type=PROBLEM_JSON)


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """A problem+json document, encoded (the body of :func:`problem_response`)."""
    body: dict[str, Any] = {
        "type": f"https://exchange.local/problems/{code.lower().replace('_', '-')}",
        "title": title or _HTTP_CODES.get(status, ("", "Error"))[1],
        "status": status,
        "detail": detail,
        "code": code,
    }
    if extra:
        body.update(extra)
    return orjson.dumps(body)


def problem_of(exc: Problem) -> Response:
    """The response a raised :class:`Problem` stands for."""
    return problem_response(
        exc.status, exc.code, exc.detail, title=exc.title, headers=exc.headers, extra=exc.extra
    )


def openapi_operations(app: FastAPI) -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
    """``(METHOD, path pattern, operation)`` of every operation in the app's OpenAPI document."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        pattern = re.compile(re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(path)))
        found += [(method.upper(), pattern, op) for method, op in operations.items()]
    return found


def allowed_methods(app: FastAPI, path: str, given: str | None) -> str | None:
    """The ``Allow`` header of a ``405``: every method of the path's operations (the router's
    405 names only the first route's methods, e.g. ``DELETE`` without ``PATCH``)."""
    methods = {m for m, pattern, _ in openapi_operations(app) if pattern.fullmatch(path)}
    if given:
        methods.update(m.strip() for m in given.split(","))
    return ", ".join(sorted(methods)) or None


def _validation_detail(exc: RequestValidationError) -> tuple[int, str, str, list[Any]]:
    errors = list(exc.errors())
    if any(err.get("type") == "json_invalid" for err in errors):
        return 400, "MALFORMED_JSON", "The request body is not valid JSON.", []
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    clean = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in errors
    ]
    return 422, "VALIDATION_ERROR", "; ".join(parts) or "Invalid request.", clean


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error FastAPI can raise to problem+json; nothing a client sends gives 5xx."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> Response:
        return problem_of(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        status, code, detail, errors = _validation_detail(exc)
        return problem_response(status, code, detail, extra={"errors": errors} if errors else None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code, title = _HTTP_CODES.get(exc.status_code, ("HTTP_ERROR", "Error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allow = allowed_methods(request.app, request.url.path, headers.pop("Allow", None))
            if allow is not None:
                headers["Allow"] = allow
        return problem_response(exc.status_code, code, detail, title=title, headers=headers)
