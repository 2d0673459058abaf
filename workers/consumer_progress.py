"""What the consumer loop keeps besides the worker's output: Kafka offsets and progress lines."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger("consumer")

PROGRESS_EVERY_S = 5.0
COMMIT_EVERY_S = 1.0


class Offsets:
    """Kafka offsets of applied batches, committed about once a second and whenever idle.

    They are for monitoring and drain checks only (lag per group): a worker resumes from the
    offset it stored with its own output, so committing is never on the batch's path. The loop
    commits them only when the batches they follow are durable (a pipelined worker's flushed).
    """

    def __init__(
        self, consumer: AIOKafkaConsumer, durable: Callable[[int], int | None] | None = None
    ) -> None:
        self._consumer = consumer
        self._durable = durable
        """A pipelined worker's own word on how far a partition is durable (its
        ``durable_offset``), for a worker whose ``start`` may return before its previous batch
        is durable."""
        self._pending: dict[TopicPartition, int] = {}
        self._started: dict[TopicPartition, int] = {}
        self._since = time.monotonic()

    def done(self, tp: TopicPartition, next_offset: int) -> None:
        """The batch before ``next_offset`` is durable (what was started before it is
        superseded: a partition resumed from its durable state)."""
        self._pending[tp] = next_offset
        self._started.pop(tp, None)

    def started(self, tp: TopicPartition, next_offset: int) -> None:
        """A pipelined worker started the batch before ``next_offset``: the one it started
        before on that partition is durable now (a ``start`` returns only once the partition's
        previous batch is, see ``PartitionWorker``; or, if it says itself how far it is durable,
        up to there), so it is committed within a second, while the pipeline keeps running: the
        group's lag stays true under a long backlog."""
        previous = self._started.get(tp)
        if self._durable is not None:
            durable = self._durable(tp.partition)
            previous = durable if previous is None or durable is None else min(durable, previous)
        if previous is not None:
            self._pending[tp] = previous
        self._started[tp] = next_offset

    def caught_up(self, tp: TopicPartition, next_offset: int) -> None:
        """A pipelined worker had applied every message before ``next_offset`` already: as
        durable as what it started last on the partition, or now if nothing is in flight."""
        if tp in self._started:
            self._started[tp] = next_offset
        else:
            self._pending[tp] = next_offset

    def flushed(self, tp: TopicPartition) -> None:
        """What was started on the partition is durable (the worker's ``flush`` returned)."""
        started = self._started.pop(tp, None)
        if started is not None:
            self._pending[tp] = started

    def forget(self, tp: TopicPartition) -> None:
        """Not done after all (a pipelined batch failed): the partition is sought back."""
        self._pending.pop(tp, None)
        self._started.pop(tp, None)

    def due(self, idle: bool) -> bool:
        """Whether to commit now: when nothing came (after a flush of what was started), or
        once a second what is durable already (never a flush then: it would stall the
        pipeline)."""
        if idle:
            return bool(self._pending or self._started)
        return bool(self._pending) and time.monotonic() - self._since >= COMMIT_EVERY_S

    async def commit(self) -> None:
        pending, self._pending = self._pending, {}
        self._since = time.monotonic()
        owned = self._consumer.assignment()
        commit = {tp: offset for tp, offset in pending.items() if tp in owned}
        if commit:
            with contextlib.suppress(KafkaError):
                await self._consumer.commit(commit)


class Progress:
    """A JSON progress line every few seconds while events flow."""

    def __init__(self, group: str) -> None:
        self._group = group
        self._since = time.monotonic()
        self._count = 0

    def add(self, applied: int) -> None:
        self._count += applied

    def maybe_log(self, positions: dict[int, int]) -> None:
        now = time.monotonic()
        if now - self._since < PROGRESS_EVERY_S:
            return
        if self._count:
            log.info(
                "progress",
                extra={
                    "group": self._group,
                    "events": self._count,
                    "events_per_s": round(self._count / (now - self._since)),
                    "positions": {str(p): v for p, v in sorted(positions.items())},
                },
            )
        self._since, self._count = now, 0
