"""The projection writer's Lua scripts, and how a chunk's call to ``apply.lua`` reaches Redis."""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from projections.changes import Arg
from projections.resp import pack

APPLY_LUA: Final = resources.files("projections").joinpath("apply.lua").read_text()
APPLY_SHA: Final = hashlib.sha1(APPLY_LUA.encode()).hexdigest()
RAISE_LUA: Final = """
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('PUBLISH', ARGV[2], ARGV[1])
  return 1
end
return 0
"""
"""Move a position key forward only (and say so on the ``moved`` channel)."""


async def run_apply(client: aioredis.Redis, body: list[Arg]) -> None:
    """Run the apply script on one chunk's arguments (loading it if Redis lost it).

    The command is encoded here in one pass (redis-py's encoder costs ~1 µs per argument,
    and a chunk has thousands) and written on a connection of the client's pool.
    """
    packed = pack(["EVALSHA", APPLY_SHA, "0", *body])
    try:
        await _call_packed(client, packed)
    except NoScriptError:
        await client.script_load(APPLY_LUA)
        await _call_packed(client, packed)


async def _call_packed(client: aioredis.Redis, packed: bytes) -> Any:
    pool = client.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await connection.send_packed_command(packed, check_health=False)
        return await connection.read_response()
    except ResponseError:
        raise  # a reply: the connection is fine
    except BaseException:
        await connection.disconnect()  # (a reply may still be on its way: never reuse it)
        raise
    finally:
        await pool.release(connection)
