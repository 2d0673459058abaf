"""What a worker of the consumer loop (``workers.consumer``) implements, and what it raises.

The loop's side of the contract is in ``consumer.py``; these are the worker's: the
:class:`PartitionWorker` protocol, the :class:`Resume` point it reloads, and the errors that
make the loop back off, reload the partition and apply again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka.errors import KafkaError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from event_store.connection import DB_ERRORS
from event_store.errors import EventStoreUnavailable


class Fenced(Exception):
    """The worker no longer owns the partition it tried to write for (another one appended)."""


class Busy(Exception):
    """A batch kept conflicting with concurrent writers: back off, reload and try again."""


RETRYABLE: tuple[type[BaseException], ...] = (
    *DB_ERRORS,
    EventStoreUnavailable,
    KafkaError,
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)
"""Errors of an unavailable dependency: back off and try again."""
RELOAD_ON: tuple[type[BaseException], ...] = (Fenced, Busy, *RETRYABLE)
"""Errors after which a worker's in-memory state of the partition is reloaded."""


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a partition's durable state stands."""

    position: int
    """The last store position applied; the loop skips events at or below it."""
    offset: int | None
    """The Kafka offset of the next message to read, or ``None`` for the partition's start."""


class Positioned(Protocol):
    """A decoded message: all the loop reads of it is its store position."""

    @property
    def position(self) -> int:
        """The event's position in the store."""
        ...


class PartitionWorker(Protocol):
    """A worker's decisions, per partition of its topic."""

    @property
    def group(self) -> str:
        """The Kafka consumer group (also the worker's name in logs and metrics)."""
        ...

    @property
    def topic(self) -> str:
        """The topic it consumes."""
        ...

    async def assign(self, partition: int) -> Resume:
        """Load the durable state of a partition now owned (again)."""
        ...

    async def revoke(self, partition: int) -> None:
        """Forget a partition no longer owned."""
        ...

    async def apply(self, partition: int, events: list[Any], next_offset: int) -> None:
        """Make the batch's effect and the checkpoint durable together, or raise.

        ``events`` are the batch's new messages as the worker's ``decode(value)`` gives them,
        if it has one (anything with a ``position``), else as ``RecordedEvent``\\ s
        (``event_from_message``).

        Optional: ``prefetch(partition, keys)`` is called with the Kafka keys of a fetched
        batch before it is decoded (a worker that knows its reads from the keys starts them).

        Optional, for a pipelined worker: ``start(partition, events, next_offset)`` decides the
        batch and submits it once the partition's previous batch is durable, raising if that one
        failed (then neither is applied); it returns only once that previous batch is durable,
        even when this one has nothing to submit (the loop then commits the previous batch's
        Kafka offset), unless the worker says itself how far each partition is durable
        (``durable_offset(partition)``: the Kafka offset after its last durable batch; the
        matching worker, whose ``start`` returns while the batches before it commit).
        ``flush(partition)`` waits until what was started is durable, or raises likewise.
        ``apply`` = ``start`` + ``flush``.
        """
        ...
