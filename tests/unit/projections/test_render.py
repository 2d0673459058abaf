"""Integers of the read models rendered for the wire."""

from __future__ import annotations

from domain.instrument import Instrument
from projections import render
from projections.changes import MAX_ARGS, Changes, commands
from projections.writer import Checkpoint

ACME = Instrument.create("ACME", "0.01")


def test_times_are_iso_8601_utc_with_microseconds() -> None:
    assert render.iso(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456Z"
    assert render.iso(None) is None


def test_average_fill_price_keeps_the_tick_places_and_up_to_four_more() -> None:
    assert render.average_price(ACME, 10125 * 3, 3) == "101.25"
    assert render.average_price(ACME, 10000 + 10001 * 2, 3) == "100.006667"
    assert render.average_price(ACME, 0, 0) is None


def test_cash_is_a_decimal_string_and_shares_an_integer() -> None:
    assert render.amount("USD", 69625) == "696.25"
    assert render.amount("JPY", 5) == "5"
    assert render.amount("ACME", 7) == 7


def test_long_commands_are_split_below_the_lua_unpack_limit() -> None:
    changes = Changes()
    for i in range(5000):
        changes.zadd("k", f"m{i}", i)

    stream, count = changes.encode(1000)
    ops = commands(stream)

    assert all(len(op) <= MAX_ARGS + 2 for op in ops)
    assert count == len(ops) > 1
    assert sum((len(op) - 2) // 2 for op in ops) == 5000


def test_checkpoints_round_trip_with_and_without_an_offset() -> None:
    assert Checkpoint.decode(Checkpoint(12, 7).encode()) == Checkpoint(12, 7)
    assert Checkpoint.decode(Checkpoint(12, None).encode()) == Checkpoint(12, None)
    assert Checkpoint.decode(None) == Checkpoint(0, None)
