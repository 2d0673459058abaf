"""The deterministic matching engine: commands in, events out, one book per symbol.

No clock, no I/O, no randomness: the only inputs are the commands (each carrying its own time
``at`` in ns) and the only outputs are the returned events, so replaying the same commands into a
restored snapshot yields byte-identical events and the same :meth:`MatchingEngine.state_hash`.

Rules, in the order they are checked for a new order:

1. validation (``UNKNOWN_SYMBOL``, ``INVALID_QUANTITY``, ``INVALID_PRICE``, ...), then the
   opposite-side rule: under ``reject_opposite`` (the default) a user with open orders on the other
   side of the symbol is rejected with ``OPPOSITE_SIDE_ORDER_OPEN``;
2. post-only: an order that would cross is **rejected** (``POST_ONLY_WOULD_CROSS``), never
   re-priced; otherwise ``OrderAccepted``;
3. FOK: if it cannot fill completely at once it expires whole (``FOK_NOT_FILLABLE``);
4. matching (price-time priority, fills at the resting price, self-trade prevention);
5. the remainder of a GTC/DAY limit rests; any other remainder expires (``IOC_REMAINDER``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from heapq import heappop, heappush
from typing import Any, Final

from domain.commands import (
    AmendOrder,
    CancelOrder,
    Command,
    ExpireOrders,
    NewOrder,
    SubmitBatch,
)
from domain.errors import DomainError, ErrorCode
from domain.events import Event
from domain.instrument import Instrument
from domain.matching.batch import execute_batch
from domain.matching.book import (
    NO_LIMIT,
    BookSide,
    OrderBook,
    RestingOrder,
)
from domain.matching.fastpath import cancel_open_order, rest_plain_limit
from domain.matching.fillability import can_fill
from domain.matching.matcher import match
from domain.matching.rules import amend_order, order_problem
from domain.order_events import (
    CANCELLED_BY_USER,
    EXPIRED_DAY_END,
    EXPIRED_FOK_NOT_FILLABLE,
    EXPIRED_IOC_REMAINDER,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
)
from domain.rejections import CancelRejected, OrderRejected

_REJECT_OPPOSITE: Final = "reject_opposite"
Handler = Callable[[Any, list[Event]], None]


class MatchingEngine:
    """Books for any number of symbols, driven by :meth:`process` / :meth:`process_many`."""

    __slots__ = ("_handlers", "books_by_symbol", "sequence")

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self.books_by_symbol: dict[str, OrderBook] = {}  # read it, do not change it
        self.sequence = 0  # commands processed so far (part of the state hash)
        self._handlers: dict[type, Handler] = {
            NewOrder: self._place,
            CancelOrder: self._cancel,
            AmendOrder: self._amend,
            SubmitBatch: self._batch,
            ExpireOrders: self._expire_all,
        }
        for instrument in instruments:
            self.add_instrument(instrument)

    def add_instrument(self, instrument: Instrument) -> OrderBook:
        """Open an empty book for ``instrument``; ``DUPLICATE_SYMBOL`` if it is listed already."""
        if instrument.symbol in self.books_by_symbol:
            raise DomainError(f"{instrument.symbol} is listed already", ErrorCode.DUPLICATE_SYMBOL)
        book = self.books_by_symbol[instrument.symbol] = OrderBook(instrument)
        return book

    def book(self, symbol: str) -> OrderBook:
        """The book of ``symbol`` (read it, do not change it); ``KeyError`` if unknown."""
        return self.books_by_symbol[symbol]

    @property
    def books(self) -> dict[str, OrderBook]:
        """Every book by symbol (a copy of the mapping)."""
        return dict(self.books_by_symbol)

    def process(self, command: Command) -> list[Event]:
        """Apply one command and return every event it caused, in order."""
        out: list[Event] = []
        self._apply(command, out)
        self.sequence += 1
        return out

    def process_many(self, commands: Iterable[Command]) -> list[Event]:
        """Apply commands in order; return all their events in one list.

        The result equals the concatenation of ``process(c)`` for each ``c``; this is the call
        to use on a batch of messages (it skips per-command call overhead).
        """
        out: list[Event] = []
        done = 0
        try:
            for command in commands:
                self._apply(command, out)
                done += 1
        finally:
            self.sequence += done
        return out

    def process_reference(self, command: Command) -> list[Event]:
        """Like :meth:`process` but never through the fast paths (the reference behaviour)."""
        out: list[Event] = []
        self._dispatch(command, out)
        self.sequence += 1
        return out

    def _apply(self, command: Any, out: list[Event]) -> None:
        # The fast paths (fastpath.py) first; whatever they decline takes the reference path.
        kind = type(command)
        if kind is NewOrder:
            if not rest_plain_limit(self.books_by_symbol, command, out):
                self._place(command, out)
        elif kind is CancelOrder:
            if not cancel_open_order(self.books_by_symbol, command, out):
                self._cancel(command, out)
        else:
            self._dispatch(command, out)

    def _dispatch(self, command: Any, out: list[Event]) -> None:
        handler = self._handlers.get(type(command))
        if handler is None:
            raise TypeError(f"not an engine command: {command!r}")
        handler(command, out)

    def _place(self, command: NewOrder, out: list[Event]) -> None:
        book = self.books_by_symbol.get(command.symbol)
        if book is None:
            out.append(_rejected(command, ErrorCode.UNKNOWN_SYMBOL))
            return
        if book.day_heap and book.day_heap[0][0] <= command.at:
            expire_day_orders(book, command.at, out)
        problem = order_problem(book, command)
        if problem is not None:
            out.append(_rejected(command, problem))
            return
        price = command.price
        opposite = book.asks if command.side == "buy" else book.bids
        threshold = NO_LIMIT if price is None else opposite.key(price)
        crosses = bool(opposite.keys) and opposite.keys[-1] >= threshold
        check_self = opposite.has_user(command.user_id)
        if check_self and book.instrument.self_trade == _REJECT_OPPOSITE:
            problem = ErrorCode.OPPOSITE_SIDE_ORDER_OPEN
        elif command.post_only and crosses:
            problem = ErrorCode.POST_ONLY_WOULD_CROSS
        if problem is not None:
            out.append(_rejected(command, problem))
            return
        out.append(
            OrderAccepted(
                command.symbol, command.order_id, command.user_id, command.side,
                command.order_type, price, command.quantity, command.time_in_force,
                command.post_only, command.at,
            )
        )  # fmt: skip
        if command.time_in_force == "FOK" or price is None:
            self._take(book, command, opposite, threshold, check_self, out)
        else:
            self._fill_and_rest(book, command, price, opposite, threshold, crosses, check_self, out)

    def _fill_and_rest(
        self,
        book: OrderBook,
        command: NewOrder,
        price: int,
        opposite: BookSide,
        threshold: int,
        crosses: bool,
        check_self: bool,
        out: list[Event],
    ) -> None:
        """A GTC/DAY/IOC limit: trade what crosses, then rest (or expire, IOC) the remainder."""
        order_id, user_id, side = command.order_id, command.user_id, command.side
        quantity, tif, at = command.quantity, command.time_in_force, command.at
        remaining, filled = quantity, 0
        if crosses:
            remaining, filled = match(
                book, opposite, order_id, user_id, side, threshold, quantity, None, check_self,
                at, out,
            )  # fmt: skip
            if not remaining:
                return
        if tif == "IOC":
            out.append(
                OrderExpired(book.symbol, order_id, user_id, remaining, EXPIRED_IOC_REMAINDER, at)
            )
            return
        expires_at = (command.expires_at or 0) if tif == "DAY" else 0
        is_sell = 0 if side == "buy" else 1
        post_only = 1 if command.post_only else 0
        order = RestingOrder(
            remaining, order_id, user_id, price, quantity, filled, is_sell, post_only, expires_at
        )
        book.orders[order.order_id] = order  # the boxed id (see RestingOrder)
        book.sides[is_sell].add(order)
        if expires_at:
            heappush(book.day_heap, (expires_at, order_id))

    def _take(
        self,
        book: OrderBook,
        command: NewOrder,
        opposite: BookSide,
        threshold: int,
        check_self: bool,
        out: list[Event],
    ) -> None:
        """Orders that never rest: market orders (IOC or FOK) and FOK limits."""
        symbol, order_id, user_id, at = (
            command.symbol,
            command.order_id,
            command.user_id,
            command.at,
        )
        quantity = command.quantity
        side = command.side
        budget = command.max_notional if command.price is None and side == "buy" else None
        if command.time_in_force == "FOK" and not can_fill(
            book, opposite, user_id, threshold, quantity, budget, check_self
        ):
            out.append(
                OrderExpired(symbol, order_id, user_id, quantity, EXPIRED_FOK_NOT_FILLABLE, at)
            )
            return
        remaining = quantity
        if opposite.keys and opposite.keys[-1] >= threshold:
            remaining, _ = match(
                book,
                opposite,
                order_id,
                user_id,
                side,
                threshold,
                quantity,
                budget,
                check_self,
                at,
                out,
            )
        if remaining:
            out.append(
                OrderExpired(symbol, order_id, user_id, remaining, EXPIRED_IOC_REMAINDER, at)
            )

    def _cancel(self, command: CancelOrder, out: list[Event]) -> None:
        symbol, order_id, user_id, at = (
            command.symbol,
            command.order_id,
            command.user_id,
            command.at,
        )
        book = self.books_by_symbol.get(symbol)
        if book is not None:
            heap = book.day_heap
            if heap and heap[0][0] <= at:
                expire_day_orders(book, at, out)
            order = book.orders.get(order_id)
            if order is not None and order.user_id == user_id:
                quantity = order.remaining
                book.remove(order)
                out.append(
                    OrderCancelled(symbol, order_id, user_id, quantity, CANCELLED_BY_USER, at)
                )
                return
        out.append(CancelRejected(symbol, order_id, user_id, ErrorCode.ORDER_NOT_OPEN, at))

    def _amend(self, command: AmendOrder, out: list[Event]) -> None:
        book = self.books_by_symbol.get(command.symbol)
        if book is not None and book.day_heap and book.day_heap[0][0] <= command.at:
            expire_day_orders(book, command.at, out)
        amend_order(book, command, out)

    def _batch(self, command: SubmitBatch, out: list[Event]) -> None:
        for symbol in sorted({leg.symbol for leg in command.orders}):
            book = self.books_by_symbol.get(symbol)
            if book is not None and book.day_heap and book.day_heap[0][0] <= command.at:
                expire_day_orders(book, command.at, out)
        execute_batch(self.books_by_symbol, command, self._place, out)

    def _expire_all(self, command: ExpireOrders, out: list[Event]) -> None:
        for symbol in sorted(self.books_by_symbol):
            expire_day_orders(self.books_by_symbol[symbol], command.at, out)

    def snapshot(self) -> bytes:
        """The whole engine state as canonical bytes (see :mod:`domain.matching.snapshot`)."""
        from domain.matching.snapshot import encode

        return encode(self)

    @classmethod
    def restore(cls, data: bytes) -> MatchingEngine:
        """Rebuild an engine from :meth:`snapshot` bytes, queue positions included."""
        from domain.matching.snapshot import decode

        return decode(data)

    def state_hash(self) -> str:
        """SHA-256 hex digest of :meth:`snapshot`: equal hashes, equal futures."""
        from domain.matching.snapshot import state_hash

        return state_hash(self)


def _rejected(command: NewOrder, reason: ErrorCode) -> OrderRejected:
    return OrderRejected(command.symbol, command.order_id, command.user_id, reason, command.at)


def expire_day_orders(book: OrderBook, at: int, out: list[Event]) -> None:
    """Expire every DAY order of ``book`` whose ``expires_at <= at``, earliest first."""
    heap = book.day_heap
    orders = book.orders
    while heap and heap[0][0] <= at:
        expires_at, order_id = heappop(heap)
        order = orders.get(order_id)
        if order is None or order.expires_at != expires_at:
            continue  # cancelled or filled already
        quantity = order.remaining
        book.remove(order)
        out.append(
            OrderExpired(book.symbol, order_id, order.user_id, quantity, EXPIRED_DAY_END, at)
        )
