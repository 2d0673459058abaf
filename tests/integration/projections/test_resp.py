"""The lean pipelined Redis connection of the hottest reads."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from projections.resp import RespPipe

pytestmark = pytest.mark.integration


async def test_concurrent_callers_each_get_their_own_reply() -> None:
    pipe = RespPipe(os.environ["EXCHANGE_REDIS_URL"])
    key = f"t{uuid.uuid4().hex[:8]}"
    try:
        await pipe.call("SET", key, "v")
        replies = await asyncio.gather(
            *(pipe.call("ECHO", f"m{i}") for i in range(200)), pipe.call("GET", key)
        )
        assert replies == [f"m{i}".encode() for i in range(200)] + [b"v"]
        assert await pipe.call("MGET", key, key + "-absent") == [b"v", None]
        assert await pipe.call("DEL", key) == 1
        with pytest.raises(ResponseError):
            await pipe.call("NOSUCHCOMMAND")
        assert await pipe.call("PING") == b"PONG"  # (the error did not desync the replies)
    finally:
        await pipe.close()


async def test_an_unreachable_redis_is_a_connection_error() -> None:
    pipe = RespPipe("redis://127.0.0.1:1/0")

    with pytest.raises(RedisConnectionError):
        await pipe.call("PING")
