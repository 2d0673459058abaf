"""Batches of orders, including all-or-nothing ones.

An all-or-nothing batch is decided before anything changes: every leg is validated and walked
against the book (later legs see what earlier legs would take, through ``claims``). If any leg
would not fill completely the batch is refused whole - ``BatchRejected`` plus one
``OrderRejected`` per leg (the failing leg with its own reason, the others ``BATCH_REJECTED``) -
and the book is untouched. Otherwise the legs are placed one after another and each fills
completely. All legs take the batch's ``at``.
"""

from __future__ import annotations

from collections.abc import Callable

from domain.commands import NewOrder, SubmitBatch
from domain.errors import ErrorCode
from domain.events import Event
from domain.matching.book import NO_LIMIT, OrderBook
from domain.matching.fillability import Claims, can_fill
from domain.matching.rules import order_problem
from domain.rejections import BatchRejected, OrderRejected

Problem = tuple[ErrorCode, int | None]


def execute_batch(
    books: dict[str, OrderBook],
    command: SubmitBatch,
    place: Callable[[NewOrder, list[Event]], None],
    out: list[Event],
) -> None:
    """Run ``command``'s legs through ``place``, atomically when it is all-or-nothing."""
    user_id, at = command.user_id, command.at
    legs: tuple[NewOrder, ...] = tuple(leg.replace(at=at) for leg in command.orders)
    problem: Problem | None = None
    if not legs:
        problem = (ErrorCode.EMPTY_BATCH, None)
    for leg in legs:
        if leg.user_id != user_id:
            problem = (ErrorCode.INVALID_ORDER, leg.order_id)
            break
    if problem is None and command.all_or_nothing:
        problem = _all_or_nothing_problem(books, legs, user_id)
    if problem is not None:
        _reject(command, legs, problem, out)
        return
    for leg in legs:
        place(leg, out)


def _all_or_nothing_problem(
    books: dict[str, OrderBook], legs: tuple[NewOrder, ...], user_id: int
) -> Problem | None:
    claims: Claims = {}
    seen: set[tuple[str, int]] = set()
    for leg in legs:
        book = books.get(leg.symbol)
        if book is None:
            return ErrorCode.UNKNOWN_SYMBOL, leg.order_id
        if (leg.symbol, leg.order_id) in seen:
            return ErrorCode.DUPLICATE_ORDER_ID, leg.order_id
        seen.add((leg.symbol, leg.order_id))
        problem = order_problem(book, leg)
        if problem is not None:
            return problem, leg.order_id
        if leg.post_only:  # a maker-only order can never fill at once
            return ErrorCode.INVALID_ORDER, leg.order_id
        opposite = book.opposite_of(leg.side)
        check_self = opposite.has_user(user_id)
        if check_self and book.instrument.self_trade == "reject_opposite":
            return ErrorCode.OPPOSITE_SIDE_ORDER_OPEN, leg.order_id
        threshold = NO_LIMIT if leg.price is None else opposite.key(leg.price)
        budget = leg.max_notional if leg.price is None and leg.side == "buy" else None
        if not can_fill(
            book, opposite, user_id, threshold, leg.quantity, budget, check_self, claims
        ):
            return ErrorCode.BATCH_NOT_FILLABLE, leg.order_id
    return None


def _reject(
    command: SubmitBatch, legs: tuple[NewOrder, ...], problem: Problem, out: list[Event]
) -> None:
    reason, failed = problem
    order_ids = tuple(leg.order_id for leg in legs)
    out.append(
        BatchRejected(command.batch_id, command.user_id, order_ids, reason, failed, command.at)
    )
    for leg in legs:
        leg_reason = reason if leg.order_id == failed else ErrorCode.BATCH_REJECTED
        out.append(OrderRejected(leg.symbol, leg.order_id, leg.user_id, leg_reason, command.at))
