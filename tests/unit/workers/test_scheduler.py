"""The session scheduler's clock arithmetic and its idempotent closes (in-memory store)."""

from __future__ import annotations

from event_store import InMemoryEventStore
from workers.scheduler import DAY_NS, close_of_day, close_sessions, last_close

H = 3600 * 10**9


def test_the_last_close_is_today_s_once_it_has_passed_else_yesterday_s() -> None:
    day = 20_000 * DAY_NS
    close = close_of_day("21:00")

    assert close == 21 * H
    assert last_close(day + 22 * H, close) == day + 21 * H
    assert last_close(day + 21 * H, close) == day + 21 * H
    assert last_close(day + 20 * H, close) == day - DAY_NS + 21 * H


async def test_closing_a_session_twice_appends_it_once_routed_to_the_engine() -> None:
    store = InMemoryEventStore()

    await close_sessions(store, ["ACME", "BOLT"], 5)
    await close_sessions(store, ["ACME"], 5)
    await close_sessions(store, ["ACME"], 6)

    events = await store.read_all(0, 10)
    assert [(e.stream_id, e.data["at"]) for e in events] == [
        ("session-ACME", 5),
        ("session-BOLT", 5),
        ("session-ACME", 6),
    ]
    assert all(e.type == "SessionClosed" for e in events)
    assert events[0].metadata["order_symbol"] == "ACME"
