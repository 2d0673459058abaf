"""``Idempotency-Key``: the first successful response of a key, kept in the store.

The record is appended in the same atomic append as the command's own events (expected "no
stream"), so a key is either recorded together with its effect or not at all, and it survives
restarts. Rejections (4xx) append nothing and are therefore not recorded: resending re-decides.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from common.problems import Problem
from domain import streams
from event_store.model import NO_STREAM, NewEvent, StreamAppend
from event_store.protocol import EventStore


@dataclass(frozen=True, slots=True)
class Written:
    """A successful write: its HTTP status and body (which includes ``position``)."""

    status: int
    body: dict[str, Any]

    @property
    def position(self) -> int:
        """The store position of the write's last event."""
        return int(self.body["position"])


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """A key, scoped to its caller, and the fingerprint of the request that used it."""

    stream_id: str
    request_hash: str


def claim(scope: str, key: str, method: str, path: str, body: Any) -> IdempotencyClaim:
    """The claim for ``key`` of caller ``scope`` on this request (body as parsed JSON)."""
    key_hash = hashlib.sha256(key.encode()).hexdigest()[:40]
    fingerprint = orjson.dumps([method, path, body], option=orjson.OPT_SORT_KEYS)
    return IdempotencyClaim(
        streams.idempotency(scope, key_hash), hashlib.sha256(fingerprint).hexdigest()
    )


async def replay(store: EventStore, claim: IdempotencyClaim | None) -> Written | None:
    """The first response given to this key, ``None`` if the key is new.

    Raises ``409 IDEMPOTENCY_KEY_REUSED`` when the key was used for a different request.
    """
    if claim is None:
        return None
    events = await store.read_stream(claim.stream_id, limit=1)
    if not events:
        return None
    recorded = events[0]
    if recorded.data["request_hash"] != claim.request_hash:
        raise Problem(
            409, "IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was used for another request."
        )
    return Written(
        int(recorded.data["status"]), {**recorded.data["body"], "position": recorded.position}
    )


def record(claim: IdempotencyClaim, status: int, body: dict[str, Any]) -> StreamAppend:
    """The append that records ``body`` (without its position) as the key's response."""
    data = {"request_hash": claim.request_hash, "status": status, "body": body}
    return StreamAppend(
        claim.stream_id, [NewEvent(streams.IDEMPOTENT_RESPONSE_RECORDED, data)], NO_STREAM
    )
