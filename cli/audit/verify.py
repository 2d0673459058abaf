"""Verify an audit export: the first line that breaks the hash chain, and why.

Checks, line by line (see :mod:`cli.audit.chain` for the format): the line parses; the first
record is the header and starts from the genesis hash; each record's ``hash`` matches its
content (else it was **edited**); each ``prev_hash`` is the previous line's ``hash`` (else a
record was **removed, inserted or reordered** before it); event positions increase; the
metadata columns agree with the metadata; the trailer counts the records and ends the file
(a missing trailer means records were **removed from the end**).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cli.audit.chain import (
    CSV_COLUMNS,
    FORMAT_NAME,
    GENESIS,
    INT_FIELDS,
    JSON_FIELDS,
    META_FIELDS,
    Format,
    Record,
    canonical_json,
    meta_text,
    record_hash,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome: ``ok``, or the first bad ``line`` (1-based) and the ``reason``."""

    ok: bool
    records: int = 0
    head: str | None = None
    line: int | None = None
    reason: str | None = None


class BadLine(Exception):
    """A line that breaks the export (raised inside the verifier)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def detect_format(path: Path) -> Format:
    """The format of an export file: by its extension, else by its first character."""
    if path.suffix.lower() == ".csv":
        return "csv"
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with path.open(encoding="utf-8") as file:
        return "jsonl" if file.read(1) == "{" else "csv"


def verify_file(path: Path, fmt: Format | None = None, expect_head: str | None = None) -> Verdict:
    """Verify the export at ``path`` (streamed: any size)."""
    fmt = fmt or detect_format(path)
    with path.open(encoding="utf-8", newline="") as file:
        return verify_lines(file, fmt, expect_head)


def verify_lines(lines: Iterable[str], fmt: Format, expect_head: str | None = None) -> Verdict:
    """Verify an export given as its lines (with or without line ends)."""
    chain = _Chain()
    try:
        last_line = 0
        for line_no, record in _records(lines, fmt):
            chain.check(line_no, record)
            last_line = line_no
        chain.finish(last_line + 1)
        if expect_head is not None and chain.head != expect_head:
            raise BadLine(
                last_line, f"the chain's head is {chain.head}, not {expect_head}: rewritten"
            )
    except BadLine as bad:
        return Verdict(False, chain.events, chain.head, bad.line, bad.reason)
    return Verdict(True, chain.events, chain.head)


class _Chain:
    """The state carried from one record to the next."""

    def __init__(self) -> None:
        self.head = GENESIS
        self.head_line = 0
        self.events = 0
        self.last_position: int | None = None
        self.started = False
        self.ended = False

    def check(self, line: int, record: Record) -> None:
        kind = record.get("kind")
        if self.ended:
            raise BadLine(line, "a record after the trailer (inserted, or the trailer moved)")
        if not self.started and kind != "header":
            raise BadLine(line, "the first record is not the export header (removed or moved)")
        if self.started and kind == "header":
            raise BadLine(line, "a second export header (inserted or moved)")
        if not isinstance(record.get("hash"), str) or record["hash"] != record_hash(record):
            raise BadLine(line, "the hash does not match the record's content: edited")
        if record.get("prev_hash") != self.head:
            where = "the genesis hash" if not self.started else f"the hash of line {self.head_line}"
            raise BadLine(
                line,
                f"prev_hash is not {where}: a record was removed, inserted or reordered here",
            )
        if kind == "header":
            _check_header(line, record)
            self.started = True
        elif kind == "event":
            self._check_event(line, record)
        elif kind == "trailer":
            self._check_trailer(line, record)
        else:
            raise BadLine(line, f"unknown record kind {kind!r}")
        self.head, self.head_line = record["hash"], line

    def _check_event(self, line: int, record: Record) -> None:
        position, metadata = record.get("position"), record.get("metadata")
        if not isinstance(position, int) or not isinstance(metadata, dict):
            raise BadLine(line, "an event record needs an integer position and metadata")
        for name in META_FIELDS:
            if record.get(name) != meta_text(metadata, name):
                raise BadLine(line, f"{name} disagrees with the metadata: edited")
        if self.last_position is not None and position <= self.last_position:
            raise BadLine(
                line, f"position {position} does not follow {self.last_position}: reordered"
            )
        self.last_position = position
        self.events += 1

    def _check_trailer(self, line: int, record: Record) -> None:
        data = record.get("data")
        counted = data.get("records") if isinstance(data, dict) else None
        if counted != self.events:
            raise BadLine(line, f"the trailer counts {counted} records, the file has {self.events}")
        self.ended = True

    def finish(self, next_line: int) -> None:
        if not self.started:
            raise BadLine(next_line, "no export header: the file is empty")
        if not self.ended:
            raise BadLine(
                next_line, "the file ends without its trailer: records were removed from the end"
            )


def _check_header(line: int, record: Record) -> None:
    data = record.get("data")
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise BadLine(line, f"the header is not of format {FORMAT_NAME}")
    if data.get("genesis") != GENESIS:
        raise BadLine(line, "the header names another genesis hash")


def _records(lines: Iterable[str], fmt: Format) -> Iterator[tuple[int, Record]]:
    """(line number, record) of each record line; ``BadLine`` for one that does not parse."""
    if fmt == "jsonl":
        for line_no, line in enumerate(lines, 1):
            yield line_no, _json_record(line_no, line)
        return
    reader = csv.reader(line.rstrip("\r\n") for line in lines)
    try:
        for row in reader:
            if reader.line_num == 1:
                if tuple(row) != CSV_COLUMNS:
                    raise BadLine(1, "the first line does not name the export's columns")
                continue
            yield reader.line_num, _csv_record(reader.line_num, row)
    except csv.Error as exc:
        raise BadLine(reader.line_num, f"not valid CSV: {exc}") from exc


def _json_record(line_no: int, line: str) -> Record:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BadLine(line_no, f"not valid JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise BadLine(line_no, "not a JSON object")
    return record


def _csv_record(line_no: int, row: list[str]) -> Record:
    if len(row) != len(CSV_COLUMNS):
        raise BadLine(line_no, f"{len(row)} cells where the export has {len(CSV_COLUMNS)}")
    cells = dict(zip(CSV_COLUMNS, row, strict=True))
    kind = cells["kind"]
    if kind not in ("header", "event", "trailer"):
        raise BadLine(line_no, f"unknown record kind {kind!r}")
    if kind != "event":
        extra = [name for name, cell in cells.items() if cell and name not in _FRAME_COLUMNS]
        if extra:
            raise BadLine(line_no, f"a {kind} row with a value in column {extra[0]}: edited")
        return {name: _value(line_no, name, cells[name]) for name in _FRAME_COLUMNS}
    record = {name: _value(line_no, name, cell) for name, cell in cells.items()}
    metadata = record["metadata"]
    for name in META_FIELDS:  # an empty cell is null, or an empty string in the metadata
        if record[name] is None and isinstance(metadata, dict) and metadata.get(name) == "":
            record[name] = ""
    return record


_FRAME_COLUMNS = ("kind", "data", "prev_hash", "hash")
"""The columns of a header or trailer row."""


def _value(line_no: int, name: str, cell: str) -> Any:
    """A cell's value; cells must be in the form the exporter writes (else the line is bad)."""
    if name in INT_FIELDS:
        if cell.lstrip("-").isdigit() and str(int(cell)) == cell:
            return int(cell)
        raise BadLine(line_no, f"column {name} is not an integer: edited")
    if name in JSON_FIELDS:
        try:
            value = orjson.loads(cell)
        except orjson.JSONDecodeError as exc:
            raise BadLine(line_no, f"column {name} is not valid JSON: {exc}") from exc
        if canonical_json(value).decode() != cell:
            raise BadLine(line_no, f"column {name} is not canonical JSON: edited")
        return value
    if name in META_FIELDS and cell == "":
        return None
    return cell
