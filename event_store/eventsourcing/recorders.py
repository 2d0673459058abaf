"""eventsourcing's recorders on the exchange's store (see ``codec`` for the row layout).

Events go in through the store's ``append``: its group-commit writer gives them global
positions under the sequence lock like every other event, which are their notification ids.
Each aggregate's events are one ``StreamAppend`` at the version of its first event
(``at_version``): the append conflicts if the aggregate already reached that version, which
eventsourcing sees as the ``IntegrityError`` its SQL recorders raise on their unique key.
Tracking records are ``must_advance`` checkpoints (``es:<application>:<upstream name>``) in the
same transaction, so an upstream notification is never processed twice, nor below the last.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    IntegrityError,
    ListenNotifySubscription,
    Notification,
    ProcessRecorder,
    ShutDown,
    StoredEvent,
    Tracking,
    TrackingRecorder,
)

from event_store.eventsourcing import codec, sql
from event_store.eventsourcing.bridge import StoreThread
from event_store.model import ANY, Checkpoint, StreamAppend

POLL_INTERVAL_S: Final = 0.1
"""How often a subscription looks for events appended by other processes (its own process's
appends wake it at once)."""


class ExchangeRecorder:
    """What every recorder has: the process's store and the application's prefix."""

    def __init__(self, store: StoreThread, prefix: str) -> None:
        self.store = store
        self.prefix = prefix

    def consumer(self, application_name: str) -> str:
        """The checkpoint that tracks the named upstream application."""
        return self.prefix + application_name

    def last_position(self) -> int:
        """The store's last position (every event up to it is committed)."""
        return self.store.run(self.store.store.last_position())

    def append(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> list[int]:
        """Append the events (and the tracking record) at once; their notification ids."""
        appends, offsets = stream_appends(self.prefix, stored_events)
        checkpoint = None
        if tracking is not None:
            checkpoint = Checkpoint(
                self.consumer(tracking.application_name), tracking.notification_id, True
            )
        if not appends:
            if checkpoint is not None:
                self.store.run(self.store.store.save_checkpoint(checkpoint))
            return []
        result = self.store.run(self.store.store.append(*appends, checkpoint=checkpoint))
        self.store.notify()
        return [result.first_position + offset for offset in offsets]

    def _select_stream(
        self,
        table: str,
        originator_id: UUID | str,
        gt: int | None,
        lte: int | None,
        desc: bool,
        limit: int | None,
    ) -> list[StoredEvent]:
        """An aggregate's rows of ``table`` (events or snapshots) by eventsourcing's version."""
        offset = codec.VERSION_OFFSET
        query, params = sql.select_stream(
            table,
            gt=None if gt is None else gt + offset,
            lte=None if lte is None else lte + offset,
            desc=desc,
            limit=limit,
        )
        stream = codec.stream_id(self.prefix, originator_id)
        rows = self.store.run(sql.fetch(self.store.engine, query, [stream, *params]))
        return [
            StoredEvent(
                originator_id, version - offset, topic, codec.decode_state(data, schema_version)
            )
            for version, topic, schema_version, data in rows
        ]


def stream_appends(
    prefix: str, stored_events: Sequence[StoredEvent]
) -> tuple[list[StreamAppend], list[int]]:
    """One append per aggregate, and each event's place among the positions the call gets.

    An aggregate's events must have consecutive versions (as aggregates produce them); a
    version repeated within the call is refused like a recorded one.
    """
    groups: dict[UUID | str, list[StoredEvent]] = {}
    for stored in stored_events:
        groups.setdefault(stored.originator_id, []).append(stored)
    appends: list[StreamAppend] = []
    place: dict[tuple[UUID | str, int], int] = {}
    for originator, events in groups.items():
        first = events[0].originator_version
        for index, stored in enumerate(events):
            if stored.originator_version != first + index:
                raise IntegrityError(
                    f"versions of {originator} in one insert must follow each other:"
                    f" {[e.originator_version for e in events]}"
                )
            place[(originator, stored.originator_version)] = len(place)
        try:
            appends.append(
                StreamAppend(
                    codec.stream_id(prefix, originator),
                    [codec.new_event(originator, e.topic, e.state) for e in events],
                    ANY,
                    at_version=first + codec.VERSION_OFFSET,
                )
            )
        except ValueError as exc:
            raise DataError(str(exc)) from exc
    offsets = [place[(e.originator_id, e.originator_version)] for e in stored_events]
    return appends, offsets


class ExchangeAggregateRecorder(ExchangeRecorder, AggregateRecorder):
    """Aggregate events in the ``events`` table (with positions, relayed like any other)."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Append the events atomically; ``IntegrityError`` if a version is taken."""
        self.append(stored_events, None)
        return None

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """An aggregate's events by version."""
        return self._select_stream("events", originator_id, gt, lte, desc, limit)


class ExchangeApplicationRecorder(ExchangeAggregateRecorder, ApplicationRecorder):
    """Aggregate events and the application's notification log (ids = store positions)."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Append the events atomically; their notification ids (store positions)."""
        return self.append(stored_events, None)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The application's events in position order.

        Positions are given out under the store's sequence lock and committed in that order, so
        a reader never sees a position before every lower one is committed: nothing it has
        read past can appear later.
        """
        query, params = sql.select_notifications(
            self.prefix, start, limit, stop, topics, inclusive_of_start=inclusive_of_start
        )
        rows = self.store.run(sql.fetch(self.store.engine, query, params))
        prefix, offset = self.prefix, codec.VERSION_OFFSET
        return [
            Notification(
                originator_id=codec.originator_id(prefix, stream, metadata),
                originator_version=version - offset,
                topic=topic,
                state=codec.decode_state(data, schema_version),
                id=position,
            )
            for position, stream, version, topic, schema_version, data, metadata in rows
        ]

    def max_notification_id(self) -> int | None:
        """The position of the application's newest event, ``None`` if it has none."""
        rows = self.store.run(
            sql.fetch(self.store.engine, sql.MAX_NOTIFICATION_ID, [len(self.prefix), self.prefix])
        )
        return int(rows[0][0]) if rows else None

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> ExchangeSubscription:
        """Follow the application's notifications from after ``gt``."""
        return ExchangeSubscription(self, gt, topics)


class ExchangeSubscription(ListenNotifySubscription[ExchangeApplicationRecorder]):
    """Notifications as they are committed: woken by this process's appends, and polled.

    Each pull reads up to the store's last position at its start and then resumes after it,
    so an idle application on a busy exchange never rescans what the exchange appended since.
    """

    def __init__(
        self, recorder: ExchangeApplicationRecorder, gt: int | None, topics: Sequence[str]
    ) -> None:
        self._stop_polling = threading.Event()  # before the pull thread can call stop()
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        recorder.store.listen(self._has_been_notified)
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def stop(self) -> None:
        """Stop pulling and polling."""
        super().stop()
        self._stop_polling.set()
        self._recorder.store.unlisten(self._has_been_notified)

    def _poll(self) -> None:
        while not self._stop_polling.wait(POLL_INTERVAL_S):
            self._has_been_notified.set()

    def _pull(self) -> None:
        while not self._has_been_stopped:
            self._has_been_notified.clear()
            end = self._recorder.last_position()
            notifications = self._recorder.select_notifications(
                start=self._last_notification_id or 0,
                limit=self._select_limit,
                stop=end,
                topics=self._topics,
                inclusive_of_start=False,
            )
            if notifications:
                try:
                    self._notifications_queue.put(notifications)
                except ShutDown:  # stopped meanwhile
                    break
                self._last_notification_id = notifications[-1].id
            if len(notifications) < self._select_limit:
                self._last_notification_id = max(self._last_notification_id or 0, end)
                break


class ExchangeTrackingRecorder(ExchangeRecorder, TrackingRecorder):
    """Tracking records as ``must_advance`` checkpoints."""

    def insert_tracking(self, tracking: Tracking) -> None:
        """Record it; ``IntegrityError`` unless it is past the last one of its application."""
        self.append((), tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        """The last notification id recorded for the named application, or ``None``."""
        rows = self.store.run(
            sql.fetch(self.store.engine, sql.MAX_TRACKING_ID, [self.consumer(application_name)])
        )
        return int(rows[0][0]) if rows else None


class ExchangeProcessRecorder(
    ExchangeTrackingRecorder, ExchangeApplicationRecorder, ProcessRecorder
):
    """Events and the tracking record of the notification they came from, in one append."""

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        tracking: Tracking | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """Append events and tracking atomically; ``IntegrityError`` if either conflicts."""
        return self.append(stored_events, tracking)


class ExchangeSnapshotRecorder(ExchangeRecorder, AggregateRecorder):
    """Snapshots (and any other non-``events`` purpose) in the ``snapshots`` table.

    Not events: no position, not relayed. Plain inserts on its (stream, version) key.
    """

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert the snapshots atomically; ``IntegrityError`` if one is recorded."""
        rows = []
        for stored in stored_events:
            state, schema_version = codec.encode_state(stored.state)
            rows.append(
                (
                    codec.stream_id(self.prefix, stored.originator_id),
                    stored.originator_version + codec.VERSION_OFFSET,
                    stored.topic,
                    schema_version,
                    state.decode(),
                )
            )
        if rows:
            self.store.run(sql.insert_all(self.store.engine, sql.INSERT_SNAPSHOT, rows))
        return None

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """An aggregate's snapshots by version."""
        return self._select_stream("snapshots", originator_id, gt, lte, desc, limit)
