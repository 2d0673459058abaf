"""The audit export's records and their hash chain, in JSON Lines and CSV.

An export is a chain of records, one per line:

1. a **header** (``kind: "header"``): what was exported (scope, window), when, from which store
   position; its ``prev_hash`` is :data:`GENESIS`;
2. one **event** record per event, in position order: ``position``, ``stream_id``,
   ``stream_version``, ``event_id``, ``type``, ``schema_version``, ``recorded_at``, ``data`` and
   ``metadata`` as stored, plus ``correlation_id``, ``causation_id`` and ``actor`` repeated from
   the metadata for readability (``null`` when absent);
3. a **trailer** (``kind: "trailer"``): how many event records came before it and the last
   position, so records removed from the end are detected too.

Every record carries ``prev_hash`` (the previous record's ``hash``) and ``hash``: the SHA-256
hex digest of the record's canonical encoding **without** ``hash`` (``prev_hash`` included).
Canonical = UTF-8 JSON with object keys sorted and no whitespace, i.e. Python's
``json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``. The hash of
a record does not depend on the file format: a CSV and a JSON Lines export of the same events
carry the same hashes. The trailer's hash is the chain's *head*: keep it, and
``exchange audit verify --expect-head`` proves that nothing at all was rewritten.

CSV: line 1 names the columns (:data:`CSV_COLUMNS`); each next line is one record. ``data`` and
``metadata`` cells hold canonical JSON; header and trailer rows keep their fields in ``data`` and
leave the event columns empty; an empty cell of a metadata column means ``null``.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TextIO

import orjson

if TYPE_CHECKING:
    from event_store.model import RecordedEvent

Format = Literal["jsonl", "csv"]
Record = dict[str, Any]

GENESIS: Final = "0" * 64
"""The ``prev_hash`` of every export's first record (the header)."""

FORMAT_NAME: Final = "exchange-audit/1"

META_FIELDS: Final = ("correlation_id", "causation_id", "actor")
"""Metadata fields repeated as columns of every event record."""

EVENT_FIELDS: Final = (
    "kind",
    "position",
    "stream_id",
    "stream_version",
    "event_id",
    "type",
    "schema_version",
    "recorded_at",
    *META_FIELDS,
    "data",
    "metadata",
    "prev_hash",
    "hash",
)
"""The keys of an event record, in the order they are written."""

CSV_COLUMNS: Final = EVENT_FIELDS
INT_FIELDS: Final = frozenset({"position", "stream_version", "schema_version"})
JSON_FIELDS: Final = frozenset({"data", "metadata"})


def canonical(record: Mapping[str, Any]) -> bytes:
    """The canonical encoding of a record without its ``hash`` (see the module docstring)."""
    body = {key: value for key, value in record.items() if key != "hash"}
    return canonical_json(body)


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON, keys sorted, no whitespace (equal to ``json.dumps(..., sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)``; orjson is only faster)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def record_hash(record: Mapping[str, Any]) -> str:
    """The SHA-256 hex digest of the record's canonical encoding."""
    return hashlib.sha256(canonical(record)).hexdigest()


def seal(record: Record, prev_hash: str) -> Record:
    """The record with its ``prev_hash`` and ``hash`` set (a new dict)."""
    sealed = {**record, "prev_hash": prev_hash}
    sealed["hash"] = record_hash(sealed)
    return sealed


def meta_text(metadata: Mapping[str, Any], name: str) -> str | None:
    """A metadata field as the text of its column (``None`` when absent or null)."""
    value = metadata.get(name)
    return None if value is None else str(value)


def event_record(event: RecordedEvent) -> Record:
    """The (unsealed) record of one stored event."""
    record: Record = {
        "kind": "event",
        "position": event.position,
        "stream_id": event.stream_id,
        "stream_version": event.stream_version,
        "event_id": str(event.event_id),
        "type": event.type,
        "schema_version": event.schema_version,
        "recorded_at": event.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    for name in META_FIELDS:
        record[name] = meta_text(event.metadata, name)
    record["data"] = event.data
    record["metadata"] = event.metadata
    return record


def header_record(
    scope: Mapping[str, Any], window: Mapping[str, Any], exported_at: str, store_position: int
) -> Record:
    """The (unsealed) first record of an export."""
    return {
        "kind": "header",
        "data": {
            "format": FORMAT_NAME,
            "scope": dict(scope),
            "window": dict(window),
            "exported_at": exported_at,
            "store_position": store_position,
            "genesis": GENESIS,
            "hash_rule": "sha256 of canonical JSON (sorted keys, no spaces, UTF-8) without 'hash'",
        },
    }


def trailer_record(records: int, last_position: int | None) -> Record:
    """The (unsealed) last record of an export."""
    return {"kind": "trailer", "data": {"records": records, "last_position": last_position}}


def to_csv_row(record: Mapping[str, Any]) -> list[str]:
    """A sealed record as the cells of :data:`CSV_COLUMNS`."""
    return [_cell(name, record.get(name)) for name in CSV_COLUMNS]


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in JSON_FIELDS:
        return canonical_json(value).decode()
    return str(value)


class ChainWriter:
    """Seals records one after the other and writes them in ``fmt`` to ``out``."""

    def __init__(self, out: TextIO, fmt: Format) -> None:
        self._out = out
        self._format = fmt
        self.head = GENESIS
        self.lines = 0
        self._csv: Any = None
        if fmt == "csv":
            self._csv = csv.writer(out, lineterminator="\n")
            self._csv.writerow(CSV_COLUMNS)
            self.lines += 1

    def write(self, record: Record) -> Record:
        """Seal ``record`` onto the chain, write it, and return it sealed."""
        sealed = seal(record, self.head)
        if self._csv is not None:
            self._csv.writerow(to_csv_row(sealed))
        else:
            self._out.write(orjson.dumps(sealed).decode())
            self._out.write("\n")
        self.head = sealed["hash"]
        self.lines += 1
        return sealed
