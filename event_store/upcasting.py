"""Upcasters: old event (or snapshot) payloads are brought to their latest schema on read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """A registry of functions keyed by ``(type, schema_version)``.

    The upcaster registered for ``(type, n)`` turns a version-``n`` payload into version
    ``n + 1``; on read they are chained until no upcaster matches.
    """

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int, upcaster: Upcaster) -> None:
        """Register ``upcaster`` for ``event_type`` payloads at ``from_version``."""
        key = (event_type, from_version)
        if key in self._by_key:
            raise ValueError(f"an upcaster for {key} is already registered")
        self._by_key[key] = upcaster

    @property
    def registered(self) -> bool:
        """Whether any upcaster is registered (a reader can skip :meth:`upcast` if not)."""
        return bool(self._by_key)

    def upcast(
        self, event_type: str, schema_version: int, data: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """The payload at its latest schema version, and that version."""
        if not self._by_key:
            return schema_version, data
        upcaster = self._by_key.get((event_type, schema_version))
        while upcaster is not None:
            data = upcaster(data)
            schema_version += 1
            upcaster = self._by_key.get((event_type, schema_version))
        return schema_version, data
