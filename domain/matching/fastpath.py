"""Fast paths for the two commonest commands, tried by the engine before its general handlers.

Profiling the standard workload (valgrind instruction counts) showed that most of the cost of a
command is interpreter overhead: calls, frames, attribute lookups, generic dispatch. So the
engine hands these two cases to one short function each, with everything it touches in local
variables, then the book's own updates (``BookSide.add`` / ``BookSide.discard``):

* a valid limit GTC order that does not cross and whose user has no order on the other side
  (it is accepted and rests), and
* a cancel of an open order by its owner.

Each returns ``False`` without changing anything when the command is not its case; the engine's
ordinary handlers - the reference implementation - then take it (crossing orders, market, IOC,
FOK and DAY orders, rejections, amends, batches, due DAY expiries).
The fast paths must produce exactly what those handlers would; the property tests compare the
two on random command streams.
"""

from __future__ import annotations

from typing import Any

from domain.commands import CancelOrder, NewOrder
from domain.events import Event
from domain.matching.book import MAX_PRICE, OrderBook, RestingOrder
from domain.order_events import CANCELLED_BY_USER, OrderAccepted, OrderCancelled


def rest_plain_limit(books: dict[str, OrderBook], command: NewOrder, out: list[Event]) -> bool:
    """Accept and rest a valid GTC limit that cannot trade now; ``False`` if it is not one."""
    book = books.get(command.symbol)
    if book is None or command.time_in_force != "GTC" or command.order_type != "limit":
        return False
    # Values that serve as dict keys or event fields are kept as the command's int objects
    # (typed Any): in the mypyc build an unboxed int is boxed anew, an allocation, at each use.
    # (The type test reads the field again: narrowing ``boxed_price`` itself to ``int`` would
    # make the mypyc build unbox it and box it anew for the event.)
    if type(command.price) is not int or type(command.quantity) is not int:
        return False
    boxed_price: Any = command.price
    price: int = boxed_price
    quantity: int = command.quantity
    if price <= 0 or price > MAX_PRICE or quantity <= 0 or quantity % book.lot_size:
        return False
    at = command.at
    heap = book.day_heap
    if heap and heap[0][0] <= at:
        return False
    side = command.side
    if side == "buy":
        own = book.bids
        opposite = book.asks
        is_sell = 0
    elif side == "sell":
        own = book.asks
        opposite = book.bids
        is_sell = 1
    else:
        return False
    user_id = command.user_id
    counts = book.open_counts.get(user_id)
    if counts is not None and (counts.asks if is_sell == 0 else counts.bids):
        return False  # the opposite-side rule or self-trade prevention may apply
    keys = opposite.keys
    if keys and keys[-1] >= (price if opposite.bid else -price):
        return False
    order_id = command.order_id
    post_only = command.post_only
    order = RestingOrder(
        quantity, order_id, user_id, price, quantity, 0, is_sell, 1 if post_only else 0, 0
    )
    if book.orders.setdefault(order_id, order) is not order:
        return False  # a duplicate id: the reference path rejects it
    out.append(
        OrderAccepted(
            book.symbol, order_id, user_id, side, "limit", boxed_price, quantity, "GTC",
            post_only, at,
        )
    )  # fmt: skip
    own.add(order, boxed_price if own.bid else -price, counts)
    return True


def cancel_open_order(books: dict[str, OrderBook], command: CancelOrder, out: list[Event]) -> bool:
    """Cancel an open order of the caller; ``False`` for anything the slow path must answer."""
    book = books.get(command.symbol)
    if book is None:
        return False
    at = command.at
    heap = book.day_heap
    if heap and heap[0][0] <= at:
        return False
    order_id = command.order_id
    order = book.orders.get(order_id)
    if order is None:
        return False
    owner = order.user_id
    if owner != command.user_id:
        return False
    quantity = order.remaining
    del book.orders[order_id]
    (book.asks if order.is_sell else book.bids).discard(order)
    out.append(OrderCancelled(book.symbol, order_id, owner, quantity, CANCELLED_BY_USER, at))
    return True
