"""What a write gives back (:class:`Written`), and ``Idempotency-Key``: its first response, kept
in the store.

The record is appended in the same atomic append as the command's own events (expected "no
stream"), so a key is either recorded together with its effect or not at all, and it survives
restarts. Rejections append nothing and are therefore not recorded: resending re-decides.

The record is the HTTP edge's response (``status`` and ``body``): the edge hands the status it
gives each :class:`Outcome` to the claim, and a replay reads the outcome back from it, so the
same request answers the same status and body again without the use cases knowing statuses.
A batch's record names its batch instead of holding the body (``IdempotentBatchResponseRecorded``,
see :func:`batch_body`): the batch's ``BatchPlaced`` holds everything the body says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from command_api.services.errors import IdempotencyKeyReused
from domain import streams
from event_store.model import NO_STREAM, RecordedEvent, StoredData
from event_store.planning import EncodedStream, new_stream
from event_store.protocol import EventStore


class Outcome(StrEnum):
    """What a successful write did."""

    CREATED = "created"
    """It wrote something new (a user, an instrument, a deposit, an order)."""
    ACCEPTED = "accepted"
    """It handed a request to the matching engine, which carries it out later (cancel, amend)."""
    ORIGINAL = "original"
    """It wrote nothing: the request repeats an earlier one (the same ``client_order_id``),
    whose result it gives."""


@dataclass(frozen=True, slots=True)
class Written:
    """A successful write: what it did and its result (``body`` includes ``position``).

    ``replayed`` is true when this is the recorded first response to an ``Idempotency-Key``;
    ``recorded`` when the write appended the key's record (expected: no stream) together with
    its effect, which proves the key new.
    """

    outcome: Outcome
    body: dict[str, Any]
    replayed: bool = False
    recorded: bool = False

    @property
    def position(self) -> int:
        """The store position of the write's last event."""
        return int(self.body["position"])


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """A key, scoped to its caller, the fingerprint of the request that used it, and the status
    the edge answers each outcome with (recorded with the response, read back on a replay)."""

    stream_id: str
    request_hash: str
    statuses: Mapping[Outcome, int]


def claim(
    scope: str, key: str, method: str, path: str, body: Any, statuses: Mapping[Outcome, int]
) -> IdempotencyClaim:
    """The claim for ``key`` of caller ``scope`` on this request (body as parsed JSON)."""
    key_hash = hashlib.sha256(key.encode()).hexdigest()[:40]
    fingerprint = orjson.dumps([method, path, body], option=orjson.OPT_SORT_KEYS)
    return IdempotencyClaim(
        streams.idempotency(scope, key_hash), hashlib.sha256(fingerprint).hexdigest(), statuses
    )


FirstEvent = Callable[[str], Awaitable[StoredData | None]]
"""Reads a stream's first event (``Repository.first_stored``: one statement with the other
requests' reads)."""


async def replay(
    store: EventStore, claim: IdempotencyClaim | None, first: FirstEvent | None = None
) -> Written | None:
    """The first response given to this key, ``None`` if the key is new; its record read with
    ``first`` if given (the store's ``read_stream`` otherwise).

    Raises ``IdempotencyKeyReused`` when the key was used for a different request.
    """
    if claim is None:
        return None
    if first is not None:
        recorded: StoredData | RecordedEvent | None = await first(claim.stream_id)
    else:
        events = await store.read_stream(claim.stream_id, limit=1)
        recorded = events[0] if events else None
    if recorded is None:
        return None
    data = recorded.data
    if data["request_hash"] != claim.request_hash:
        raise IdempotencyKeyReused("This Idempotency-Key was used for another request.")
    if recorded.type == streams.IDEMPOTENT_BATCH_RESPONSE_RECORDED:
        body = await _recorded_batch_body(store, data["batch_id"])
    else:
        body = dict(data["body"])
    body["position"] = recorded.position
    return Written(_outcome(claim, int(data["status"])), body, replayed=True)


def record(
    claim: IdempotencyClaim, outcome: Outcome, body: dict[str, Any], batch_id: int | None = None
) -> EncodedStream:
    """The append that records ``body`` (without its position) as the key's response; or, for
    the batch ``batch_id`` whose ``BatchPlaced`` the same append holds, the batch it gives.

    Encoded here (``new_stream``: the data of ``IdempotentResponseRecorded.to_dict()`` or
    ``IdempotentBatchResponseRecorded.to_dict()`` as a literal, no metadata): one per keyed
    write, built as the event, ``NewEvent`` and ``StreamAppend`` and encoded by
    ``encode_append`` it was ~4 % of the command API's samples under single POSTs."""
    status = claim.statuses[outcome]
    if batch_id is None:
        data = {"request_hash": claim.request_hash, "status": status, "body": body}
        event_type = _RECORDED
    else:
        data = {"request_hash": claim.request_hash, "status": status, "batch_id": batch_id}
        event_type = streams.IDEMPOTENT_BATCH_RESPONSE_RECORDED
    return new_stream(claim.stream_id, NO_STREAM, event_type, orjson.dumps(data), _NO_METADATA)


_RECORDED = streams.IDEMPOTENT_RESPONSE_RECORDED
_NO_METADATA = b"{}"
"""``orjson.dumps({})``: the record's metadata (a ``NewEvent``'s default)."""


def batch_body(batch_id: int, legs: Iterable[Mapping[str, Any]], event_id: str) -> dict[str, Any]:
    """The response body (without its position) of the batch ``batch_id`` whose ``BatchPlaced``
    (event ``event_id``) holds the stored ``legs``: the first response and a replay's."""
    orders = [
        {
            "order_id": leg["order_id"],
            "client_order_id": leg.get("client_order_id"),
            "status": "accepted",
        }
        for leg in legs
    ]
    return {"batch_id": batch_id, "orders": orders, "event_id": event_id}


async def _recorded_batch_body(store: EventStore, batch_id: int) -> dict[str, Any]:
    """The body recorded by reference: rebuilt from the batch's ``BatchPlaced``."""
    placed = await store.read_stream(streams.batch(batch_id), limit=1)
    if not placed:
        raise LookupError(f"batch {batch_id} of an idempotent response is not in the store")
    return batch_body(batch_id, placed[0].data["orders"], str(placed[0].event_id))


def _outcome(claim: IdempotencyClaim, status: int) -> Outcome:
    """The outcome the edge answered with ``status`` (its statuses tell outcomes apart)."""
    for outcome, given in claim.statuses.items():
        if given == status:
            return outcome
    raise LookupError(f"no outcome is answered with status {status} (recorded in {claim})")
