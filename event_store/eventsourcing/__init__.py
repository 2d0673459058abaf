"""A persistence module for eventsourcing (pyeventsourcing) on the exchange's MariaDB store.

    PERSISTENCE_MODULE=event_store.eventsourcing
    EXCHANGE_DATABASE_URL=mysql+asyncmy://user:password@host:3306/exchange

Both are read the way eventsourcing reads its own modules' settings (so ``<APP>_`` prefixed
names win for one application). The tables are the exchange's, created by its migrations
(``./exchange migrate``); ``CREATE_TABLE`` is ignored.

Events are appended through the store's own ``append``, so they get gap-free global positions
from the same sequence as every other event (their notification ids) and the relay publishes
them to the events topic like any other. See ``codec`` for how they are laid out and
``recorders`` for what each recorder does.

Why the async store on a loop of its own rather than a synchronous driver: eventsourcing's
recorders are synchronous, and a sync driver would mean a second append path beside the store's
group-commit writer, with its own copy of the position and version rules to keep identical.
Running the one ``MariaDbEventStore`` of the process on an event loop in a daemon thread
(``bridge``) keeps a single implementation of those rules, and lets the appends of all the
threads of an eventsourcing application share the writer's batched transactions. The price is a
thread hop per call (tens of microseconds), small next to a commit.
"""

from __future__ import annotations

from typing import Final, TypeVar

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic

from event_store.eventsourcing import bridge, codec
from event_store.eventsourcing.recorders import (
    ExchangeAggregateRecorder,
    ExchangeApplicationRecorder,
    ExchangeProcessRecorder,
    ExchangeRecorder,
    ExchangeSnapshotRecorder,
    ExchangeTrackingRecorder,
)

TRecorder = TypeVar("TRecorder", bound=ExchangeRecorder)


class Factory(InfrastructureFactory[ExchangeTrackingRecorder]):
    """The recorders of an eventsourcing application, on the exchange's store."""

    DATABASE_URL: Final = "EXCHANGE_DATABASE_URL"

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        url = self.env.get(self.DATABASE_URL)
        if not url:
            raise OSError(
                f"the exchange's database URL was not found in the environment with key"
                f" '{self.DATABASE_URL}'"
            )
        self._url = url
        self._store: bridge.StoreThread | None = bridge.acquire(url)

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        """Events in the events table; snapshots (any other purpose) in the snapshots table."""
        prefix = self._prefix()
        if purpose == "events":
            return ExchangeAggregateRecorder(self._open(), prefix)
        if purpose != "snapshots":
            prefix += f"{purpose}:"
        return ExchangeSnapshotRecorder(self._open(), prefix)

    def application_recorder(self) -> ApplicationRecorder:
        """The application's events and notification log (``APPLICATION_RECORDER_TOPIC``)."""
        cls = self._class(self.APPLICATION_RECORDER_TOPIC, ExchangeApplicationRecorder)
        return cls(self._open(), self._prefix())

    def tracking_recorder(
        self, tracking_recorder_class: type[ExchangeTrackingRecorder] | None = None
    ) -> ExchangeTrackingRecorder:
        """Tracking records (``TRACKING_RECORDER_TOPIC`` or the class given)."""
        cls = tracking_recorder_class or self._class(
            self.TRACKING_RECORDER_TOPIC, ExchangeTrackingRecorder
        )
        return cls(self._open(), self._prefix())

    def process_recorder(self) -> ProcessRecorder:
        """Events with tracking records (``PROCESS_RECORDER_TOPIC``)."""
        cls = self._class(self.PROCESS_RECORDER_TOPIC, ExchangeProcessRecorder)
        return cls(self._open(), self._prefix())

    def close(self) -> None:
        """Let go of the process's store (the last factory to close it stops it)."""
        if self._store is not None:
            self._store = None
            bridge.release(self._url)

    def _open(self) -> bridge.StoreThread:
        if self._store is None:
            raise OSError("the infrastructure factory is closed")
        return self._store

    def _prefix(self) -> str:
        return codec.stream_prefix(self.env.name)

    def _class(self, topic_key: str, default: type[TRecorder]) -> type[TRecorder]:
        topic = self.env.get(topic_key)
        if not topic:
            return default
        cls = resolve_topic(topic)
        if not (isinstance(cls, type) and issubclass(cls, default)):
            raise TypeError(f"{topic_key}={topic!r} is not a subclass of {default.__name__}")
        return cls
