"""The query API hashes a presented key exactly as the command API stored it."""

from __future__ import annotations

from command_api.services.admin import hash_key as stored_hash
from query_api.deps import hash_key


def test_a_key_hashes_to_what_api_key_issued_holds() -> None:
    for key in ("xk_abc", "dev-admin-key", "ü-unicode"):
        assert hash_key(key) == stored_hash(key)
