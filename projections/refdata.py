"""Reference data: users, API key hashes (for the query API's authentication), instruments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from domain import streams
from projections.base import Cache, Inputs, StoredEvent
from projections.changes import Changes
from projections.keys import REFDATA, Space


class RefdataFold:
    """Users, key hashes and instruments: set once, never changed."""

    name = REFDATA
    inputs = Inputs(
        types=frozenset(
            {streams.USER_REGISTERED, streams.API_KEY_ISSUED, streams.INSTRUMENT_LISTED}
        )
    )

    def wanted(self, events: Sequence[StoredEvent], space: Space, cache: Cache) -> list[str]:
        """Nothing: every change is a plain write."""
        return []

    def load(self, raw: bytes | str) -> Any:
        """Never called: the fold reads no documents."""
        return orjson.loads(raw)

    def fold(self, events: Sequence[StoredEvent], space: Space, cache: Cache, out: Changes) -> None:
        """Hash fields for each registration, key and listing."""
        for event in events:
            kind = event.type
            data = event.data
            if kind == streams.USER_REGISTERED:
                user = {"user_id": data["user_id"], "username": data["username"], "at": data["at"]}
                out.hset(space.users(), str(data["user_id"]), orjson.dumps(user).decode())
            elif kind == streams.API_KEY_ISSUED:
                out.hset(space.auth(), data["key_hash"], str(data["user_id"]))
            elif kind == streams.INSTRUMENT_LISTED:
                listed = {k: v for k, v in data.items() if k != "at"}
                listed["listed_at"] = data["at"]
                out.hset(space.instruments(), data["symbol"], orjson.dumps(listed).decode())
