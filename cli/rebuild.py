"""``exchange rebuild <projection>|all``: replay the store into fresh keys, then swap them in.

The store (not Kafka) is replayed into the next generation of each chosen projection with a
progress bar; the live projector keeps serving meanwhile. At the store's head the new keys are
swapped in atomically (``projections/rebuild.py``) and the old generation is deleted.
``--verify`` swaps nothing: it waits until the live projection reflects the same events,
compares both generations key by key, prints any difference and exits 1 if there is one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
import redis.asyncio as aioredis
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.profiles import PROFILES, Profile
from common.settings import ProjectorSettings
from event_store.connection import connect_raw
from event_store.outbox import OFF_EVENTS_TOPIC, partition_of
from event_store.sql import LAST_POSITION
from event_store.upcasting import Upcasters
from projections.keys import PROJECTIONS, Control
from projections.rebuild import Rebuild
from projections.writer import tune_gc

app = typer.Typer(
    help="Rebuild read models from the event store: exchange rebuild <projection>|all.",
    no_args_is_help=True,
)
console = Console()

PAGE = 10_000
CATCH_UP_ROUNDS = 50
ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="dev or test")]


def _settings(profile: str) -> ProjectorSettings:
    if profile not in PROFILES:
        raise typer.BadParameter(f"unknown profile {profile!r}; choose {', '.join(PROFILES)}")
    p: Profile = PROFILES[profile]
    env = {**p.service_env(), **os.environ}
    return ProjectorSettings(
        database_url=env["EXCHANGE_DATABASE_URL"], redis_url=env["EXCHANGE_REDIS_URL"]
    )


def _command(chosen: list[str]) -> None:
    """Register ``exchange rebuild <name>`` for one projection (or ``all``)."""
    name = chosen[0] if len(chosen) == 1 else "all"

    def rebuild(
        from_position: Annotated[
            int, typer.Option(help="continue an interrupted rebuild that holds events up to N")
        ] = 0,
        verify: Annotated[
            bool, typer.Option(help="compare with the live keys instead of swapping")
        ] = False,
        profile: ProfileOpt = "dev",
    ) -> None:
        code = asyncio.run(_rebuild(_settings(profile), chosen, from_position, verify))
        raise typer.Exit(code)

    rebuild.__doc__ = (
        f"Replay the store into fresh {name} keys, then swap them in (or --verify against live)."
    )
    app.command(name)(rebuild)


for _projection in PROJECTIONS:
    _command([_projection])
_command(list(PROJECTIONS))


_NO_METADATA: dict[str, Any] = {}


class Replayed:
    """A stored event as the folds read it (position, stream, type, upcast data, and of the
    metadata only the ``causation_id`` the orders fold keeps): no event id, whole metadata or
    timestamp to decode, so replaying costs a fraction of ``read_all``."""

    __slots__ = ("data", "metadata", "position", "stream_id", "type")

    def __init__(
        self,
        position: int,
        stream_id: str,
        kind: str,
        data: dict[str, Any],
        causation_id: str | None = None,
    ) -> None:
        self.position = position
        self.stream_id = stream_id
        self.type = kind
        self.data = data
        self.metadata = _NO_METADATA if causation_id is None else {"causation_id": causation_id}


class StoreReader:
    """Pages of the store in position order on one raw connection."""

    SELECT = (
        "SELECT position, stream_id, type, schema_version, data,"
        " JSON_VALUE(metadata, '$.causation_id') FROM events"
        " WHERE position > %s ORDER BY position LIMIT %s"
    )

    def __init__(self, url: str, upcasters: Upcasters | None = None) -> None:
        self._url = url
        self._upcasters = upcasters or Upcasters()
        self._conn: Any = None

    async def connection(self) -> Any:
        """The raw connection (opened on first use)."""
        if self._conn is None:
            self._conn = await connect_raw(self._url, autocommit=True)
        return self._conn

    async def page(self, after: int, limit: int = PAGE) -> list[Replayed]:
        """Up to ``limit`` events after ``after``."""
        async with (await self.connection()).cursor() as cursor:
            await cursor.execute(self.SELECT, (after, limit))
            rows = await cursor.fetchall()
        upcast, loads = self._upcasters.upcast, orjson.loads
        return [
            Replayed(position, stream_id, kind, upcast(kind, version, loads(data))[1], cause)
            for position, stream_id, kind, version, data, cause in rows
        ]

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


async def pages(reader: StoreReader, after: int) -> AsyncIterator[list[Replayed]]:
    """Pages of stored events after ``after``; the next page is read while one is applied."""
    pending = asyncio.ensure_future(reader.page(after))
    while True:
        page = await pending
        if not page:
            return
        pending = asyncio.ensure_future(reader.page(page[-1].position))
        yield page


async def _replay(job: Rebuild, store: StoreReader, progress: Progress | None) -> int:
    """Apply everything after the job's position; the events applied."""
    start, head = job.position, await _head(store)
    task = None
    if progress is not None:
        task = progress.add_task("replaying the store", total=max(head - start, 1))
    applied = 0
    async for page in pages(store, job.position):
        await job.apply(page)
        applied += len(page)
        if progress is not None and task is not None:
            progress.update(task, completed=min(job.position, head) - start)
    return applied


async def _rebuild(
    settings: ProjectorSettings, chosen: list[str], from_position: int, verify: bool
) -> int:
    client = aioredis.from_url(settings.redis_url)
    store = StoreReader(settings.database_url)
    partitions = settings.events_partitions
    job = Rebuild(
        client,
        Control(settings.projection_prefix),
        chosen,
        partitions,
        lambda stream: (
            None
            if stream.encode().startswith(OFF_EVENTS_TOPIC)
            else partition_of(stream.encode(), partitions)
        ),
    )
    tune_gc()
    try:
        await job.start(from_position)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            await _replay(job, store, progress)
        console.print(f"replayed up to position {job.position} into {job.new_gens}")
        return await (_verify(job, store) if verify else _swap(job, store))
    finally:
        store.close()
        await client.aclose()


async def _head(store: StoreReader) -> int:
    async with (await store.connection()).cursor() as cursor:
        await cursor.execute(LAST_POSITION)
        row = await cursor.fetchone()
    return int(row[0])


async def _swap(job: Rebuild, store: StoreReader) -> int:
    for _ in range(CATCH_UP_ROUNDS):
        if await job.swap():
            console.print(f"[green]swapped in {job.new_gens} at position {job.position}[/]")
            await asyncio.sleep(1.0)  # readers cache the live generation for 0.25 s
            for name, gen in job.live_gens.items():
                deleted = await job.drop(name, gen)
                console.print(f"dropped {name} generation {gen} ({deleted} keys)")
            return 0
        await _replay(job, store, None)  # the live projector got ahead: catch up, retry
    console.print("[red]the live projection kept getting ahead; nothing swapped[/]")
    return 1


SHOWN = 600
"""Characters of a differing value printed (a long list or zset is cut)."""


def _shown(value: object) -> str:
    """A differing value on one line, cut at ``SHOWN`` characters."""
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}... ({len(text)} characters)"


async def _verify(job: Rebuild, store: StoreReader) -> int:
    try:
        for _ in range(CATCH_UP_ROUNDS * 4):
            state = await job.live_state()
            if state == "same":
                differences = await job.compare()
                for found in differences:
                    console.print(f"[red]differs:[/] {found.key}")
                    for side, value in (("live", found.live), ("rebuilt", found.rebuilt)):
                        console.print(f"  {side}: {_shown(value)}", markup=False, highlight=False)
                if differences:
                    return 1
                console.print(f"[green]rebuilt and live keys are equal at {job.position}[/]")
                return 0
            if state == "ahead":
                await _replay(job, store, None)
            else:
                await asyncio.sleep(0.25)
        console.print("[red]the live projection never reflected the same events[/]")
        return 1
    finally:
        for name, gen in job.new_gens.items():
            await job.drop(name, gen)
