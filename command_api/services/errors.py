"""The application's errors: what a use case refuses beyond the domain's rules.

The domain's rules fail with ``domain.errors.DomainError``; these are the use cases' own
refusals (something does not exist, a name or id is taken, a key was reused, the store kept
conflicting). Each has a stable UPPER_SNAKE ``code``; the HTTP edge (``command_api/errors.py``)
picks the status and renders problem+json, so nothing here speaks HTTP.
"""

from __future__ import annotations

from typing import ClassVar

from domain.errors import ErrorCode


class ApplicationError(Exception):
    """A use case refused a request; ``code`` says why (part of the public contract)."""

    code: ClassVar[str]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}: {self.message})"


class NotFound(ApplicationError):
    """The thing does not exist, or is not the caller's (the two are not told apart)."""

    code = "NOT_FOUND"


class UsernameTaken(ApplicationError):
    """Another user has this username (compared case-insensitively)."""

    code = "USERNAME_TAKEN"


class DuplicateSymbol(ApplicationError):
    """An instrument is listed under this symbol already."""

    code = ErrorCode.DUPLICATE_SYMBOL.value


class DuplicateClientOrderId(ApplicationError):
    """A batch leg reuses a ``client_order_id`` that names an order already."""

    code = "DUPLICATE_CLIENT_ORDER_ID"


class IdempotencyKeyReused(ApplicationError):
    """The ``Idempotency-Key`` was used before for a different request."""

    code = "IDEMPOTENCY_KEY_REUSED"


class ConflictRetryExhausted(ApplicationError):
    """Concurrent writes to the same streams kept winning; the caller may retry shortly."""

    code = "CONFLICT_RETRY_EXHAUSTED"
