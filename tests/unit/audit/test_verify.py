"""The verifier names the first line an edit, removal, insertion or reordering broke."""

from __future__ import annotations

import orjson
import pytest

from cli.audit.chain import Format, record_hash
from cli.audit.verify import verify_lines
from tests.unit.audit import mutations
from tests.unit.audit.builders import export_text

FORMATS: tuple[Format, ...] = ("jsonl", "csv")
LINES = {fmt: export_text(fmt).splitlines() for fmt in FORMATS}
CASES = [
    pytest.param(fmt, mutation, index, line, id=f"{fmt}-{name}-{index}")
    for fmt in FORMATS
    for name, mutation, index, line in mutations.cases(len(LINES[fmt]))
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_untouched_export_verifies(fmt: Format) -> None:
    verdict = verify_lines(LINES[fmt], fmt)

    assert verdict.ok, verdict
    assert verdict.records == 4
    assert verdict.head == orjson.loads(LINES["jsonl"][-1])["hash"]


@pytest.mark.parametrize(("fmt", "mutation", "index", "line"), CASES)
def test_any_tampered_line_fails_and_is_named(
    fmt: Format, mutation: mutations.Mutation, index: int, line: int
) -> None:
    verdict = verify_lines(mutation(LINES[fmt], index), fmt)

    assert not verdict.ok
    assert verdict.line == line, verdict.reason


def test_an_edit_says_the_record_was_edited() -> None:
    verdict = verify_lines(mutations.edit(LINES["jsonl"], 2), "jsonl")

    assert verdict.line == 3 and "edited" in (verdict.reason or "")


def test_a_removed_record_breaks_the_link_of_the_next_line() -> None:
    verdict = verify_lines(mutations.drop(LINES["jsonl"], 2), "jsonl")

    assert verdict.line == 3 and "removed, inserted or reordered" in (verdict.reason or "")


def test_a_file_cut_short_misses_its_trailer() -> None:
    lines = LINES["csv"][:-2]

    verdict = verify_lines(lines, "csv")

    assert verdict.line == len(lines) + 1 and "trailer" in (verdict.reason or "")


def test_an_edited_metadata_column_is_caught_in_csv() -> None:
    lines = list(LINES["csv"])
    lines[2] = lines[2].replace(",c-1,", ",c-2,", 1)

    verdict = verify_lines(lines, "csv")

    assert verdict.line == 3 and not verdict.ok


def test_a_cell_rewritten_in_another_form_is_an_edit() -> None:
    lines = list(LINES["csv"])
    lines[2] = lines[2].replace("event,3,", "event,03,", 1)

    verdict = verify_lines(lines, "csv")

    assert verdict.line == 3 and "not an integer" in (verdict.reason or "")


def test_a_forged_record_with_its_own_valid_hash_is_caught_at_the_next_line() -> None:
    lines = list(LINES["jsonl"])
    record = orjson.loads(lines[2])
    record["data"]["quantity"] = 1
    record["hash"] = record_hash(record)
    lines[2] = orjson.dumps(record).decode()

    verdict = verify_lines(lines, "jsonl")

    assert verdict.line == 4 and "prev_hash" in (verdict.reason or "")


def test_a_rewritten_chain_is_caught_only_against_the_recorded_head() -> None:
    head = verify_lines(LINES["jsonl"], "jsonl").head
    forged = export_text("jsonl", []).splitlines()  # a whole new, internally valid chain

    assert verify_lines(forged, "jsonl").ok
    verdict = verify_lines(forged, "jsonl", expect_head=head)
    assert not verdict.ok and verdict.line == len(forged) and "head" in (verdict.reason or "")


@pytest.mark.parametrize(
    ("lines", "line"),
    [([], 1), (["not json"], 1), (["[1, 2]"], 1), ([""], 1)],
    ids=["empty", "garbage", "not-an-object", "blank-line"],
)
def test_what_is_not_an_export_fails_at_its_first_line(lines: list[str], line: int) -> None:
    verdict = verify_lines(lines, "jsonl")

    assert not verdict.ok and verdict.line == line
