"""The typed errors of the event store; the edge maps them to problem+json."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base class of every error raised by the event store."""


class WrongExpectedVersion(EventStoreError):
    """A stream was not at the version the append expected; nothing was appended."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream_id!r} is at version {actual}, the append expected {expected}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class CheckpointConflict(EventStoreError):
    """A ``must_advance`` checkpoint was not past the consumer's saved one; nothing was written."""

    def __init__(self, consumer: str, position: int, saved: int) -> None:
        super().__init__(f"consumer {consumer!r} is at position {saved}, not below {position}")
        self.consumer = consumer
        self.position = position
        self.saved = saved


class DuplicateEventId(EventStoreError):
    """Some, but not all, of an append's event ids were already recorded.

    A full retry (every event id already recorded) is not an error: it returns the original
    positions. A partial overlap means two different appends reused ids, which is a bug.
    """

    def __init__(self, event_ids: list[str]) -> None:
        super().__init__(f"event ids already recorded by another append: {event_ids[:5]}")
        self.event_ids = event_ids


class EventStoreUnavailable(EventStoreError):
    """MariaDB could not be reached or failed mid-append.

    The outcome of the append is unknown: retrying it with the same event ids is safe, because
    appends are idempotent by event id.
    """


class EventStoreClosed(EventStoreError):
    """The store (or its writer) was closed before the append could run."""
