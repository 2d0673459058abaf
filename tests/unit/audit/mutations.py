"""Tampering with an export's lines: each mutation and the line the verifier must name.

Shared by the unit tests (synthetic exports) and the integration tests (real exports).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator

import orjson

from cli.audit.chain import canonical_json

Mutation = Callable[[list[str], int], list[str]]


def edit(lines: list[str], index: int) -> list[str]:
    """Change the content of line ``index`` (0-based), leaving its stored hash as it was."""
    changed = list(lines)
    line = lines[index]
    if line.startswith("{"):
        record = orjson.loads(line)
        record["data"] = {**record["data"], "tampered": True}
        changed[index] = orjson.dumps(record).decode()
    else:
        row = next(csv.reader([line]))
        if row[0] == "kind":  # the column names
            row[0] = "kinds"
        else:
            data = orjson.loads(row[CSV_DATA])
            row[CSV_DATA] = canonical_json({**data, "tampered": True}).decode()
        changed[index] = _csv_line(row)
    return changed


def drop(lines: list[str], index: int) -> list[str]:
    """Remove line ``index``."""
    return lines[:index] + lines[index + 1 :]


def insert(lines: list[str], index: int) -> list[str]:
    """Insert, before line ``index``, a copy of another line (the one before it, or the next
    one at the top)."""
    copied = lines[index - 1] if index else lines[1]
    return [*lines[:index], copied, *lines[index:]]


def swap(lines: list[str], index: int) -> list[str]:
    """Swap line ``index`` with the next one."""
    changed = list(lines)
    changed[index], changed[index + 1] = lines[index + 1], lines[index]
    return changed


CSV_DATA = 11
"""The index of the ``data`` column (``cli.audit.chain.CSV_COLUMNS``)."""


def cases(count: int) -> Iterator[tuple[str, Mutation, int, int]]:
    """Every (name, mutation, 0-based index, expected bad 1-based line) for ``count`` lines."""
    for index in range(count):
        yield "edit", edit, index, index + 1
        yield "drop", drop, index, index + 1
    for index in range(count + 1):
        yield "insert", insert, index, index + 1
    for index in range(count - 1):
        yield "swap", swap, index, index + 1


def _csv_line(row: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()
