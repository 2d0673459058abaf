"""The outbox relay: MariaDB events, in position order, to Kafka (``python -m workers.relay``).

A reader task fetches events after the last position read and hands each batch to the
producer (aiokafka's batch builder: one future per partition batch, not per message); an acker
task awaits the batches in order and moves the checkpoint only past what the broker
acknowledged. Killed anywhere, the relay restarts from its checkpoint and re-sends: nothing is
skipped, consumers dedupe by (stream_id, stream_version) or position. Routing (events, orders and
settlement topics; the bookkeeping streams stay off the events topic): see ``event_store.outbox``.

Caught up, the reader can wait ``EXCHANGE_RELAY_GATHER_S`` (0 by default: see
``RelaySettings.relay_gather_s``) after a short read before the next (:func:`pause_after`), so
small group commits are read, produced and fetched a few at a time rather than one round each;
it waits ``EXCHANGE_RELAY_POLL_INTERVAL_S`` after an empty read, never after a full one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable
from typing import Any

import uvloop
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from common.deployment import require_safe_secrets
from common.logging import configure_logging
from common.settings import RelaySettings
from event_store.connection import DB_ERRORS, connect_raw
from event_store.errors import EventStoreUnavailable
from event_store.outbox import OFF_EVENTS_TOPIC, OutboxRow, fetch_outbox, partition_of
from event_store.sql import INSERT_CHECKPOINTS

log = logging.getLogger("relay")

MAX_IN_FLIGHT_BATCHES = 4
CHECKPOINT_EVERY_S = 0.2
MAX_BACKOFF_S = 5.0
RETRYABLE: tuple[type[BaseException], ...] = (*DB_ERRORS, KafkaError, EventStoreUnavailable)


class Partitioner:
    """Kafka's default key → partition mapping (murmur2), memoised per key."""

    def __init__(self, partitions: int, memo_size: int = 200_000) -> None:
        self._partitions = partitions
        self._memo: dict[bytes, int] = {}
        self._memo_size = memo_size

    def __call__(self, key: bytes) -> int:
        partition = self._memo.get(key)
        if partition is None:
            if len(self._memo) >= self._memo_size:
                self._memo.clear()
            partition = partition_of(key, self._partitions)
            self._memo[key] = partition
        return partition


class Publisher:
    """Turns a batch of outbox rows into producer batches, one per (topic, partition)."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        events_topic: str,
        orders_topic: str,
        settlement_topic: str,
    ) -> None:
        self._producer = producer
        self._topics = (events_topic, orders_topic, settlement_topic)
        self._partitioners: tuple[Partitioner, ...] = ()

    async def start(self) -> None:
        """Learn the partition counts from the broker's metadata."""
        self._partitioners = tuple(
            [Partitioner(len(await self._producer.partitions_for(t))) for t in self._topics]
        )

    async def publish(self, rows: list[OutboxRow]) -> list[asyncio.Future[Any]]:
        """Queue every row for sending; the futures resolve when the broker acknowledged.

        Appending to an open batch is a plain call; only a full one is awaited (sent): an
        awaited coroutine per message and route cost ~8 % of publishing (~3 per event)."""
        assert self._partitioners, "call start() first"
        builders: dict[tuple[str, int], Any] = {}
        futures: list[asyncio.Future[Any]] = []
        events_topic, orders_topic, settlement_topic = self._topics
        events, orders, settlement = self._partitioners
        add = self._add
        for _, stream_key, symbol, user_key, value in rows:
            if not stream_key.startswith(OFF_EVENTS_TOPIC):
                target = (events_topic, events(stream_key))
                if not add(target, stream_key, value, builders):
                    await self._send_full(target, stream_key, value, builders, futures)
            if symbol is not None:
                key = symbol.encode()
                target = (orders_topic, orders(key))
                if not add(target, key, value, builders):
                    await self._send_full(target, key, value, builders, futures)
            if user_key is not None:
                target = (settlement_topic, settlement(user_key))
                if not add(target, user_key, value, builders):
                    await self._send_full(target, user_key, value, builders, futures)
        for (topic, partition), builder in builders.items():
            futures.append(await self._producer.send_batch(builder, topic, partition=partition))
        return futures

    def _add(
        self,
        target: tuple[str, int],
        key: bytes,
        value: bytes,
        builders: dict[tuple[str, int], Any],
    ) -> bool:
        """Append to the target's open batch (opened if none); False if it is full."""
        builder = builders.get(target)
        if builder is None:
            builder = builders[target] = self._producer.create_batch()
        return builder.append(key=key, value=value, timestamp=None) is not None

    async def _send_full(
        self,
        target: tuple[str, int],
        key: bytes,
        value: bytes,
        builders: dict[tuple[str, int], Any],
        futures: list[asyncio.Future[Any]],
    ) -> None:
        """Send the target's full batch and append the message to a new one."""
        futures.append(
            await self._producer.send_batch(builders[target], target[0], partition=target[1])
        )
        builder = builders[target] = self._producer.create_batch()
        if builder.append(key=key, value=value, timestamp=None) is None:
            raise ValueError(f"an event at {target} is larger than the producer batch")


class Relay:
    """One relay: a checkpointed loop from the store to Kafka."""

    def __init__(self, settings: RelaySettings) -> None:
        self._settings = settings
        self.checkpoint = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set, retrying with backoff while MariaDB or Kafka is down."""
        backoff = 0.1
        while not stop.is_set():
            started = time.monotonic()
            try:
                await _until_stopped(self._run_once(), stop)
                return
            except RETRYABLE as exc:
                if time.monotonic() - started > 10:
                    backoff = 0.1
                log.warning(
                    "relay interrupted, retrying",
                    extra={
                        "error": repr(exc),
                        "retry_in_s": backoff,
                        "checkpoint": self.checkpoint,
                    },
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _run_once(self) -> None:
        s = self._settings
        reader = await connect_raw(s.database_url, autocommit=True)
        writer = await connect_raw(s.database_url, autocommit=True)
        producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap,
            enable_idempotence=True,
            acks="all",
            max_batch_size=512 * 1024,
            linger_ms=0,
            request_timeout_ms=10_000,
        )
        try:
            await producer.start()
            publisher = Publisher(producer, s.events_topic, s.orders_topic, s.settlement_topic)
            await publisher.start()
            self.checkpoint = await _load_checkpoint(writer, s.relay_name)
            log.info("relay started", extra={"checkpoint": self.checkpoint, "relay": s.relay_name})
            in_flight: asyncio.Queue[tuple[int, int, int, list[asyncio.Future[Any]]]] = (
                asyncio.Queue(MAX_IN_FLIGHT_BATCHES)
            )
            async with asyncio.TaskGroup() as group:
                group.create_task(self._read(reader, publisher, in_flight))
                group.create_task(self._acknowledge(writer, in_flight))
        except* RETRYABLE as group_error:
            raise group_error.exceptions[0] from None
        finally:
            reader.close()
            writer.close()
            with contextlib.suppress(*RETRYABLE, TimeoutError):
                await asyncio.wait_for(producer.stop(), 5)

    async def _read(
        self,
        cursor_conn: Any,
        publisher: Publisher,
        in_flight: asyncio.Queue[tuple[int, int, int, list[asyncio.Future[Any]]]],
    ) -> None:
        after = self.checkpoint
        s = self._settings
        async with cursor_conn.cursor() as cursor:
            while True:
                rows = await fetch_outbox(cursor, after, s.relay_batch_size)
                if rows:
                    futures = await publisher.publish(rows)
                    await in_flight.put((rows[0][0], rows[-1][0], len(rows), futures))
                    after = rows[-1][0]
                pause = pause_after(len(rows), s)
                if pause > 0:
                    await asyncio.sleep(pause)

    async def _acknowledge(
        self,
        writer: Any,
        in_flight: asyncio.Queue[tuple[int, int, int, list[asyncio.Future[Any]]]],
    ) -> None:
        saved_at = time.monotonic()
        saved = self.checkpoint
        async with writer.cursor() as cursor:
            while True:
                if saved != self.checkpoint and in_flight.empty():
                    # Caught up: save unless a batch comes within the rest of the interval (an
                    # idle relay's checkpoint is saved within CHECKPOINT_EVERY_S). Saving after
                    # every batch that emptied the queue was one autocommit upsert, a redo log
                    # flush, per relay batch: ~0.04 per order, ~7 µs of MariaDB's CPU per order
                    # in the pipeline benchmark (its relay connection's thread).
                    wait_s = saved_at + CHECKPOINT_EVERY_S - time.monotonic()
                    try:
                        async with asyncio.timeout(wait_s):
                            batch = await in_flight.get()
                    except TimeoutError:
                        saved_at = await _save(cursor, self._settings.relay_name, self.checkpoint)
                        saved = self.checkpoint
                        continue
                else:
                    batch = await in_flight.get()
                first, last, count, futures = batch
                await asyncio.gather(*futures)
                self.checkpoint = last
                log.debug("batch acknowledged", extra={"first": first, "last": last, "n": count})
                if time.monotonic() - saved_at >= CHECKPOINT_EVERY_S:
                    saved_at = await _save(cursor, self._settings.relay_name, last)
                    saved = last
                    log.info("checkpoint", extra={"first": first, "last": last, "events": count})


def pause_after(fetched: int, settings: RelaySettings) -> float:
    """How long the reader waits before its next outbox SELECT, after one that returned
    ``fetched`` rows: the poll interval when it found nothing, the gather time when it was
    short (caught up: the rows just read are already on their way, and the next SELECT, produce
    request and consumer fetches carry a few group commits instead of one each), none when it
    was full (behind: never wait)."""
    if fetched == 0:
        return settings.relay_poll_interval_s
    if fetched < settings.relay_batch_size:
        return settings.relay_gather_s
    return 0.0


async def _load_checkpoint(conn: Any, name: str) -> int:
    async with conn.cursor() as cursor:
        await cursor.execute("SELECT position FROM checkpoints WHERE consumer = %s", (name,))
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _save(cursor: Any, name: str, position: int) -> float:
    await cursor.execute(INSERT_CHECKPOINTS, (name, position))
    return time.monotonic()


async def _until_stopped(work: Awaitable[None], stop: asyncio.Event) -> None:
    """Run ``work`` until it ends or ``stop`` is set (then cancel it)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return
    task.result()


async def main() -> None:
    """Run the relay until SIGTERM or SIGINT."""
    settings = RelaySettings()
    require_safe_secrets(settings.relay_name, settings)
    configure_logging(settings.relay_name, settings.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Relay(settings).run(stop)
    log.info("relay stopped")


if __name__ == "__main__":
    uvloop.run(main())
