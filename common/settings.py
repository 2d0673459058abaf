"""Process settings, read from the environment (``EXCHANGE_*``) with local-stack defaults.

Every process has one settings class; they share the infrastructure fields so the same
variable names work for the native stack, the test stack and ``compose.yaml``.
"""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["dev", "test", "production"]
"""Where a process runs: the local dev or test stack, or a deployment (``production``)."""


class InfraSettings(BaseSettings):
    """Where the shared infrastructure lives; the defaults are the native dev stack's."""

    model_config = SettingsConfigDict(env_prefix="EXCHANGE_", extra="ignore")

    env: Environment = "dev"
    """``EXCHANGE_ENV``: outside ``dev``/``test`` a process refuses well-known or missing secrets
    (``common.deployment``). The container image sets ``production``."""
    database_url: str = "mysql+asyncmy://exchange:exchange@127.0.0.1:3306/exchange"
    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    orders_topic: str = "exchange.orders"
    orders_partitions: int = 4
    events_topic: str = "exchange.events"
    events_partitions: int = 4
    settlement_topic: str = "exchange.settlement"
    """The settlement worker's inputs, keyed by the owning user (``event_store.outbox``)."""
    settlement_partitions: int = 4
    log_level: str = "INFO"
    dependency_timeout_s: float = 2.0


class ApiSettings(InfraSettings):
    """Settings shared by both HTTP APIs."""

    host: str = "127.0.0.1"
    port: int = 8001
    workers: int = 1
    max_in_flight: int = 2048
    admin_key: str = "dev-admin-key"
    """The admin's bearer key; the dev value is refused outside the local stacks."""
    header_timeout_s: float = 10.0
    """A request's headers must arrive within this (``common.http_protocol``): slowloris."""
    body_timeout_s: float = 30.0
    """A request's body must arrive within this after its headers."""


class CommandApiSettings(ApiSettings):
    """The command API (the only write door)."""

    session_close_utc: str = "21:00"
    """When DAY orders expire (HH:MM, UTC)."""


class QueryApiSettings(ApiSettings):
    """The query API (reads Redis only)."""

    port: int = 8002
    min_position_wait_s: float = 3.0
    """How long ``min_position`` waits before ``503`` + ``Retry-After``."""
    projection_prefix: str = "x"
    """Prefix of every read-model key in Redis (shared with the projector)."""
    ws_queue_max: int = 256
    """Market-data messages buffered per WebSocket client before it is dropped as too slow."""


class RelaySettings(InfraSettings):
    """The outbox relay: store → Kafka."""

    relay_batch_size: int = 20000
    relay_poll_interval_s: float = 0.05
    """How long the relay sleeps after an outbox read that found nothing."""
    relay_gather_s: float = 0.0
    """How long the relay waits after a short read (fewer rows than ``relay_batch_size``)
    before its next outbox SELECT, so one SELECT, one produce request and the consumers'
    fetches carry what a few group commits appended rather than one each (0: read again at
    once). A full read is followed at once: a relay behind never waits. Off by default: on a
    loaded 2-core machine (load 11-24) the relay already read ~10 orders a SELECT (16-33
    produce requests/s at 150-320 orders/s, ``benchmarks.single_posts``) and 10-25 ms changed
    no process's CPU per order beyond the noise; under a trickle (``--concurrency 4``) 25 ms
    cut e2e p50/p99 from 184-210/509-836 to 119/276 ms (it replaces the empty read and the
    poll interval's 50 ms) for ~40 % more produce requests/s; two pipeline runs at 25 ms had
    half-rate e2e p99 2,154 and 1,613 ms against 261 and 848 at 0 (22-26 samples each).
    Worth measuring on a quiet machine, where the relay turns around faster."""
    relay_name: str = "relay"


class WorkerSettings(InfraSettings):
    """What every consumer worker shares."""

    ops_host: str = "127.0.0.1"
    ops_port: int = 0
    """Port of the worker's ``/health``, ``/ready`` and ``/metrics`` (0: none)."""
    batch_max: int = 5000
    """Messages per batch handed to the worker (and per store transaction)."""


class MatchingSettings(WorkerSettings):
    """The matching worker: one engine per orders partition it owns."""

    matching_group: str = "matching"
    matching_fetch_min_bytes: int = 1
    """Bytes Kafka waits for before it answers the matching worker's fetch, for at most
    ``matching_fetch_wait_ms`` (1: at once when anything is there). Unlike the projector's, 1
    measured best: with 1 MiB / 10 ms the worker fetched every 10 ms (~100 fetches/s against
    7-9 at 1, under ``benchmarks.single_posts`` on a loaded machine, where a fetch at 1 already
    found ~25 orders), matching 136-152 -> 208-246 and Kafka 169-219 -> 225-295 µs of CPU per
    order. Its input can be paced upstream instead (``RelaySettings.relay_gather_s``)."""
    matching_fetch_wait_ms: int = 500
    """How long Kafka holds a fetch that has fewer than ``matching_fetch_min_bytes``."""
    snapshot_every_inputs: int = 50_000
    snapshot_every_s: float = 60.0


class SettlementSettings(WorkerSettings):
    """The settlement worker: account events for fills and closed orders."""

    settlement_group: str = "settlement"
    settlement_fetch_min_bytes: int = 1
    """Bytes Kafka waits for before it answers the settlement worker's fetch, for at most
    ``settlement_fetch_wait_ms`` (1: at once when anything is there; see
    ``MatchingSettings.matching_fetch_min_bytes`` for why: settlement 171-188 -> 181-238 µs of
    CPU per order at 1 MiB / 10 ms, 3-4 -> 56-72 fetches/s)."""
    settlement_fetch_wait_ms: int = 500
    """How long Kafka holds a fetch that has fewer than ``settlement_fetch_min_bytes``."""


class SchedulerSettings(WorkerSettings):
    """The session scheduler: ``SessionClosed`` per symbol at the close."""

    session_close_utc: str = "21:00"
    scheduler_poll_s: float = 1.0


class ProjectorSettings(WorkerSettings):
    """The projector: events topic → Redis read models."""

    projector_group: str = "projector"
    projection_prefix: str = "x"
    """Prefix of every read-model key in Redis (shared with the query API)."""
    relay_name: str = "relay"
    """The relay's checkpoint: a caught-up partition reflects everything relayed."""
    watermark_interval_s: float = 0.1
    projector_chunk: int = 0
    """Events per apply-script call (0: ``projections.writer.CHUNK``), for measurements."""
    batch_max: int = 20000
    """Messages per fetch (of all claimed partitions): a lagging projector folds up to a
    partition's whole share into one script call, where one order's placement, acceptance and
    fills net into one document write and its index moves cancel out (the replay of the
    pipeline's messages, batch 5,000 / chunk 1,000 -> 20,000 / 5,000: Redis 33-35 -> 27-28 µs
    of CPU per order, the projector 80-87 -> 73; docs/benchmarks.md, session 6)."""
    projector_fetch_min_bytes: int = 1024 * 1024
    """Bytes Kafka waits for before it answers the projector's fetch, for at most
    ``projector_fetch_wait_ms``: a projector keeping up otherwise takes whatever arrived since
    its last batch (5-16 orders a script call, depending on how fast the machine runs it), and
    every call costs Redis a fenced script run and the projector a fold, checkpoints and a
    round trip. Waiting up to 25 ms: ~45 orders a call, the projector 134-160 -> 105 and Redis
    75-86 -> 54 µs of CPU per order (``benchmarks.projector_replay --rate 10000``, the
    pipeline's messages published at 2,000 orders/s, back to back), for <= 25 ms more e2e."""
    projector_fetch_wait_ms: int = 25
    """How long Kafka holds a fetch that has fewer than ``projector_fetch_min_bytes``.

    Longer waits fold more in the replay at a steady 5,000 messages/s (50/100 ms: the
    projector -11/-25 %, Redis -7/-18 % per order), but not in the pipeline benchmark, where
    the projector's batches under load already outlast the wait: one script call to Redis per
    ~58 orders at 25 ms (1,868 EVALSHA in Redis over a run of 108k orders, any caller's,
    against ~9 in that replay), 1,507 at 75 ms. 75 ms against 25 ms, five pairs of fresh
    100k-order runs back to back (2026-12-04, load 3-14): the projector's and Redis's CPU per
    order over the command API's, matching's and MariaDB's in the same windows 0.69 against
    0.65 (first windows) and 0.76 against 0.73 (second), pair by pair -0.09 to +0.14. Kept."""
