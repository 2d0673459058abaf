"""``exchange check invariants`` and ``exchange replay verify``: is the store's story consistent?

Both read the event store only (plus, for ``replay verify``, the live matching worker's
``/state``), print what they checked, and exit non-zero saying what is wrong.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Annotated, Any

import httpx
import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from cli.invariants import StoreFold, problems
from cli.profiles import PROFILES, Profile
from common.settings import InfraSettings
from event_store.mariadb import MariaDbEventStore
from event_store.protocol import EventStore
from workers.instruments import Instruments
from workers.matching.shard import Shard, replay, restored_shard

check_app = typer.Typer(help="Check the exchange's invariants on the store.", no_args_is_help=True)
replay_app = typer.Typer(
    help="Rebuild engine state from the store and compare.", no_args_is_help=True
)
console = Console()

ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="dev or test")]
READ_CHUNK = 20_000
RELAY = "relay"
WORKER_GROUPS = ("matching", "settlement")
"""The consumer groups whose backlog must be empty before the drained rules apply."""


def _profile(name: str) -> Profile:
    if name not in PROFILES:
        raise typer.BadParameter(f"unknown profile {name!r}; choose {', '.join(PROFILES)}")
    return PROFILES[name]


def _settings(profile: Profile) -> InfraSettings:
    env = {**profile.service_env(), **os.environ}
    return InfraSettings(
        database_url=env["EXCHANGE_DATABASE_URL"],
        kafka_bootstrap=env["EXCHANGE_KAFKA_BOOTSTRAP"],
    )


async def backlog(store: EventStore, settings: InfraSettings, groups: list[str]) -> int:
    """Events not yet relayed plus messages each consumer group has not committed past."""
    behind = await store.last_position() - await store.load_checkpoint(RELAY)
    topics = {
        "matching": (settings.orders_topic, settings.orders_partitions),
        "settlement": (settings.settlement_topic, settings.settlement_partitions),
    }
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        for group in groups:
            topic, count = topics.get(group, (settings.events_topic, settings.events_partitions))
            parts = [TopicPartition(topic, p) for p in range(count)]
            ends = await consumer.end_offsets(parts)
            reader = AIOKafkaConsumer(
                bootstrap_servers=settings.kafka_bootstrap,
                group_id=group,
                enable_auto_commit=False,
            )
            await reader.start()
            try:
                for tp in parts:
                    committed = await reader.committed(tp) or 0
                    behind += max(ends[tp] - committed, 0)
            finally:
                await reader.stop()
    finally:
        await consumer.stop()
    return behind


async def wait_until_drained(
    store: EventStore, settings: InfraSettings, groups: list[str], timeout_s: float
) -> bool:
    """Wait until the relay and every consumer group caught up (twice in a row), or time out."""
    deadline = time.monotonic() + timeout_s
    caught_up = 0
    while time.monotonic() < deadline:
        caught_up = caught_up + 1 if await backlog(store, settings, groups) == 0 else 0
        if caught_up >= 2:
            return True
        await asyncio.sleep(0.5)
    return False


def _progress() -> Progress:
    """A progress display of store positions read, on the console."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    )


async def fold_store(store: EventStore, progress: Progress | None = None) -> StoreFold:
    """Every stored event folded, with a progress bar (a task on ``progress`` if given)."""
    if progress is None:
        with _progress() as own:
            return await fold_store(store, own)
    fold = StoreFold()
    total = await store.last_position()
    task = progress.add_task("folding the store", total=total)
    after = 0
    while after < total:
        batch = await store.read_all(after, READ_CHUNK)
        if not batch:
            break
        fold.add(batch, (e.stream_id for e in batch))
        after = batch[-1].position
        progress.update(task, completed=after)
    return fold


async def load_books(store: EventStore, partitions: int) -> list[Shard]:
    """Every partition's engine as the store holds it (snapshot + tail)."""
    instruments = Instruments(store)
    targets = [await restored_shard(store, p) for p in range(partitions)]
    await replay(store, instruments, partitions, targets)  # (one read of the store for all)
    return [shard for shard, _ in targets]


def crossed_books(shards: list[Shard]) -> list[str]:
    """Books whose best bid is at or above their best ask."""
    found = []
    for shard in shards:
        for symbol, book in sorted(shard.engine.books_by_symbol.items()):
            bid, ask = book.best_bid(), book.best_ask()
            if bid is not None and ask is not None and bid >= ask:
                found.append(f"book {symbol} is crossed: bid {bid} >= ask {ask}")
    return found


@check_app.command("invariants")
def invariants(
    profile: ProfileOpt = "dev",
    wait: Annotated[float, typer.Option(help="seconds to wait for the workers to drain")] = 30,
) -> None:
    """Money conserved per asset, holds sane, trades two-sided and settled once, books uncrossed."""
    settings = _settings(_profile(profile))
    found = asyncio.run(_check(settings, wait))
    if found:
        for line in found:
            console.print(f"[red]✗[/] {line}")
        raise typer.Exit(1)


async def _check(settings: InfraSettings, wait: float) -> list[str]:
    store = MariaDbEventStore.from_url(settings.database_url)
    try:
        drained = await wait_until_drained(store, settings, list(WORKER_GROUPS), wait)
        if not drained:
            console.print("[yellow]![/] the store is still changing: checking without drain rules")
        fold = await fold_store(store)
        found = problems(fold, drained=drained)
        found += crossed_books(await load_books(store, settings.orders_partitions))
    finally:
        await store.close()
    console.print(
        f"checked {fold.events} events: {len(fold.accounts)} accounts, {len(fold.orders)} "
        f"orders, {len(fold.fills)} trades, {len(fold.net_in)} assets"
    )
    if not found:
        console.print("[green]✓[/] every invariant holds")
    return found


@replay_app.command("verify")
def verify(
    profile: ProfileOpt = "dev",
    ops_url: Annotated[
        list[str] | None, typer.Option(help="matching worker ops URL(s); default the profile's")
    ] = None,
) -> None:
    """Rebuild every engine shard from position 0 and from its snapshot; compare with the live."""
    p = _profile(profile)
    urls = ops_url or [f"http://127.0.0.1:{p.ops_port('matching')}"]
    found = asyncio.run(verify_shards(_settings(p), urls))
    if found:
        for line in found:
            console.print(f"[red]✗[/] {line}")
        raise typer.Exit(1)


async def live_shards(urls: list[str], attempts: int = 40) -> dict[int, dict[str, Any]]:
    """Each live shard's position and hash, from the matching workers' ``/state``."""
    shards: dict[int, dict[str, Any]] = {}
    async with httpx.AsyncClient(timeout=5) as client:
        for url in urls:
            for _ in range(attempts):
                try:
                    state = (await client.get(f"{url}/state")).json()
                except httpx.HTTPError:
                    break
                if not state.get("busy"):
                    shards.update({int(k): v for k, v in state["shards"].items()})
                    break
                await asyncio.sleep(0.05)
    return shards


async def verify_shards(settings: InfraSettings, urls: list[str]) -> list[str]:
    live = await live_shards(urls)
    store = MariaDbEventStore.from_url(settings.database_url)
    instruments = Instruments(store)
    found: list[str] = []
    partitions = settings.orders_partitions
    try:
        pairs: list[tuple[Shard, Shard]] = []
        targets: list[tuple[Shard, int]] = []
        for partition in range(partitions):
            here = live.get(partition)
            up_to = None if here is None else int(here["position"])
            full, target = await restored_shard(store, partition, up_to=up_to, use_snapshot=False)
            fast, _ = await restored_shard(store, partition, up_to=up_to)
            pairs.append((full, fast))
            targets += [(full, target), (fast, target)]
        with _progress() as progress:  # every shard from 0 and from its snapshot, in one read
            end = max((target for _, target in targets), default=0)
            task = progress.add_task("replaying the engine inputs", total=end)

            def read_to(position: int) -> None:
                progress.update(task, completed=position)

            await replay(store, instruments, partitions, targets, read_to)
        for partition, (full, fast) in enumerate(pairs):
            here = live.get(partition)
            hashes = {"from 0": full.engine.state_hash(), "from snapshot": fast.engine.state_hash()}
            if here is not None:
                hashes["live"] = here["state_hash"]
            same = len(set(hashes.values())) == 1
            origin = "none" if fast.from_snapshot is None else f"v{fast.from_snapshot}"
            console.print(
                f"{'[green]✓[/]' if same else '[red]✗[/]'} partition {partition} at position "
                f"{full.position}: {len(full.engine.books_by_symbol)} books, snapshot {origin}, "
                + ", ".join(f"{k} {v[:12]}" for k, v in hashes.items())
            )
            if not same:
                found.append(f"partition {partition}: state hashes differ {hashes}")
    finally:
        await store.close()
    return found
