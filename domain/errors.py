"""Typed domain errors with stable, machine-readable codes.

Every rule the domain enforces fails with a :class:`DomainError` whose ``code`` is one of the
UPPER_SNAKE strings of :class:`ErrorCode`. The HTTP edge maps ``code`` straight into the
``code`` field of its problem+json body, so the strings are part of the public contract
(see ``shared/API.md``) and must never change meaning.

The same codes appear as the ``reason`` of engine events (``OrderRejected``,
``CancelRejected``, ...), for checks that only the engine can make.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable reason codes shared by exceptions and rejection events."""

    INVALID_PRICE = "INVALID_PRICE"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    INVALID_ORDER = "INVALID_ORDER"
    INVALID_TIME_IN_FORCE = "INVALID_TIME_IN_FORCE"
    INVALID_INSTRUMENT = "INVALID_INSTRUMENT"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    UNKNOWN_ASSET = "UNKNOWN_ASSET"
    DUPLICATE_SYMBOL = "DUPLICATE_SYMBOL"
    DUPLICATE_ORDER_ID = "DUPLICATE_ORDER_ID"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    INSUFFICIENT_HOLDINGS = "INSUFFICIENT_HOLDINGS"
    OPPOSITE_SIDE_ORDER_OPEN = "OPPOSITE_SIDE_ORDER_OPEN"
    ORDER_NOT_OPEN = "ORDER_NOT_OPEN"
    POST_ONLY_WOULD_CROSS = "POST_ONLY_WOULD_CROSS"
    SESSION_CLOSED = "SESSION_CLOSED"
    BATCH_NOT_FILLABLE = "BATCH_NOT_FILLABLE"
    BATCH_REJECTED = "BATCH_REJECTED"
    EMPTY_BATCH = "EMPTY_BATCH"
    BATCH_SPANS_SHARDS = "BATCH_SPANS_SHARDS"


class DomainError(Exception):
    """A rule of the exchange was broken; ``code`` says which one (an :class:`ErrorCode`)."""

    code: ErrorCode = ErrorCode.INVALID_ORDER

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}: {self.message})"


class InvalidPrice(DomainError):
    """A price is malformed, not positive, a float, or off the instrument's tick."""

    code = ErrorCode.INVALID_PRICE


class InvalidQuantity(DomainError):
    """A quantity is not a positive integer multiple of the lot size."""

    code = ErrorCode.INVALID_QUANTITY


class InvalidAmount(DomainError):
    """A cash amount is malformed, not positive, or finer than the currency's minor unit."""

    code = ErrorCode.INVALID_AMOUNT


class InvalidOrder(DomainError):
    """An order's combination of type, time in force and flags is not allowed."""

    code = ErrorCode.INVALID_ORDER


class InvalidInstrument(DomainError):
    """An instrument definition is invalid (symbol, tick size, lot size, mode, fees)."""

    code = ErrorCode.INVALID_INSTRUMENT


class UnknownSymbol(DomainError):
    """No instrument is listed under the symbol."""

    code = ErrorCode.UNKNOWN_SYMBOL


class UnknownAsset(DomainError):
    """The asset is neither a settlement currency nor a listed symbol."""

    code = ErrorCode.UNKNOWN_ASSET


class InsufficientFunds(DomainError):
    """The account's available cash does not cover the request."""

    code = ErrorCode.INSUFFICIENT_FUNDS


class InsufficientHoldings(DomainError):
    """The account's available shares do not cover the request."""

    code = ErrorCode.INSUFFICIENT_HOLDINGS


class OppositeSideOrderOpen(DomainError):
    """The user already has an open order on the other side of this symbol."""

    code = ErrorCode.OPPOSITE_SIDE_ORDER_OPEN


class OrderNotOpen(DomainError):
    """The order is unknown, not the caller's, or already filled, cancelled or expired."""

    code = ErrorCode.ORDER_NOT_OPEN


class BatchSpansShards(DomainError):
    """A batch's symbols belong to different engine shards (partitions of the orders topic).

    The engine receives a batch as one command on one shard, so every leg must be on it.
    """

    code = ErrorCode.BATCH_SPANS_SHARDS
