"""Orders per user (current state, indexed by status and symbol) and each order's lifecycle.

Fed by ``order-<id>`` streams, which sit whole in one events partition: the projector owning
that partition is the only writer of the order's document, so the state is computed here
(absolute values), and the lifecycle list gets each event once (the checkpoint dedupes).

Engine events carry the id of the input they answer (``causation_id`` in their metadata): the
document keeps the latest as ``caused_by`` and each lifecycle entry its own, so a client can
tell the answer to *its* request (the ``event_id`` the command API returned) from any later
event of the order.

The document ``o:<order_id>`` keeps integers (price in ticks, ``notional`` = sum of price x quantity
of the fills, in ticks x shares, ``at`` in ns); the read helpers render them for the wire. The
document and the lifecycle entries are stored as arrays (``projections/records.py``), the
entries inside the document (one key and one write per order and batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from domain import streams
from domain.events import Event, with_defaults
from domain.order_requests import OrderPlaced
from domain.registry_events import OrderPlacedInBatch
from projections.base import Cache, Inputs, StoredEvent
from projections.changes import Changes
from projections.keys import ANY, ORDERS, Space
from projections.records import encode_lifecycle, encode_order, load_order

PLACED: Final = frozenset({"OrderPlaced", streams.ORDER_PLACED_IN_BATCH})
CLOSED_STATUSES: Final = frozenset({"filled", "cancelled", "expired", "rejected"})
STATUSES: Final = ("accepted", "partially_filled", "filled", "cancelled", "expired", "rejected")
_CLOSING: Final = {"OrderCancelled": "cancelled", "OrderExpired": "expired"}
_OPENING: Final = frozenset({"OrderAccepted", *PLACED})
_PLACEMENTS: Final[dict[str, type[Event]]] = {
    "OrderPlaced": OrderPlaced,
    streams.ORDER_PLACED_IN_BATCH: OrderPlacedInBatch,
}


class OrdersFold:
    """Order documents, per-user indexes and lifecycles."""

    name = ORDERS
    inputs = Inputs(streams=frozenset({"order-"}))

    def wanted(self, events: Sequence[StoredEvent], space: Space, cache: Cache) -> list[str]:
        """Documents of orders the batch changes but did not place and are not cached."""
        wanted: list[str] = []
        placed: set[str] = set()
        prefix = space.order(0)[:-1]
        for event in events:
            stream = event.stream_id
            if not stream.startswith("order-"):
                continue
            if event.type in PLACED:
                placed.add(stream)
                continue
            key = prefix + stream[6:]
            if stream not in placed and key not in cache:
                wanted.append(key)
        return wanted

    def load(self, raw: bytes | str) -> Any:
        """A stored order document as the fold keeps it."""
        return load_order(raw)

    def fold(self, events: Sequence[StoredEvent], space: Space, cache: Cache, out: Changes) -> None:
        """Order states, index moves and lifecycle entries of the batch."""
        before: dict[str, str | None] = {}
        doc_prefix, events_prefix = space.order(0)[:-1], space.order_events(0)[:-1]
        lifecycles = out.lists
        for event in events:
            stream = event.stream_id
            if not stream.startswith("order-"):
                continue
            key = doc_prefix + stream[6:]
            data = event.data
            if event.type in PLACED:
                data = placement_data(event.type, data)
                before.setdefault(key, None)
                cache[key] = _placed(event.position, data)
            state = cache.get(key)
            if state is None:
                continue  # a stream without its placement: nothing to show
            if key not in before:
                before[key] = state["status"]
            _evolve(state, event)
            cause = event.metadata.get("causation_id")
            if cause is not None:  # (an engine event: the id of the input it answers)
                state["caused_by"] = cause
            entry = encode_lifecycle(event.position, event.type, data, cause, state)
            embedded = state["lifecycle"]
            if embedded is not None:
                embedded.append(entry)
                continue
            # (a document stored before lifecycles moved into it: its list goes on)
            lifecycle = lifecycles.get(events_prefix + stream[6:])
            if lifecycle is None:
                lifecycles[events_prefix + stream[6:]] = [entry]
            else:
                lifecycle.append(entry)
        for key, status in before.items():
            state = cache[key]
            out.set_doc(key, encode_order(state))
            _index(state, status, space, out)
            if state["status"] in CLOSED_STATUSES:
                out.evict.append(key)


def placement_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A placement's data with every field, in its class's order: the command API leaves
    default values out (``domain.order_requests.PLACED_DEFAULTS``); the document and the
    lifecycle entry (a known shape, stored as an array) want them all."""
    cls = _PLACEMENTS[event_type]
    return data if len(data) == len(cls.FIELDS) else with_defaults(cls, data)


def _placed(position: int, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": data["order_id"],
        "user_id": data["user_id"],
        "client_order_id": data["client_order_id"],
        "symbol": data["symbol"],
        "side": data["side"],
        "type": data["order_type"],
        "time_in_force": data["time_in_force"],
        "post_only": data["post_only"],
        "price": data["price"],
        "quantity": data["quantity"],
        "filled": 0,
        "remaining": data["quantity"],
        "notional": 0,
        "status": "accepted",
        "reason": None,
        "created_at": data["at"],
        "updated_at": data["at"],
        "position": position,
        "batch_id": data.get("batch_id"),
        "caused_by": None,
        "lifecycle": [],
    }


def _evolve(state: dict[str, Any], event: StoredEvent) -> None:
    """One event's effect on an order's state."""
    data = event.data
    kind = event.type
    state["position"] = event.position
    if kind == "OrderFilled":
        state["filled"] += data["quantity"]
        state["notional"] += data["price"] * data["quantity"]
        state["remaining"] = data["remaining"]
        state["status"] = "filled" if data["remaining"] == 0 else "partially_filled"
    elif kind in _CLOSING:
        state["status"] = _CLOSING[kind]
        state["reason"] = data["reason"]
        state["remaining"] = 0
    elif kind == "OrderRejected":
        state["status"] = "rejected"
        state["reason"] = data["reason"]
        state["remaining"] = 0
    elif kind == "OrderReduced":
        state["remaining"] = data["remaining"]
    elif kind == "OrderAmended":
        state["price"] = data["price"]
        state["quantity"] = data["quantity"]
        state["remaining"] = data["remaining"]
    elif kind not in _OPENING:
        return  # requests and their rejections: lifecycle only
    state["updated_at"] = data["at"]


def _index(state: dict[str, Any], before: str | None, space: Space, out: Changes) -> None:
    """Keep the user's order indexes in step with the order's status: every order in
    ``uo:<user>:*:*`` and ``uo:<user>:*:<SYM>`` from its placement on, and in the index of its
    current status (``uo:<user>:<status>:*``). There is no index per status *and* symbol: the
    reader filters one of the two it has (:func:`projections.user_reads.orders`). It cost a
    third of the indexes' zset writes (4 members at placement and 4 per status change before,
    3 and 2 now), the costliest commands of the apply script (``INFO commandstats``)."""
    status = state["status"]
    if before == status:
        return
    user_id, score = state["user_id"], state["order_id"]
    member = str(score)
    if before is None:
        out.zadd(space.user_orders(user_id), member, score)
        out.zadd(space.user_orders(user_id, ANY, state["symbol"]), member, score)
    else:
        out.zrem(space.user_orders(user_id, before), member)
    out.zadd(space.user_orders(user_id, status), member, score)
