"""Event store benchmark: naive inserts vs group commit, and the relay into Kafka.

    .venv/bin/python -m benchmarks.event_store            # test stack's MariaDB and Kafka

In one run on the same MariaDB (database ``<name>_bench``, rebuilt by the migration):
(a) 64 tasks, each on its own connection, one autocommit INSERT per event (the baseline);
(b) the store's group-commit append, 64 tasks in a closed loop (one event per append, each to
its own stream with its expected version); (c) the same with 512 tasks; (d) the relay from the
resulting backlog into Kafka, until the broker acknowledged the last event. The last line of
output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import orjson
import uvloop
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from benchmarks import event_store_phases as phases
from cli.profiles import PROFILES
from cli.stack import ensure_topics, migrate
from common.settings import InfraSettings
from event_store.connection import connect_raw

console = Console(stderr=True)


def _rebuild_database(url: str) -> None:
    async def recreate() -> None:
        parsed = make_url(url)
        conn = await connect_raw(parsed.set(database=""), autocommit=True)
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{parsed.database}`")
            await cur.execute(f"CREATE DATABASE `{parsed.database}`")
        conn.close()

    asyncio.run(recreate())
    migrate(url)


async def _delete_topics(bootstrap: str, names: tuple[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


async def _phase(
    progress: Progress,
    label: str,
    total: float | None,
    run: Callable[[phases.Tick], Awaitable[phases.Figures]],
) -> phases.Figures:
    task = progress.add_task(label, total=total)
    figures = await run(lambda n: progress.advance(task, n))
    progress.update(task, completed=total or figures.events, total=total or figures.events)
    return figures


async def run(args: argparse.Namespace) -> dict[str, object]:
    """Every phase, in order; returns the figures."""
    base = make_url(args.database_url)
    url = base.set(database=f"{base.database}_bench").render_as_string(hide_password=False)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_rebuild_database, url).result()
    topics = (f"bench.events.{uuid.uuid4().hex[:8]}", f"bench.orders.{uuid.uuid4().hex[:8]}")
    await ensure_topics(
        args.kafka_bootstrap,
        InfraSettings(
            events_topic=topics[0],
            events_partitions=args.partitions,
            orders_topic=topics[1],
            orders_partitions=args.partitions,
        ),
    )
    s = args.seconds
    columns = (
        TextColumn("{task.description:<34}"),
        BarColumn(),
        TextColumn("{task.completed:>9,.0f} events"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        a = await _phase(
            progress, "(a) naive, 64 connections", None, lambda t: phases.naive(url, 64, s, t)
        )
        b = await _phase(
            progress,
            "(b) group commit, 64 tasks",
            None,
            lambda t: phases.group_commit(url, 64, s, t),
        )
        c = await _phase(
            progress,
            "(c) group commit, 512 tasks",
            None,
            lambda t: phases.group_commit(url, 512, s, t),
        )
        try:
            d = await _phase(
                progress,
                "(d) relay → Kafka (acknowledged)",
                b.events + c.events,
                lambda t: phases.relay(url, args.kafka_bootstrap, topics, t),
            )
        finally:
            await _delete_topics(args.kafka_bootstrap, topics)
    table = Table(title="event store")
    for col in ("phase", "events", "seconds", "events/s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right")
    for name, f in (
        ("(a) naive 64", a),
        ("(b) group commit 64", b),
        ("(c) group commit 512", c),
        ("(d) relay", d),
    ):
        table.add_row(
            name,
            f"{f.events:,}",
            f"{f.seconds:.2f}",
            f"{f.events_per_s:,.0f}",
            f"{f.p50_ms:.2f}",
            f"{f.p99_ms:.2f}",
        )
    console.print(table)
    console.print(f"ratio b/a = {b.events_per_s / a.events_per_s:.2f}")
    return {
        "benchmark": "event_store",
        "naive_events_per_s": round(a.events_per_s),
        "naive_p50_ms": round(a.p50_ms, 2),
        "naive_p99_ms": round(a.p99_ms, 2),
        "group_commit_events_per_s": round(b.events_per_s),
        "group_commit_p50_ms": round(b.p50_ms, 2),
        "group_commit_p99_ms": round(b.p99_ms, 2),
        "group_commit_512_events_per_s": round(c.events_per_s),
        "group_commit_512_p50_ms": round(c.p50_ms, 2),
        "group_commit_512_p99_ms": round(c.p99_ms, 2),
        "ratio": round(b.events_per_s / a.events_per_s, 2),
        "relay_events_per_s": round(d.events_per_s),
        "relay_events": d.events,
        "phase_seconds": s,
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    """Parse the options, run the phases, print the JSON line last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # (the test stack's addresses, with EXCHANGE_PORT_OFFSET applied, unless the env names others)
    env = {**PROFILES["test"].service_env(), **os.environ}
    parser.add_argument("--database-url", default=env["EXCHANGE_DATABASE_URL"])
    parser.add_argument("--kafka-bootstrap", default=env["EXCHANGE_KAFKA_BOOTSTRAP"])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of phases a, b, c")
    parser.add_argument("--partitions", type=int, default=4)
    # uvloop, as the services run (uvicorn's loop="uvloop", the relay's main).
    figures = uvloop.run(run(parser.parse_args()))
    print(orjson.dumps(figures).decode(), flush=True)


if __name__ == "__main__":
    main()
