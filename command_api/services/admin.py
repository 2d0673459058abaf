"""Admin use cases: register users (with their API key) and list instruments."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace

from command_api.idempotency import IdempotencyClaim, Outcome, Written
from command_api.services.base import Context, Decision, commit, event, run
from command_api.services.errors import DuplicateSymbol, UsernameTaken
from domain import streams
from domain.instrument import Instrument, SelfTradeMode
from domain.registry_events import ApiKeyIssued, InstrumentListed, UsernameClaimed, UserRegistered
from event_store.errors import WrongExpectedVersion
from event_store.model import NO_STREAM, StreamAppend

API_KEY_PREFIX = "xk_"
ADMIN_ACTOR = "admin"
"""The ``actor`` of what the admin key does (event metadata, shown by ``exchange audit``)."""


def hash_key(api_key: str) -> str:
    """The sha256 of an API key: the only form in which keys are stored."""
    return hashlib.sha256(api_key.encode()).hexdigest()


async def register_user(
    ctx: Context, username: str, claim: IdempotencyClaim | None, actor: str = ADMIN_ACTOR
) -> Written:
    """Create a user and its API key; ``UsernameTaken`` when the name is in use.

    The key is in the result only: the store keeps its hash, and an idempotent replay gives
    ``api_key: None``. ``actor`` (in each event's metadata) says who asked for it.
    """
    name_stream = streams.username(username)

    async def attempt() -> Written:
        user_id = ctx.new_id()
        api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key_hash = hash_key(api_key)
        registered = (user_id, username, key_hash, ctx.clock())
        streams_and_events = (
            (name_stream, UsernameClaimed(*registered)),
            (streams.user(user_id), UserRegistered(*registered)),
            (streams.api_key(key_hash), ApiKeyIssued(*registered)),
        )
        decision = Decision(
            Outcome.CREATED,
            {"user_id": user_id, "username": username, "api_key": None},
            [
                StreamAppend(stream_id, [event(e.event_type, e.to_dict(), actor)], NO_STREAM)
                for stream_id, e in streams_and_events
            ],
        )
        written = await commit(ctx, decision, claim)
        return replace(written, body={**written.body, "api_key": api_key})

    async def on_conflict(exc: WrongExpectedVersion) -> Written | None:
        if exc.stream_id == name_stream:
            raise UsernameTaken(f"The username {username!r} is taken.")
        return None

    return await run(ctx, claim, attempt, on_conflict, (name_stream,))


async def list_instrument(
    ctx: Context,
    symbol: str,
    tick_size: str,
    lot_size: int,
    self_trade: SelfTradeMode,
    fees_bps: tuple[int, int],
    currency: str,
    claim: IdempotencyClaim | None,
    actor: str = ADMIN_ACTOR,
) -> Written:
    """List a new instrument; ``DuplicateSymbol`` when the symbol is listed already (``actor``
    in the event's metadata says who asked for it)."""
    instrument = Instrument.create(
        symbol, tick_size, lot_size, self_trade, fees_bps[0], fees_bps[1], currency
    )
    stream_id = streams.instrument(instrument.symbol)

    async def attempt() -> Written:
        listed = InstrumentListed.of(instrument, ctx.clock())
        decision = Decision(
            Outcome.CREATED,
            instrument.to_dict(),
            [
                StreamAppend(
                    stream_id, [event(listed.event_type, listed.to_dict(), actor)], NO_STREAM
                )
            ],
        )
        written = await commit(ctx, decision, claim)
        ctx.repo.remember_instrument(instrument)
        return written

    async def on_conflict(exc: WrongExpectedVersion) -> Written | None:
        if exc.stream_id == stream_id:
            raise DuplicateSymbol(f"{instrument.symbol} is listed already.")
        return None

    return await run(ctx, claim, attempt, on_conflict, (stream_id,))
