"""The apply script's op stream: one binary header, then each command's own arguments."""

from __future__ import annotations

from projections.changes import OPS, Changes, commands

LEVEL_KEYS = ("bk", "bq", "ACME", "b")


def _code(name: str) -> int:
    return OPS.index(name) + 1


def test_names_and_counts_travel_in_one_header_and_own_scores_once() -> None:
    changes = Changes()
    changes.set_doc("o:7", b"[7]")
    changes.zadd("uo:1", "7", 7)  # (scored by its own number: sent once)
    changes.zadd("bo:1", "7", 42)
    changes.level(LEVEL_KEYS, 10125, 30)
    changes.level(LEVEL_KEYS, 10100, -5)

    stream, count = changes.encode(1000)

    assert stream[0] == bytes(
        (_code("MSET"), 0, 2, _code("ZADDM"), 0, 2, _code("ZADD"), 0, 3, _code("L2"), 0, 8)
    )
    assert stream[1:] == [
        *("o:7", b"[7]"),
        *("uo:1", "7"),
        *("bo:1", "42", "7"),
        *(*LEVEL_KEYS, "10125", "30", "10100", "-5"),
    ]
    assert count == 4


def test_the_stream_reads_back_as_plain_commands() -> None:
    changes = Changes()
    changes.zadd("uo:1", "7", 7)
    changes.zadd("uo:1", "8", 8)
    changes.zrem("uo:2", "6")
    changes.level(LEVEL_KEYS, 10125, 30)
    changes.level(LEVEL_KEYS, 10100, -5)
    changes.level(("ak", "aq", "ACME", "a"), 10200, 0)  # (a net change of nothing: not sent)

    stream, _ = changes.encode(1000)

    assert commands(stream) == [
        ["ZADD", "uo:1", "7", "7", "8", "8"],
        ["ZREM", "uo:2", "6"],
        ["L2", *LEVEL_KEYS, "10125", "30"],
        ["L2", *LEVEL_KEYS, "10100", "-5"],
    ]


def test_an_empty_batch_sends_an_empty_header() -> None:
    stream, count = Changes().encode(1000)

    assert (stream, count) == ([b""], 0)
