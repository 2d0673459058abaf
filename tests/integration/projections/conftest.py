"""Fixtures of the projection tests: the test stack's Redis, each test under its own prefix."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from projections.keys import Control


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    """A client of the test stack's Redis."""
    client = aioredis.from_url(os.environ["EXCHANGE_REDIS_URL"])
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def control(redis_client: aioredis.Redis) -> AsyncIterator[Control]:
    """A key prefix of this test alone, deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield Control(prefix)
    await delete_prefix(redis_client, prefix)


async def delete_prefix(client: aioredis.Redis, prefix: str) -> None:
    """Delete every key under ``prefix:``."""
    batch: list[bytes] = []
    async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await client.unlink(*batch)
            batch = []
    if batch:
        await client.unlink(*batch)


async def dump(
    client: aioredis.Redis, prefix: str, skip: tuple[str, ...] = ()
) -> dict[str, object]:
    """Every key under ``prefix`` (relative name → comparable value), minus ``skip`` markers."""
    found: dict[str, object] = {}
    async for raw in client.scan_iter(match=f"{prefix}:*", count=1000):
        key = raw.decode()
        name = key[len(prefix) :]
        if any(marker in name for marker in skip):
            continue
        kind = (await client.type(key)).decode()
        if kind == "string":
            found[name] = await client.get(key)
        elif kind == "hash":
            found[name] = await client.hgetall(key)
        elif kind == "zset":
            found[name] = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            found[name] = await client.lrange(key, 0, -1)
        else:
            found[name] = kind
    return found
