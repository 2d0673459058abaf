"""The outbox's routes on the real MariaDB: which events reach the orders and settlement topics."""

from __future__ import annotations

import random
from typing import Any

import pytest

from event_store.connection import connect_raw
from event_store.mariadb import MariaDbEventStore
from event_store.model import ANY, NewEvent, StreamAppend
from event_store.outbox import SETTLEMENT_INPUTS, fetch_outbox, order_route

pytestmark = pytest.mark.integration


async def outbox_after(url: str, start: int) -> list[Any]:
    """The relay's outbox rows after position ``start`` (up to 100), as it reads them."""
    conn = await connect_raw(url, autocommit=True)
    try:
        async with conn.cursor() as cursor:
            return list(await fetch_outbox(cursor, start, 100))
    finally:
        conn.close()


async def test_settlement_inputs_of_order_streams_are_keyed_by_their_owner(
    event_store_url: str, stream_prefix: str
) -> None:
    order = f"order-{random.getrandbits(60)}"
    other = f"{stream_prefix}account-7"
    owner = {"user_id": 7001, "order_id": 1}
    store = MariaDbEventStore.from_url(event_store_url)
    try:
        start = await store.last_position()
        await store.append(
            StreamAppend(
                order,
                [NewEvent("OrderPlaced", owner, order_route("ACME"))]
                + [NewEvent(kind, owner, {}) for kind in SETTLEMENT_INPUTS]
                + [NewEvent("OrderAccepted", owner, {})],
                ANY,
            ),
            StreamAppend(other, [NewEvent("OrderFilled", owner, {})], ANY),
        )
    finally:
        await store.close()
    rows = await outbox_after(event_store_url, start)

    routes = [(stream.decode(), symbol, user) for _, stream, symbol, user, _ in rows]
    assert routes == [
        (order, "ACME", None),
        *[(order, None, b"7001")] * len(SETTLEMENT_INPUTS),
        (order, None, None),
        (other, None, None),
    ]
