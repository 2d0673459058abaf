"""Amending an open order: what keeps time priority and what loses it."""

from __future__ import annotations

from domain import AmendRejected, ErrorCode, OrderAmended

from .builders import SYMBOL, amend, book_levels, engine, limit, queue, trades


def test_reducing_quantity_keeps_time_priority() -> None:
    eng = engine()
    eng.process_many([limit(1, 11, "sell", 100, 5), limit(2, 13, "sell", 100, 5)])

    events = eng.process(amend(1, 11, quantity=3))

    assert events == [OrderAmended(SYMBOL, 1, 11, 100, 3, 3, True, 0)]
    assert queue(eng, "sell") == [(1, 3), (2, 5)]


def test_increasing_quantity_loses_time_priority() -> None:
    eng = engine()
    eng.process_many([limit(1, 11, "sell", 100, 5), limit(2, 13, "sell", 100, 5)])

    events = eng.process(amend(1, 11, quantity=8))

    assert events == [OrderAmended(SYMBOL, 1, 11, 100, 8, 8, False, 0)]
    assert queue(eng, "sell") == [(2, 5), (1, 8)]


def test_price_change_loses_time_priority() -> None:
    eng = engine()
    eng.process_many([limit(1, 11, "sell", 101, 5), limit(2, 13, "sell", 100, 5)])

    eng.process(amend(1, 11, price=100))

    assert queue(eng, "sell") == [(2, 5), (1, 5)]
    assert book_levels(eng) == ([], [(100, 10)])


def test_amend_to_a_crossing_price_trades_at_once_as_a_taker() -> None:
    eng = engine()
    eng.process_many([limit(1, 11, "sell", 100, 5), limit(2, 10, "buy", 98, 3)])

    events = eng.process(amend(2, 10, price=100))

    assert trades(events) == [(100, 3, 2, 1)]
    assert book_levels(eng) == ([], [(100, 2)])


def test_amend_keeps_what_already_filled() -> None:
    eng = engine()
    eng.process_many([limit(1, 11, "sell", 100, 10), limit(2, 10, "buy", 100, 4)])

    events = eng.process(amend(1, 11, quantity=6))

    assert events == [OrderAmended(SYMBOL, 1, 11, 100, 6, 2, True, 0)]


def test_amend_cannot_drop_to_or_below_the_filled_quantity() -> None:
    eng = engine()
    eng.process_many([limit(1, 11, "sell", 100, 10), limit(2, 10, "buy", 100, 4)])

    events = eng.process(amend(1, 11, quantity=4))

    assert events == [AmendRejected(SYMBOL, 1, 11, ErrorCode.INVALID_QUANTITY, 0)]
    assert queue(eng, "sell") == [(1, 6)]


def test_amending_a_post_only_order_to_a_crossing_price_is_rejected() -> None:
    eng = engine()
    eng.process_many([limit(1, 11, "sell", 100, 5), limit(2, 10, "buy", 98, 3, post_only=True)])

    events = eng.process(amend(2, 10, price=100))

    assert events == [AmendRejected(SYMBOL, 2, 10, ErrorCode.POST_ONLY_WOULD_CROSS, 0)]
    assert queue(eng, "buy") == [(2, 3)]


def test_amending_someone_elses_order_is_rejected_as_not_open() -> None:
    eng = engine()
    eng.process(limit(1, 11, "sell", 100, 5))

    events = eng.process(amend(1, 12, quantity=1))

    assert events == [AmendRejected(SYMBOL, 1, 12, ErrorCode.ORDER_NOT_OPEN, 0)]
