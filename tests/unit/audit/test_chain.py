"""The export's records and hash chain: canonical, format-independent, linked from genesis."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from itertools import pairwise
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from cli.audit.chain import (
    CSV_COLUMNS,
    GENESIS,
    canonical,
    canonical_json,
    event_record,
    record_hash,
    seal,
)
from tests.unit.audit.builders import export_text, recorded

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_is_pythons_sorted_compact_utf8_json(value: Any) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    assert canonical_json(value) == expected.encode()


def test_the_hash_is_sha256_of_the_record_without_its_hash() -> None:
    record = seal({"kind": "trailer", "data": {"records": 0}}, GENESIS)

    body = b'{"data":{"records":0},"kind":"trailer","prev_hash":"' + GENESIS.encode() + b'"}'
    assert canonical(record) == body
    assert record["hash"] == hashlib.sha256(body).hexdigest()


def test_the_hash_covers_the_previous_hash() -> None:
    record = {"kind": "trailer", "data": {"records": 0}}

    assert seal(record, GENESIS)["hash"] != seal(record, "1" * 64)["hash"]


def test_key_order_does_not_change_the_hash() -> None:
    one = {"kind": "header", "data": {"a": 1, "b": 2}, "prev_hash": GENESIS}
    other = {"prev_hash": GENESIS, "data": {"b": 2, "a": 1}, "kind": "header"}

    assert record_hash(one) == record_hash(other)


def test_an_event_record_carries_its_metadata_as_columns() -> None:
    event = recorded(5, "OrderAccepted", {"order_id": 7}, metadata={"causation_id": 99})

    record = event_record(event)

    assert record["position"] == 5 and record["stream_id"] == "order-7"
    assert record["recorded_at"] == "2026-01-02T03:04:05.000005Z"
    assert (record["correlation_id"], record["causation_id"], record["actor"]) == (None, "99", None)
    assert record["metadata"] == {"causation_id": 99}


def test_the_first_record_starts_from_genesis_and_each_links_to_the_previous() -> None:
    records = [orjson.loads(line) for line in export_text("jsonl").splitlines()]

    assert records[0]["kind"] == "header" and records[0]["prev_hash"] == GENESIS
    assert records[-1]["kind"] == "trailer" and records[-1]["data"]["records"] == 4
    for before, after in pairwise(records):
        assert after["prev_hash"] == before["hash"]


def test_csv_and_jsonl_exports_carry_the_same_hashes() -> None:
    from_jsonl = [orjson.loads(line)["hash"] for line in export_text("jsonl").splitlines()]
    rows = list(csv.reader(io.StringIO(export_text("csv"))))

    assert tuple(rows[0]) == CSV_COLUMNS
    assert [row[CSV_COLUMNS.index("hash")] for row in rows[1:]] == from_jsonl
