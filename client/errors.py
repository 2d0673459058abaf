"""problem+json answers as typed exceptions: one class per family, each with the stable ``code``.

Catch the family (``except Rejected``) and branch on ``.code`` (``"INSUFFICIENT_FUNDS"``) when
it matters; :func:`error_for` picks the class from the HTTP status.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final


class ExchangeError(Exception):
    """An answer the exchange gave instead of a success.

    ``code`` is the problem's stable UPPER_SNAKE code, ``status`` the HTTP status, ``detail``
    the human sentence; ``body`` holds every field of the problem (``min_position``, ``errors``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        body: Mapping[str, Any] | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.body: Mapping[str, Any] = body or {}
        self.retry_after_s = retry_after_s


class BadRequest(ExchangeError):
    """``400``/``405``/``413``/``415``: the request itself is malformed (JSON, size, type)."""


class Unauthorized(ExchangeError):
    """``401``: no API key, or one the exchange does not know."""


class Forbidden(ExchangeError):
    """``403``: the key may not do this (a user on an admin route, the admin on an account)."""


class NotFound(ExchangeError):
    """``404``: no such order (or not yours), no such symbol (``UNKNOWN_SYMBOL``)."""


class Conflict(ExchangeError):
    """``409``: ``ORDER_NOT_OPEN``, ``USERNAME_TAKEN``, ``DUPLICATE_SYMBOL``,
    ``IDEMPOTENCY_KEY_REUSED``, ..."""


class Rejected(ExchangeError):
    """``422``: a rule refused the command (``INSUFFICIENT_FUNDS``, ``INVALID_PRICE``, ...);
    nothing was appended."""


class TooManyRequests(ExchangeError):
    """``429``: slow down (retried by the client, honouring ``Retry-After``)."""


class Unavailable(ExchangeError):
    """``502``/``503``/``504``: a dependency is down, the service sheds load, or the read side
    has not reached ``min_position`` yet (``PROJECTION_BEHIND``); retried by the client."""


class ServerError(ExchangeError):
    """Any other ``5xx``: a fault of the exchange (never expected)."""


class UnexpectedResponse(ExchangeError):
    """A status the contract does not name for this route (``code`` is ``UNEXPECTED``)."""


class TransportFailed(ExchangeError):
    """The exchange could not be reached (after the retries): ``status`` 0, ``code``
    ``TRANSPORT``."""


FAMILIES: Final[Mapping[int, type[ExchangeError]]] = MappingProxyType(
    {
        400: BadRequest,
        401: Unauthorized,
        403: Forbidden,
        404: NotFound,
        405: BadRequest,
        409: Conflict,
        413: BadRequest,
        415: BadRequest,
        422: Rejected,
        429: TooManyRequests,
        502: Unavailable,
        503: Unavailable,
        504: Unavailable,
    }
)

RETRYABLE: Final = frozenset({429, 502, 503, 504})
"""Statuses worth sending again (a command with the same ``Idempotency-Key``)."""


def error_for(
    status: int, body: Mapping[str, Any] | None, retry_after_s: float | None
) -> ExchangeError:
    """The exception for a failed response (``body``: its problem+json, if it had one)."""
    body = body or {}
    cls = FAMILIES.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else UnexpectedResponse
    code = str(body.get("code") or f"HTTP_{status}")
    detail = str(body.get("detail") or body.get("title") or f"HTTP {status}")
    return cls(status, code, detail, body=body, retry_after_s=retry_after_s)
