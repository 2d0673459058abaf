"""Batches: all-or-nothing batches fill every leg completely or change nothing."""

from __future__ import annotations

from domain import BatchRejected, ErrorCode, OrderRejected, SubmitBatch

from .builders import SYMBOL, book_levels, engine, kinds, limit, market, trades


def _resting_liquidity() -> list[object]:
    return [limit(1, 11, "sell", 100, 5), limit(2, 13, "sell", 101, 5), limit(3, 15, "buy", 99, 5)]


def test_all_or_nothing_batch_fills_every_leg() -> None:
    eng = engine()
    eng.process_many(_resting_liquidity())  # type: ignore[arg-type]

    events = eng.process(
        SubmitBatch(9, 20, (limit(4, 20, "buy", 101, 8), market(5, 20, "sell", 5)), True, 7)
    )

    assert trades(events) == [(100, 5, 4, 1), (101, 3, 4, 2), (99, 5, 5, 3)]
    assert book_levels(eng) == ([], [(101, 2)])


def test_all_or_nothing_batch_failing_on_its_last_leg_changes_nothing() -> None:
    eng = engine()
    eng.process_many(_resting_liquidity())  # type: ignore[arg-type]
    before = eng.book(SYMBOL).bids.depth(), eng.book(SYMBOL).asks.depth()
    legs = (limit(4, 20, "buy", 101, 8), limit(5, 20, "sell", 99, 6))

    events = eng.process(SubmitBatch(9, 20, legs, True, 7))

    assert events == [
        BatchRejected(9, 20, (4, 5), ErrorCode.BATCH_NOT_FILLABLE, 5, 7),
        OrderRejected(SYMBOL, 4, 20, ErrorCode.BATCH_REJECTED, 7),
        OrderRejected(SYMBOL, 5, 20, ErrorCode.BATCH_NOT_FILLABLE, 7),
    ]
    assert book_levels(eng) == before


def test_all_or_nothing_legs_cannot_both_count_the_same_liquidity() -> None:
    eng = engine()
    eng.process(limit(1, 11, "sell", 100, 10))

    events = eng.process(
        SubmitBatch(9, 20, (limit(2, 20, "buy", 100, 6), limit(3, 20, "buy", 100, 6)), True)
    )

    assert kinds(events)[0] == "BatchRejected"
    assert book_levels(eng) == ([], [(100, 10)])


def test_batch_without_all_or_nothing_runs_each_leg_on_its_own() -> None:
    eng = engine()
    eng.process(limit(1, 11, "sell", 100, 5))

    events = eng.process(
        SubmitBatch(9, 20, (limit(2, 20, "buy", 100, 3), limit(3, 20, "buy", 98, 4)), False)
    )

    assert trades(events) == [(100, 3, 2, 1)]
    assert book_levels(eng) == ([(98, 4)], [(100, 2)])


def test_batch_with_a_leg_of_another_user_is_rejected_whole() -> None:
    eng = engine()

    events = eng.process(
        SubmitBatch(9, 20, (limit(2, 20, "buy", 100, 3), limit(3, 21, "buy", 98, 4)), False)
    )

    assert events[0] == BatchRejected(9, 20, (2, 3), ErrorCode.INVALID_ORDER, 3, 0)
    assert book_levels(eng) == ([], [])


def test_empty_batch_is_rejected() -> None:
    eng = engine()

    events = eng.process(SubmitBatch(9, 20, (), True))

    assert events == [BatchRejected(9, 20, (), ErrorCode.EMPTY_BATCH, None, 0)]
