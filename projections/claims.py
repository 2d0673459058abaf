"""What the projection writer holds for a partition it claimed: the fencing epoch, the
generation and the checkpoint of each projection, and the cache of documents its folds need."""

from __future__ import annotations

from dataclasses import dataclass, field

from projections.base import Cache


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Last position applied and the next Kafka offset (``None``: not from Kafka)."""

    position: int
    offset: int | None

    def encode(self) -> str:
        """The stored form ``"<position>:<offset or ->"``."""
        return f"{self.position}:{'-' if self.offset is None else self.offset}"

    @classmethod
    def decode(cls, raw: bytes | str | None) -> Checkpoint:
        """Parse the stored form (absent = nothing applied)."""
        if raw is None:
            return cls(0, None)
        text = raw.decode() if isinstance(raw, bytes) else raw
        position, _, offset = text.partition(":")
        return cls(int(position), None if offset in ("", "-") else int(offset))


@dataclass(slots=True)
class Claim:
    """What the writer holds for one partition."""

    epoch: str
    gens: dict[str, int]
    checkpoints: dict[str, Checkpoint]
    stored: dict[str, str] = field(default_factory=dict)
    """Each checkpoint as stored ("" = absent): the compare-and-set's expected value."""
    cache: Cache = field(default_factory=dict)
    stale: bool = False
    applied: Checkpoint | None = None
    """Where Redis stands: ``checkpoints`` run ahead of it while a chunk's script is in flight
    (the next chunk's compare-and-set expects them), this moves once the script returned."""

    def resume(self) -> Checkpoint:
        """Where the partition's input resumes: the least advanced projection."""
        return least(self.checkpoints)


def least(checkpoints: dict[str, Checkpoint]) -> Checkpoint:
    """The checkpoint of the least advanced projection (position and Kafka offset)."""
    first = min(checkpoints.values(), key=lambda c: c.position)
    offsets = [c.offset for c in checkpoints.values()]
    offset = None if None in offsets else min(o for o in offsets if o is not None)
    return Checkpoint(first.position, offset)


def stored_text(raw: bytes | str | None) -> str:
    """A checkpoint key's value as text ("" = absent): what the compare-and-set expects."""
    if raw is None:
        return ""
    return raw.decode() if isinstance(raw, bytes) else raw
