"""A Hypothesis state machine: the MariaDB store behaves like a tiny in-memory model.

The model is written here from the rules, independent of the store's planning code, so a bug
in the shared planning would show up as a difference.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from event_store import (
    ANY,
    NO_STREAM,
    AppendResult,
    DuplicateEventId,
    MariaDbEventStore,
    NewEvent,
    StreamAppend,
    WrongExpectedVersion,
)

pytestmark = pytest.mark.integration

STREAMS = ["a", "b", "c"]


class Model:
    """What the store should hold: the log, each stream's events, and the appends made."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.log: list[tuple[str, int, str]] = []  # (stream, version, event id)
        self.results: dict[tuple[str, ...], AppendResult] = {}

    def version(self, stream: str) -> int:
        return sum(1 for s, _, _ in self.log if s == stream)

    def append(self, appends: list[tuple[str, int, list[str]]]) -> AppendResult | type[Exception]:
        ids = tuple(i for _, _, batch in appends for i in batch)
        if ids in self.results:
            return self.results[ids]
        recorded = {i for _, _, i in self.log}
        if recorded.intersection(ids):
            return DuplicateEventId
        for stream, expected, _ in appends:
            if expected != ANY and expected != self.version(stream):
                return WrongExpectedVersion
        first = self.start + len(self.log) + 1
        versions = {}
        for stream, _, batch in appends:
            for event_id in batch:
                self.log.append((stream, self.version(stream) + 1, event_id))
            versions[stream] = self.version(stream)
        result = AppendResult(first, self.start + len(self.log), versions)
        self.results[ids] = result
        return result


class StoreMachine(RuleBasedStateMachine):
    """Random appends (fresh, conflicting, retried), stream reads and tails, on both sides."""

    database_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store = MariaDbEventStore.from_url(self.database_url)
        self.prefix = f"h{uuid.uuid4().hex[:10]}-"
        self.model = Model(self.run(self.store.last_position()))
        self.sent: list[list[tuple[str, int, list[str]]]] = []

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.store.close())
        self.loop.close()

    def _append(self, appends: list[tuple[str, int, list[str]]]) -> None:
        expected = self.model.append(appends)
        calls = [
            StreamAppend(
                self.prefix + stream,
                [NewEvent("E", {"i": i}, event_id=uuid.UUID(i)) for i in ids],
                version,
            )
            for stream, version, ids in appends
        ]
        try:
            actual: Any = self.run(self.store.append(*calls))
        except (WrongExpectedVersion, DuplicateEventId) as exc:
            actual = type(exc)
        if isinstance(expected, AppendResult):
            expected = AppendResult(
                expected.first_position,
                expected.last_position,
                {self.prefix + s: v for s, v in expected.stream_versions.items()},
            )
        assert actual == expected
        self.sent.append(appends)

    @initialize()
    def check_start(self) -> None:
        assert self.run(self.store.read_all(self.model.start)) == []

    @rule(
        streams=st.lists(st.sampled_from(STREAMS), min_size=1, max_size=2, unique=True),
        shift=st.sampled_from([0, 0, 0, 1, -1, "any", "none"]),
        sizes=st.lists(st.integers(1, 3), min_size=2, max_size=2),
    )
    def append(self, streams: list[str], shift: int | str, sizes: list[int]) -> None:
        appends = []
        for stream, size in zip(streams, sizes, strict=False):
            current = self.model.version(stream)
            if shift == "any":
                version = ANY
            elif shift == "none":
                version = NO_STREAM
            else:
                assert isinstance(shift, int)
                version = max(current + shift, 0)
            appends.append((stream, version, [str(uuid.uuid4()) for _ in range(size)]))
        self._append(appends)

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        self._append(data.draw(st.sampled_from(self.sent)))

    @rule(stream=st.sampled_from(STREAMS), from_version=st.integers(1, 6))
    def read_stream(self, stream: str, from_version: int) -> None:
        read = self.run(self.store.read_stream(self.prefix + stream, from_version))
        expected = [(s, v, i) for s, v, i in self.model.log if s == stream and v >= from_version]
        assert [(e.stream_version, str(e.event_id)) for e in read] == [
            (v, i) for _, v, i in expected
        ]

    @rule(after=st.integers(0, 30), limit=st.integers(1, 10))
    def read_all(self, after: int, limit: int) -> None:
        read = self.run(self.store.read_all(self.model.start + after, limit))
        expected = self.model.log[after : after + limit]
        assert [(e.stream_id, e.stream_version, str(e.event_id)) for e in read] == [
            (self.prefix + s, v, i) for s, v, i in expected
        ]

    @invariant()
    def last_position_matches(self) -> None:
        assert self.run(self.store.last_position()) == self.model.start + len(self.model.log)


def test_the_store_behaves_like_the_model(event_store_url: str) -> None:
    StoreMachine.database_url = event_store_url
    machine = settings(
        max_examples=60,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )(StoreMachine)
    machine.TestCase().runTest()
