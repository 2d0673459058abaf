"""A lifecycle entry's stored bytes: the one-pass encoding of the live fold's entries is
byte for byte the general one (the read side keeps what it stored)."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.changes import Changes
from projections.keys import Space
from projections.orders import OrdersFold
from projections.records import _encode_general, encode_lifecycle
from projections.simulation import random_flow

SPACE = Space("t:p1")
PERTURBED = (None, True, False, 0, 1, "1", "ACME", "buy", "sell", 2**40)


def _folded(seed: int) -> tuple[list[Any], dict[str, Any]]:
    events = [e for e in random_flow(seed, 30).events if e.stream_id.startswith("order-")]
    cache: dict[str, Any] = {}
    OrdersFold().fold(events, SPACE, cache, Changes())
    return events, cache


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 2**32))
def test_every_entry_encodes_to_the_general_forms_bytes(seed: int, twist: int) -> None:
    """Entries of a random flow, as they are and perturbed (a value of another type or
    another value, keys in another order or missing, another order's document, a document
    with its lifecycle beside it): the same bytes as :func:`_encode_general`."""
    events, cache = _folded(seed)
    rng = random.Random(twist)
    for event in events:
        order = dict(cache[SPACE.order(int(event.stream_id.removeprefix("order-")))])
        data = dict(event.data)
        change = rng.randrange(8)
        if change == 1 and data:
            data[rng.choice(list(data))] = rng.choice(PERTURBED)
        elif change == 2 and data:
            order[rng.choice(list(order))] = rng.choice(PERTURBED)
        elif change == 3:
            items = list(data.items())
            rng.shuffle(items)
            data = dict(items)
        elif change == 4 and data:
            del data[rng.choice(list(data))]
        elif change == 5:
            order["lifecycle"] = None
        elif change == 6:
            data["extra"] = 1
        cause = rng.choice([None, "cause"])

        assert encode_lifecycle(event.position, event.type, data, cause, order) == (
            _encode_general(event.position, event.type, data, cause, order)
        )


def test_a_placement_and_a_fill_keep_their_stored_bytes() -> None:
    """Pinned: what the query API reads today (``projections/records.py``'s form)."""
    placed = {
        "symbol": "ACME",
        "order_id": 5,
        "user_id": 9,
        "side": "buy",
        "order_type": "limit",
        "price": 1010,
        "quantity": 30,
        "time_in_force": "gtc",
        "post_only": False,
        "max_notional": None,
        "expires_at": None,
        "client_order_id": None,
        "at": 77,
        "batch_id": "b1",
    }
    order: dict[str, Any] = {
        "symbol": "ACME",
        "order_id": 5,
        "user_id": 9,
        "side": "buy",
        "type": "limit",
        "time_in_force": "gtc",
        "post_only": False,
        "client_order_id": None,
        "batch_id": "b1",
        "created_at": 77,
        "lifecycle": [],
    }
    filled = {
        "symbol": "ACME",
        "order_id": 5,
        "user_id": 9,
        "trade_id": 3,
        "side": "buy",
        "price": 1000,
        "quantity": 10,
        "remaining": 20,
        "liquidity": "maker",
        "at": 90,
    }

    assert encode_lifecycle(11, "OrderPlacedInBatch", placed, "c", order) == (
        b'[11,-944066,"c",1010,30,null,null]'
    )
    assert encode_lifecycle(12, "OrderFilled", filled, None, order) == (
        b'[12,-1476,null,3,1000,10,20,"maker",90]'
    )
    assert encode_lifecycle(13, "OrderFilled", {**filled, "side": 1}, None, order) == (
        b'[13,-452,null,3,1,1000,10,20,"maker",90]'
    )
