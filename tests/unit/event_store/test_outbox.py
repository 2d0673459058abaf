"""The relay's pure parts: partitioning like Kafka's default, and decoding a relayed message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as kafkas_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from event_store import Upcasters
from event_store.outbox import event_from_message, fold_input_from_message, murmur2, order_route
from workers.relay import Partitioner


def test_the_relay_partitions_keys_as_kafkas_default_partitioner_does() -> None:
    partitioner = Partitioner(6)
    keys = [f"order-{i}".encode() for i in range(200)] + [b"ACME", b"BOLT"]

    assert [partitioner(k) for k in keys] == [
        DefaultPartitioner()(k, list(range(6)), list(range(6))) for k in keys
    ]
    assert partitioner(b"ACME") == partitioner(b"ACME")


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_the_relays_murmur2_is_kafkas(key: bytes) -> None:
    assert murmur2(key) == kafkas_murmur2(key)


def test_a_relayed_message_decodes_to_the_upcast_event() -> None:
    upcasters = Upcasters()
    upcasters.register("OrderAccepted", 1, lambda d: {**d, "tif": "GTC"})
    event_id = uuid.uuid4()
    value = orjson.dumps(
        {
            "position": 42,
            "stream_id": "order-7",
            "stream_version": 1,
            "event_id": str(event_id),
            "type": "OrderAccepted",
            "schema_version": 1,
            "recorded_at": "2026-12-01T20:39:49.835171Z",
            "data": {"qty": 5},
            "metadata": order_route("ACME"),
        }
    )

    event = event_from_message(value, upcasters)

    assert (event.position, event.stream_id, event.stream_version) == (42, "order-7", 1)
    assert event.event_id == event_id
    assert (event.schema_version, event.data) == (2, {"qty": 5, "tif": "GTC"})
    assert event.metadata == {"order_symbol": "ACME"}
    assert event.recorded_at == datetime(2026, 12, 1, 20, 39, 49, 835171, tzinfo=UTC)


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
"""What an event's data may hold (orjson writes integers of at most 64 bits)."""


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 2**62),
    st.text(min_size=1, max_size=30),
    st.sampled_from(["OrderAccepted", "OrderFilled", "FundsReserved", "Renamed"]),
    st.integers(1, 3),
    st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=6),
    st.dictionaries(
        st.sampled_from(["causation_id", "correlation_id", "actor", ""]) | st.text(max_size=8),
        st.text(max_size=20) | st.none(),
        max_size=4,
    ),
)
def test_a_fold_input_reads_what_the_full_decode_reads(
    position: int, stream: str, kind: str, version: int, data: dict[str, Any],
    metadata: dict[str, Any],
) -> None:  # fmt: skip
    upcasters = Upcasters()
    upcasters.register("Renamed", 1, lambda d: {**d, "upcast": True})
    value = orjson.dumps(
        {"position": position, "stream_id": stream, "stream_version": 3,
         "event_id": str(uuid.uuid4()), "type": kind, "schema_version": version,
         "recorded_at": "2026-12-01T20:39:49.835171Z", "data": data, "metadata": metadata}
    )  # fmt: skip

    full = event_from_message(value, upcasters)
    light = fold_input_from_message(value, upcasters)

    read = {k: v for k, v in full.metadata.items() if k == "causation_id" and v is not None}
    assert light == (full.position, full.stream_id, full.type, full.data, read)
