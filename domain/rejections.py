"""Events of requests that changed nothing: the engine's rejections.

Each carries a ``reason`` (an ``ErrorCode`` value) and the ``at`` of the command that caused it:

* ``OrderRejected`` - a check only the engine can make failed; nothing about the book changed.
* ``CancelRejected`` / ``AmendRejected`` - a cancel or amend that changed nothing.
* ``BatchRejected`` - an all-or-nothing batch refused whole.

The events of orders that were taken live in :mod:`domain.order_events`.
"""

from __future__ import annotations

from typing import Final

from mypy_extensions import mypyc_attr

from domain.events import Event, register


@mypyc_attr(acyclic=True)
class Rejection(Event):
    """Base of the events that refuse a request about one order (``reason``: an ``ErrorCode``)."""

    __slots__ = ("at", "order_id", "reason", "symbol", "user_id")
    FIELDS = ("symbol", "order_id", "user_id", "reason", "at")

    def __init__(self, symbol: str, order_id: int, user_id: int, reason: str, at: int) -> None:
        self.symbol: Final = symbol
        self.order_id: Final = order_id
        self.user_id: Final = user_id
        self.reason: Final = reason
        self.at: Final = at


@mypyc_attr(acyclic=True)
class OrderRejected(Rejection):
    """The engine refused the order; nothing about the book changed."""

    __slots__ = ()


@mypyc_attr(acyclic=True)
class CancelRejected(Rejection):
    """A cancel changed nothing (usually ``ORDER_NOT_OPEN``)."""

    __slots__ = ()


@mypyc_attr(acyclic=True)
class AmendRejected(Rejection):
    """An amend changed nothing (``ORDER_NOT_OPEN``, ``INVALID_QUANTITY``, ...)."""

    __slots__ = ()


@mypyc_attr(acyclic=True)
class BatchRejected(Event):
    """An all-or-nothing batch was refused whole; each leg also gets an ``OrderRejected``."""

    __slots__ = ("at", "batch_id", "failed_order_id", "order_ids", "reason", "user_id")
    FIELDS = ("batch_id", "user_id", "order_ids", "reason", "failed_order_id", "at")
    TUPLE_FIELDS = frozenset({"order_ids"})

    def __init__(
        self,
        batch_id: int,
        user_id: int,
        order_ids: tuple[int, ...],
        reason: str,
        failed_order_id: int | None,
        at: int,
    ) -> None:
        self.batch_id: Final = batch_id
        self.user_id: Final = user_id
        self.order_ids: Final = order_ids
        self.reason: Final = reason
        self.failed_order_id: Final = failed_order_id
        self.at: Final = at


register(OrderRejected, CancelRejected, AmendRejected, BatchRejected)
