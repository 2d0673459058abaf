"""What every projection's fold shares: the stored-event shape, the state cache, the contract.

A fold is pure: stored events in, net :class:`~projections.changes.Changes` out. Some read
models need the state an earlier batch left (an order's fill count, an account's balance, a
resting order's price): that state lives in Redis as JSON documents, and a fold names the
documents it needs (:meth:`Fold.wanted`); the writer loads the missing ones (one ``MGET``) into
a per-partition :data:`Cache` before folding. Only the projector owning a partition writes
the documents of that partition's streams, so the cache stays exact while it owns it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from projections.changes import Changes
from projections.keys import Space

Cache = dict[str, Any]
"""Document key → decoded state (``None``: known to be absent)."""


class StoredEvent(Protocol):
    """The parts of a stored event (``event_store.RecordedEvent``) the folds read."""

    @property
    def position(self) -> int: ...

    @property
    def stream_id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...

    @property
    def metadata(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Inputs:
    """The events a fold reads: every event of streams starting with one of ``streams``, and
    events of ``types`` on any stream. The projector decodes no other message."""

    streams: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()

    def __or__(self, other: Inputs) -> Inputs:
        return Inputs(self.streams | other.streams, self.types | other.types)

    def wants(self, event: StoredEvent) -> bool:
        """Whether ``event`` is one of these inputs (the reference of the wire filter)."""
        return event.type in self.types or event.stream_id.startswith(tuple(self.streams))


class Fold(Protocol):
    """One projection's pure logic."""

    name: str
    inputs: Inputs

    def wanted(self, events: Sequence[StoredEvent], space: Space, cache: Cache) -> list[str]:
        """Document keys the fold needs that are not in ``cache`` yet."""
        ...

    def load(self, raw: bytes | str) -> Any:
        """A document of :meth:`wanted` as stored in Redis, decoded for the cache."""
        ...

    def fold(self, events: Sequence[StoredEvent], space: Space, cache: Cache, out: Changes) -> None:
        """Apply ``events`` (already deduplicated) to ``cache`` and record net changes.

        Keys of documents that no later event needs go to ``out.evict``: the writer drops
        them from the cache once the batch is committed.
        """
        ...
