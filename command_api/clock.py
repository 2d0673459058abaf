"""Time and identifiers, injected into the service layer so tests are deterministic."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

Clock = Callable[[], int]
"""Nanoseconds since the Unix epoch."""

_EPOCH_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z


def system_clock() -> int:
    """The wall clock in nanoseconds."""
    return time.time_ns()


class IdGenerator:
    """Integer ids below 2**53 (exact in JavaScript), roughly time-ordered.

    ``(microseconds since 2025 << 2) | process tag``, strictly increasing within a process; two
    processes collide only with the same tag in the same microsecond, and every id is claimed
    with an expected-"no stream" append, so a collision is a retry, never a shared id.
    """

    def __init__(self, clock: Clock = system_clock, tag: int | None = None) -> None:
        self._clock = clock
        self._tag = secrets.randbelow(4) if tag is None else tag & 3
        self._last = 0

    def __call__(self) -> int:
        """The next id."""
        now = max(self._clock() // 1000 - _EPOCH_US, 1)
        self._last = max(now, self._last + 1)
        return (self._last << 2) | self._tag
