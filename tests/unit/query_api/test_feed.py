"""The WebSocket fan-out: bounded per-client queues, slow clients dropped."""

from __future__ import annotations

import asyncio
from typing import Any

from projections.keys import Control
from query_api.feed import Client, MarketFeed


class _NoModels:
    control = Control("t")
    redis: Any = None


def test_a_client_whose_queue_overflows_is_marked_and_told_to_leave() -> None:
    feed = MarketFeed(_NoModels(), queue_max=3)  # type: ignore[arg-type]
    client = Client(asyncio.Queue(3))

    for seq in range(5):
        feed._offer(client, b'{"seq":%d}' % seq)

    assert client.overflowed
    queued = [client.queue.get_nowait() for _ in range(client.queue.qsize())]
    assert queued[-1] is None  # the sender closes the socket with 1013 when it gets here


def test_a_fast_client_gets_every_message_in_order() -> None:
    feed = MarketFeed(_NoModels(), queue_max=10)  # type: ignore[arg-type]
    client = Client(asyncio.Queue(10))

    for seq in range(5):
        feed._offer(client, b"%d" % seq)

    assert not client.overflowed
    assert [client.queue.get_nowait() for _ in range(5)] == [b"0", b"1", b"2", b"3", b"4"]
