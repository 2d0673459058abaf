"""Order validation and the amend rule, kept apart from the hot matching loop."""

from __future__ import annotations

from domain.commands import AmendOrder, NewOrder
from domain.errors import ErrorCode
from domain.events import Event
from domain.matching.book import (
    MAX_PRICE,
    SIDES,
    OrderBook,
    RestingOrder,
    new_order,
)
from domain.matching.matcher import match
from domain.order_events import OrderAmended
from domain.rejections import AmendRejected

_LIMIT_TIFS = frozenset({"GTC", "IOC", "FOK", "DAY"})


def order_problem(book: OrderBook, command: NewOrder) -> ErrorCode | None:
    """Why the engine must reject ``command`` on its own terms, or ``None`` if it may proceed.

    Covers what a well-behaved command API already checked (so the engine stays safe on its
    own) plus what only the engine knows (a duplicate open order id, a DAY order after close).
    """
    quantity = command.quantity
    price = command.price
    tif = command.time_in_force
    post_only = command.post_only
    order_type = command.order_type
    side = command.side
    if type(quantity) is not int or quantity <= 0 or quantity % book.instrument.lot_size:
        return ErrorCode.INVALID_QUANTITY
    if side != "buy" and side != "sell":
        return ErrorCode.INVALID_ORDER
    if order_type == "limit":
        if type(price) is not int or not 0 < price <= MAX_PRICE:
            return ErrorCode.INVALID_PRICE
        if tif not in _LIMIT_TIFS or (post_only and tif != "GTC" and tif != "DAY"):
            return ErrorCode.INVALID_TIME_IN_FORCE
    elif order_type == "market":
        if price is not None:
            return ErrorCode.INVALID_PRICE
        if tif != "IOC" and tif != "FOK":
            return ErrorCode.INVALID_TIME_IN_FORCE
        if post_only:
            return ErrorCode.INVALID_ORDER
    else:
        return ErrorCode.INVALID_ORDER
    if tif == "DAY":
        expires_at = command.expires_at
        if type(expires_at) is not int:
            return ErrorCode.INVALID_TIME_IN_FORCE
        if expires_at <= command.at:
            return ErrorCode.SESSION_CLOSED
    if command.order_id in book.orders:
        return ErrorCode.DUPLICATE_ORDER_ID
    return None


def amend_order(book: OrderBook | None, command: AmendOrder, out: list[Event]) -> None:
    """Apply an amend: a pure reduction keeps priority, anything else re-enters the book."""
    symbol, order_id, user_id = command.symbol, command.order_id, command.user_id
    quantity, price, at = command.quantity, command.price, command.at
    order = book.orders.get(order_id) if book is not None else None
    if book is None or order is None or order.user_id != user_id:
        out.append(AmendRejected(symbol, order_id, user_id, ErrorCode.ORDER_NOT_OPEN, at))
        return
    new_price = order.price if price is None else price
    new_quantity = order.quantity if quantity is None else quantity
    problem = _amend_problem(book, order, new_price, new_quantity)
    if problem is not None:
        out.append(AmendRejected(symbol, order_id, user_id, problem, at))
        return
    if new_price == order.price and new_quantity <= order.quantity:
        cut = order.quantity - new_quantity
        side = book.sides[order.is_sell]
        side.levels[order.level_key].qty -= cut
        order.remaining -= cut
        order.quantity = new_quantity
        out.append(
            OrderAmended(
                symbol, order_id, user_id, new_price, new_quantity, order.remaining, True, at
            )
        )
        return
    _replace(book, order, new_price, new_quantity, at, out)


def _amend_problem(
    book: OrderBook, order: RestingOrder, new_price: object, new_quantity: object
) -> ErrorCode | None:
    if type(new_price) is not int or not 0 < new_price <= MAX_PRICE:
        return ErrorCode.INVALID_PRICE
    done = order.quantity - order.remaining  # filled or removed by self-trade prevention
    lot = book.instrument.lot_size
    if type(new_quantity) is not int or new_quantity <= done or new_quantity % lot:
        return ErrorCode.INVALID_QUANTITY
    if new_price == order.price:
        return None
    opposite = book.sides[1 - order.is_sell]
    crosses = bool(opposite.keys) and opposite.keys[-1] >= opposite.key(new_price)
    if order.post_only and crosses:
        return ErrorCode.POST_ONLY_WOULD_CROSS
    if opposite.has_user(order.user_id) and book.instrument.self_trade == "reject_opposite":
        return ErrorCode.OPPOSITE_SIDE_ORDER_OPEN
    return None


def _replace(
    book: OrderBook,
    order: RestingOrder,
    new_price: int,
    new_quantity: int,
    at: int,
    out: list[Event],
) -> None:
    """Take the order out and re-enter it as the newest at ``new_price`` (it may trade now)."""
    symbol, user_id, side = book.symbol, order.user_id, SIDES[order.is_sell]
    order_id = order.order_id
    remaining = new_quantity - (order.quantity - order.remaining)
    book.remove(order)
    out.append(
        OrderAmended(symbol, order_id, user_id, new_price, new_quantity, remaining, False, at)
    )
    opposite = book.opposite_of(side)
    threshold = opposite.key(new_price)
    filled = order.filled
    if opposite.keys and opposite.keys[-1] >= threshold:
        check_self = opposite.has_user(user_id)
        remaining, more = match(
            book,
            opposite,
            order_id,
            user_id,
            side,
            threshold,
            remaining,
            None,
            check_self,
            at,
            out,
        )
        filled += more
    if remaining:
        fresh = new_order(
            order_id,
            user_id,
            side,
            new_price,
            new_quantity,
            remaining,
            filled,
            bool(order.post_only),
            order.expires_at,
        )
        book.orders[order_id] = fresh
        book.side_of(side).add(fresh)
