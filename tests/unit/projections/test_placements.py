"""A placement stored without its default values (``domain.order_requests.PLACED_DEFAULTS``)
projects exactly as the same placement stored in full before: same document, same lifecycle
entry (a known shape, stored as an array)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from projections.changes import Changes
from projections.keys import Space
from projections.orders import OrdersFold

SPACE = Space("t:")
FULL = {
    "symbol": "L5", "order_id": 7, "user_id": 9, "side": "buy", "order_type": "limit",
    "price": 9988, "quantity": 76, "time_in_force": "GTC", "post_only": False,
    "max_notional": None, "expires_at": None, "client_order_id": None, "at": 17, "batch_id": 5,
}  # fmt: skip
SLIM = {
    "symbol": "L5", "order_id": 7, "user_id": 9, "side": "buy", "order_type": "limit",
    "price": 9988, "quantity": 76, "time_in_force": "GTC", "at": 17, "batch_id": 5,
}  # fmt: skip


@dataclass(frozen=True)
class _Stored:
    position: int
    stream_id: str
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


def _projected(kind: str, data: dict[str, Any]) -> Changes:
    out = Changes()
    OrdersFold().fold([_Stored(3, "order-7", kind, data)], SPACE, {}, out)
    return out


@pytest.mark.parametrize("kind", ["OrderPlacedInBatch", "OrderPlaced"])
def test_a_slim_placement_projects_as_the_full_one(kind: str) -> None:
    drop = () if kind == "OrderPlacedInBatch" else ("batch_id",)
    full, slim = ({k: v for k, v in d.items() if k not in drop} for d in (FULL, SLIM))

    before, after = _projected(kind, full), _projected(kind, slim)

    assert after.docs == before.docs and after.docs
    assert after.zsets == before.zsets
    assert not after.lists  # (the lifecycle is in the document)
    (entry,) = orjson.loads(next(iter(after.docs.values())) or b"")[-1]
    assert isinstance(entry[1], int)  # a known shape: values only, no names
