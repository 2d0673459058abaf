"""Snapshot, restore and state hash of a :class:`~domain.matching.engine.MatchingEngine`.

The snapshot is canonical JSON (sorted keys, no spaces, UTF-8): books by symbol, each side best
level first and each level oldest order first, so restoring by appending in that order rebuilds
every queue exactly. Tombstones and derived indexes (user counts, DAY heap) are not stored; they
are rebuilt. Hence two engines that will behave identically from now on have byte-identical
snapshots, and ``state_hash`` (SHA-256 of the snapshot) is a sound replay check.

Order rows are ``[order_id, user_id, price, quantity, remaining, filled, post_only,
expires_at]``.
"""

from __future__ import annotations

import hashlib
import json
from heapq import heapify
from typing import TYPE_CHECKING, Any, Final

from domain.errors import DomainError, ErrorCode
from domain.instrument import Instrument
from domain.matching.book import (
    BookSide,
    OrderBook,
    new_order,
)

if TYPE_CHECKING:
    from domain.matching.engine import MatchingEngine

FORMAT: Final = 1


def _side_rows(side: BookSide) -> list[list[Any]]:
    return [
        [
            o.order_id,
            o.user_id,
            o.price,
            o.quantity,
            o.remaining,
            o.filled,
            bool(o.post_only),
            o.expires_at or None,
        ]
        for level in side.best_first()
        for o in level.open_orders()
    ]


def state_of(engine: MatchingEngine) -> dict[str, Any]:
    """The engine state as plain JSON-able data."""
    books = engine.books
    return {
        "format": FORMAT,
        "sequence": engine.sequence,
        "books": [
            {
                "instrument": books[symbol].instrument.to_dict(),
                "trade_seq": books[symbol].trade_seq,
                "bids": _side_rows(books[symbol].bids),
                "asks": _side_rows(books[symbol].asks),
            }
            for symbol in sorted(books)
        ],
    }


def encode(engine: MatchingEngine) -> bytes:
    """Canonical snapshot bytes."""
    return json.dumps(state_of(engine), sort_keys=True, separators=(",", ":")).encode()


def state_hash(engine: MatchingEngine) -> str:
    """SHA-256 hex digest of the canonical snapshot."""
    return hashlib.sha256(encode(engine)).hexdigest()


def decode(data: bytes) -> MatchingEngine:
    """Rebuild an engine from :func:`encode` output."""
    from domain.matching.engine import MatchingEngine

    state = json.loads(data)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DomainError("not an engine snapshot of a known format", ErrorCode.INVALID_ORDER)
    engine = MatchingEngine()
    engine.sequence = state["sequence"]
    for entry in state["books"]:
        book = engine.add_instrument(Instrument.from_dict(entry["instrument"]))
        book.trade_seq = entry["trade_seq"]
        _load_side(book, "buy", entry["bids"])
        _load_side(book, "sell", entry["asks"])
        book.day_heap = [(o.expires_at, o.order_id) for o in book.orders.values() if o.expires_at]
        heapify(book.day_heap)
    return engine


def _load_side(book: OrderBook, side: str, rows: list[list[Any]]) -> None:
    target = book.side_of("buy" if side == "buy" else "sell")
    for order_id, user_id, price, quantity, remaining, filled, post_only, expires_at in rows:
        order = new_order(
            order_id,
            user_id,
            target.side,
            price,
            quantity,
            remaining,
            filled,
            post_only,
            expires_at,
        )
        book.orders[order_id] = order
        target.add(order)
