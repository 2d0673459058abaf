"""The query API's ear on the projector: wake ``min_position`` waits when a position moves.

The projector's apply script (and its watermark) publish on ``<prefix>:moved`` each time a
partition's reflected position moves. One subscriber per process fires
:attr:`projections.reads.ReadModels.moves`, so a request waiting for its own write answers
as soon as the projector made it visible instead of at its next poll (the polls grow to
0.1 s apart, which was up to that much on every end-to-end answer). Losing Redis only loses
the wake-ups: waits fall back to polling until the subscriber is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from redis.exceptions import RedisError

from projections.reads import ReadModels

log = logging.getLogger("query_api.positions")
RETRY_S: Final = 1.0


async def watch_moves(models: ReadModels, stop: asyncio.Event) -> None:
    """Fire ``models.moves`` on each message of the ``moved`` channel until ``stop``."""
    while not stop.is_set():
        pubsub = models.redis.pubsub()
        try:
            await pubsub.subscribe(models.control.moved())
            models.moves.fire()  # (whatever moved while nobody listened)
            while not stop.is_set():
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    models.moves.fire()
        except (RedisError, OSError) as exc:
            log.debug("position subscriber lost Redis", extra={"error": repr(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_S)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
