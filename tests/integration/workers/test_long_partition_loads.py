"""A partition whose state takes longer to load than the group's session timeout.

Found on a benchmark stack: a restarted matching worker replaying its shards for 20 to 50 s was
evicted from its group after 10 s, rejoined, replayed again, and was evicted again, forever.
aiokafka stops the heartbeat while the rebalance listener runs, and the loop loaded shards in
the listener. Now the listener only pauses new partitions and the loop loads them.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter

import pytest
from prometheus_client import CollectorRegistry

from common.settings import InfraSettings
from event_store.model import RecordedEvent
from tests.integration.workers.conftest import TOPIC_PARTITIONS
from tests.integration.workers.test_resume_while_assigning import produce
from workers.consumer import ConsumerMetrics, Resume, run

pytestmark = pytest.mark.integration

PARTITIONS = TOPIC_PARTITIONS
SESSION_TIMEOUT_MS = 6_000
"""The broker's smallest (``group.min.session.timeout.ms``)."""


class SlowLoads:
    """A worker whose every partition load takes ``load_s``; it records what it applies and
    which partitions it believes it owns (assigned and not revoked since)."""

    def __init__(self, topic: str, group: str, load_s: float) -> None:
        self.topic = topic
        self.group = group
        self.load_s = load_s
        self.loads: Counter[int] = Counter()
        self.owned: set[int] = set()
        self.loading: set[int] = set()
        self.revoked_while_loading: set[int] = set()
        self.load_started = asyncio.Event()
        self.applied: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}

    async def assign(self, partition: int) -> Resume:
        self.loads[partition] += 1
        self.loading.add(partition)
        self.load_started.set()
        try:
            await asyncio.sleep(self.load_s)
        finally:
            self.loading.discard(partition)
        self.owned.add(partition)
        self.applied[partition] = []  # (its durable state: nothing, from offset 0)
        return Resume(0, 0)

    async def revoke(self, partition: int) -> None:
        if partition in self.loading:
            self.revoked_while_loading.add(partition)
        self.owned.discard(partition)

    async def apply(self, partition: int, events: list[RecordedEvent], next_offset: int) -> None:
        self.applied[partition] += [e.position for e in events]


def consuming(worker: SlowLoads, stop: asyncio.Event) -> asyncio.Task[None]:
    metrics = ConsumerMetrics(CollectorRegistry(), worker.group)
    loop = run(worker, InfraSettings(), stop, metrics, session_timeout_ms=SESSION_TIMEOUT_MS)
    return asyncio.create_task(loop)


async def wait_until_applied(workers: list[SlowLoads], sent: dict[int, list[int]]) -> None:
    for _ in range(600):
        if all(any(w.applied[p][-1:] == sent[p][-1:] for w in workers) for p in sent):
            return
        await asyncio.sleep(0.1)


async def test_a_load_longer_than_the_session_timeout_keeps_the_member_in_its_group(
    topic: str,
) -> None:
    worker = SlowLoads(topic, f"test-slow-load-{uuid.uuid4().hex[:8]}", load_s=9)
    sent: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}
    positions = itertools.count(1)
    await produce(topic, sent, positions, 0.2)
    stop = asyncio.Event()
    task = consuming(worker, stop)
    await asyncio.wait_for(worker.load_started.wait(), 30)
    await produce(topic, sent, positions, 1)
    await wait_until_applied([worker], sent)
    stop.set()
    await task

    assert worker.loads == dict.fromkeys(range(PARTITIONS), 1)  # never evicted and reloaded
    assert worker.applied == sent


async def test_a_partition_revoked_while_it_loads_is_not_kept(topic: str) -> None:
    group = f"test-revoked-load-{uuid.uuid4().hex[:8]}"
    first = SlowLoads(topic, group, load_s=5)
    second = SlowLoads(topic, group, load_s=0)
    sent: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}
    positions = itertools.count(1)
    await produce(topic, sent, positions, 0.2)
    stop = asyncio.Event()
    tasks = [consuming(first, stop)]
    await asyncio.wait_for(first.load_started.wait(), 30)
    tasks.append(consuming(second, stop))  # the group rebalances during the first's load
    await produce(topic, sent, positions, 1)
    await wait_until_applied([first, second], sent)
    for _ in range(100):  # (the group settles: each member owns what it consumes)
        if first.owned | second.owned == set(range(PARTITIONS)) and not first.loading:
            break
        await asyncio.sleep(0.1)
    owned = (set(first.owned), set(second.owned))
    applied = {
        p: w.applied[p] for w, mine in zip((first, second), owned, strict=True) for p in mine
    }
    stop.set()
    await asyncio.gather(*tasks)

    assert first.revoked_while_loading  # the case under test happened
    assert not owned[0] & owned[1]
    assert owned[0] | owned[1] == set(range(PARTITIONS))
    assert applied == sent
