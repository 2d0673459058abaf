"""Snapshots restore the whole engine; the state hash tells equal futures apart."""

from __future__ import annotations

import pytest

from domain import DomainError, MatchingEngine

from .builders import SYMBOL, cancel, engine, limit, market, queue


def _history() -> list[object]:
    return [
        limit(1, 11, "sell", 101, 5),
        limit(2, 13, "sell", 101, 3),
        limit(3, 15, "sell", 102, 4, "DAY", expires_at=1_000),
        limit(4, 10, "buy", 99, 6),
        limit(5, 12, "buy", 101, 2),
        cancel(2, 13),
    ]


def test_restored_engine_has_the_same_book_queues_and_hash() -> None:
    eng = engine()
    eng.process_many(_history())  # type: ignore[arg-type]

    restored = MatchingEngine.restore(eng.snapshot())

    assert restored.state_hash() == eng.state_hash()
    assert queue(restored, "sell") == queue(eng, "sell")
    assert list(restored.book(SYMBOL).open_orders()) == list(eng.book(SYMBOL).open_orders())


def test_restored_engine_answers_the_same_commands_with_the_same_events() -> None:
    eng = engine()
    eng.process_many(_history())  # type: ignore[arg-type]
    restored = MatchingEngine.restore(eng.snapshot())
    rest = [market(6, 10, "buy", 20), limit(7, 14, "sell", 100, 1, at=2_000)]

    assert restored.process_many(rest) == eng.process_many(rest)
    assert restored.state_hash() == eng.state_hash()


def test_any_change_of_state_changes_the_hash() -> None:
    eng = engine()
    eng.process(limit(1, 11, "sell", 101, 5))
    before = eng.state_hash()

    eng.process(limit(2, 13, "sell", 101, 5))

    assert eng.state_hash() != before


def test_snapshot_bytes_do_not_depend_on_cancelled_leftovers() -> None:
    noisy, clean = engine(), engine()
    noisy.process_many([limit(i, 100 + i, "buy", 99, 1) for i in range(1, 80)])
    noisy.process_many([cancel(i, 100 + i) for i in range(1, 70)])
    clean.process_many([limit(i, 100 + i, "buy", 99, 1) for i in range(70, 80)])
    clean.sequence = noisy.sequence

    assert noisy.snapshot() == clean.snapshot()


def test_garbage_is_not_a_snapshot() -> None:
    with pytest.raises(DomainError):
        MatchingEngine.restore(b'{"format": 99}')
