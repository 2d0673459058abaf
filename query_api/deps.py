"""What every query route depends on: the read models, the caller, the reflected position.

* ``Models`` - the :class:`projections.reads.ReadModels` wired at startup.
* ``CurrentUser`` - the user of ``Authorization: Bearer <api key>``: the key's sha256 looked up
  in the projected ``ApiKeyIssued`` events (Redis only). ``401`` without or with an unknown
  key; ``403`` for the admin key (it has no account).
* ``Reflected`` - handles ``min_position``: waits until every events partition of the
  projection reached it, at most ``EXCHANGE_MIN_POSITION_WAIT_S`` seconds, then answers ``503``
  ``PROJECTION_BEHIND`` with ``Retry-After`` (never a stale answer: a client asking for its own
  write must not mistake an old state for the new one). The position it read is the
  ``X-Projection-Position`` of the response (read *before* the data, so the data reflects at
  least that position).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated, Final

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from common.problems import Problem
from domain.instrument import Instrument
from projections.reads import ReadModels

POSITION_STATE: Final = "projection_position"
MAX_KEY_LENGTH: Final = 256
_CHALLENGE: Final = {"WWW-Authenticate": "Bearer"}
_KEY_CACHE_MAX: Final = 100_000

_bearer = HTTPBearer(auto_error=False, description="A user's API key.")


def hash_key(api_key: str) -> str:
    """The sha256 of an API key, as the command API stores it (``ApiKeyIssued.key_hash``)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


async def models(request: Request) -> ReadModels:
    """The read models wired at startup (``async``, though it awaits nothing: FastAPI runs a
    plain function dependency in its thread pool, a thread hop on every request)."""
    found: ReadModels = request.app.state.models
    return found


Models = Annotated[ReadModels, Depends(models)]


async def current_user(
    request: Request,
    found: Models,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> int:
    """The caller's user id."""
    if credentials is None or not credentials.credentials:
        raise Problem(
            401, "UNAUTHORIZED", "Send 'Authorization: Bearer <api key>'.", headers=_CHALLENGE
        )
    key = credentials.credentials
    if len(key) > MAX_KEY_LENGTH:
        raise Problem(401, "UNAUTHORIZED", "Unknown API key.", headers=_CHALLENGE)
    cache: dict[str, int] = request.app.state.key_cache
    user_id = cache.get(key)
    if user_id is not None:
        return user_id
    user_id = await found.user_for_key_hash(hash_key(key))
    if user_id is not None:
        if len(cache) >= _KEY_CACHE_MAX:
            cache.clear()
        cache[key] = user_id
        return user_id
    admin_key: str = request.app.state.settings.admin_key
    if secrets.compare_digest(key.encode(), admin_key.encode()):
        raise Problem(403, "FORBIDDEN", "The admin key has no account; use a user's key.")
    raise Problem(401, "UNAUTHORIZED", "Unknown API key.", headers=_CHALLENGE)


CurrentUser = Annotated[int, Depends(current_user)]


async def reflected(
    request: Request,
    found: Models,
    min_position: Annotated[
        int | None,
        Query(
            ge=0,
            le=2**63 - 1,  # a store position (BIGINT); larger is no position at all
            description="Wait (bounded) until the projection reflects this position.",
        ),
    ] = None,
) -> int:
    """The projection's position for this response, after waiting for ``min_position``."""
    if min_position is None:
        position = await found.position()
    else:
        wait_s: float = request.app.state.settings.min_position_wait_s
        reached = await found.wait_for(min_position, wait_s)
        if reached is None:
            request.state.projection_position = await found.position()
            raise Problem(
                503,
                "PROJECTION_BEHIND",
                f"The read models have not reached position {min_position} yet.",
                headers={"Retry-After": "1"},
                extra={"min_position": min_position},
            )
        position = reached
    request.state.projection_position = position
    return position


Reflected = Annotated[int, Depends(reflected)]


async def listed(symbol: str, found: Models) -> Instrument:
    """The instrument of the path's ``symbol`` (``404 UNKNOWN_SYMBOL`` if not listed)."""
    instrument = await found.instrument(symbol) if len(symbol) <= 16 else None
    if instrument is None:
        raise Problem(404, "UNKNOWN_SYMBOL", f"No instrument is listed as {symbol!r}.")
    return instrument


Listed = Annotated[Instrument, Depends(listed)]
