"""eventsourcing's ``StoredEvent`` as rows of the exchange's tables, and back.

* **Stream id**: ``es:<application name, lower case>:<originator id>``. The prefix keeps each
  application's aggregates apart from the exchange's streams (``order-…``, ``account-…``) and
  from other applications', and lets an application read back only its own notifications.
* **Version**: ``stream_version = originator_version + 1``. eventsourcing numbers may start at
  0 (its test suites do) while the store's version 0 means "no event", so every version moves
  up by one; an aggregate's first event (version 1) is stored at version 2.
* **Type**: the event's topic (``module:Class.Event``), at most 200 characters.
* **Data**: the ``events.data`` column must hold a JSON object (the relay splices it into the
  Kafka message as is). A state that is one (eventsourcing's default JSON transcoder makes
  one) is stored unchanged and read back byte for byte, ``schema_version`` 1; any other state
  (compressed, encrypted, not JSON) is stored as ``{"base64": "…"}``, ``schema_version`` 2.
* **Metadata**: ``{"originator_id_type": "uuid"}`` or ``"str"``, so a notification's
  originator id comes back with the type it was given.
"""

from __future__ import annotations

import base64
from typing import Final
from uuid import UUID

import orjson

from event_store.model import FOREIGN_STREAM_PREFIX, NewEvent

VERSION_OFFSET: Final = 1
"""``stream_version - originator_version``."""

JSON_STATE: Final = 1
"""``schema_version`` of a state stored as the JSON object it is."""
BASE64_STATE: Final = 2
"""``schema_version`` of a state stored as ``{"base64": …}``."""

_UUID_META: Final = {"originator_id_type": "uuid"}
_STR_META: Final = {"originator_id_type": "str"}
_UUID_META_TEXT: Final = orjson.dumps(_UUID_META).decode()


def stream_prefix(application_name: str) -> str:
    """The prefix of every stream (and tracking consumer) of the named application."""
    return f"{FOREIGN_STREAM_PREFIX}{application_name.lower()}:"


def stream_id(prefix: str, originator_id: UUID | str) -> str:
    """The stream of an originator (aggregate)."""
    return prefix + str(originator_id)


def originator_id(prefix: str, stream: str, metadata: str) -> UUID | str:
    """The originator id of an application's stream, with the type it was stored with."""
    text = stream[len(prefix) :]
    return UUID(text) if metadata == _UUID_META_TEXT else text


def new_event(originator: UUID | str, topic: str, state: bytes) -> NewEvent:
    """The store's ``NewEvent`` for an eventsourcing stored event."""
    data, schema_version = encode_state(state)
    meta = _UUID_META if isinstance(originator, UUID) else _STR_META
    return NewEvent(topic, orjson.Fragment(data), meta, schema_version=schema_version)


def encode_state(state: bytes) -> tuple[bytes, int]:
    """The JSON object to store for ``state``, and its ``schema_version``."""
    if state[:1] == b"{":
        try:
            parsed = orjson.loads(state)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return state, JSON_STATE
    return orjson.dumps({"base64": base64.b64encode(state).decode("ascii")}), BASE64_STATE


def decode_state(data: str | bytes, schema_version: int) -> bytes:
    """The state bytes stored as ``data`` (see :func:`encode_state`)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if schema_version == JSON_STATE:
        return raw
    if schema_version == BASE64_STATE:
        return base64.b64decode(orjson.loads(raw)["base64"])
    raise ValueError(f"unknown stored state encoding {schema_version}")
