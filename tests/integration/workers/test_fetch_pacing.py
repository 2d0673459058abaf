"""The consumer loop holds fetches for bytes only while messages flow (``FetchPacing``)."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer

from common.settings import InfraSettings
from workers.consumer import IDLE_FETCH_WAIT_MS, FetchPacing

pytestmark = pytest.mark.integration

MIN_BYTES, WAIT_MS = 1024 * 1024, 25


def fetch_settings(consumer: AIOKafkaConsumer) -> tuple[int, int]:
    fetcher = consumer._fetcher
    return fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms


async def test_an_idle_poll_asks_for_the_first_byte_and_a_busy_one_for_the_batch(
    topic: str,
) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=InfraSettings().kafka_bootstrap,
        fetch_min_bytes=MIN_BYTES,
        fetch_max_wait_ms=WAIT_MS,
    )
    await consumer.start()
    try:
        # (the pinned aiokafka keeps the constructor's values under these names)
        assert fetch_settings(consumer) == (MIN_BYTES, WAIT_MS)
        pacing = FetchPacing(consumer, MIN_BYTES, WAIT_MS)
        pacing.after(fetched=True)
        assert fetch_settings(consumer) == (MIN_BYTES, WAIT_MS)
        pacing.after(fetched=False)
        assert fetch_settings(consumer) == (1, IDLE_FETCH_WAIT_MS)
        pacing.after(fetched=False)
        assert fetch_settings(consumer) == (1, IDLE_FETCH_WAIT_MS)
        pacing.after(fetched=True)
        assert fetch_settings(consumer) == (MIN_BYTES, WAIT_MS)

        plain = FetchPacing(consumer, 1, 500)  # (a worker answered at once anyway: untouched)
        consumer._fetcher._fetch_max_wait_ms = 500
        plain.after(fetched=False)
        assert fetch_settings(consumer) == (MIN_BYTES, 500)
    finally:
        await consumer.stop()
