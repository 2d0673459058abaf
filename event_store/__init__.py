"""The event store: the exchange's single source of truth (see README.md in this folder)."""

from event_store.errors import (
    CheckpointConflict,
    DuplicateEventId,
    EventStoreClosed,
    EventStoreError,
    EventStoreUnavailable,
    WrongExpectedVersion,
)
from event_store.mariadb import MariaDbEventStore
from event_store.memory import InMemoryEventStore
from event_store.model import (
    ANY,
    NO_STREAM,
    AppendResult,
    Checkpoint,
    NewEvent,
    RecordedEvent,
    Snapshot,
    StoredData,
    StreamAppend,
)
from event_store.protocol import EventStore
from event_store.upcasting import Upcasters

__all__ = [
    "ANY",
    "NO_STREAM",
    "AppendResult",
    "Checkpoint",
    "CheckpointConflict",
    "DuplicateEventId",
    "EventStore",
    "EventStoreClosed",
    "EventStoreError",
    "EventStoreUnavailable",
    "InMemoryEventStore",
    "MariaDbEventStore",
    "NewEvent",
    "RecordedEvent",
    "Snapshot",
    "StoredData",
    "StreamAppend",
    "Upcasters",
    "WrongExpectedVersion",
]
