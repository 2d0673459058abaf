"""Admin use cases: register users (with their API key) and list instruments."""

from __future__ import annotations

import hashlib
import secrets

from command_api.idempotency import IdempotencyClaim, Written
from command_api.schemas import MAX_DECIMAL_LENGTH
from command_api.services.base import Context, Decision, commit, event, run
from common.problems import Problem
from domain import streams
from domain.errors import InvalidInstrument
from domain.instrument import Instrument, SelfTradeMode
from event_store.errors import WrongExpectedVersion
from event_store.model import NO_STREAM, StreamAppend

API_KEY_PREFIX = "xk_"


def hash_key(api_key: str) -> str:
    """The sha256 of an API key: the only form in which keys are stored."""
    return hashlib.sha256(api_key.encode()).hexdigest()


async def register_user(ctx: Context, username: str, claim: IdempotencyClaim | None) -> Written:
    """Create a user and its API key; ``409 USERNAME_TAKEN`` when the name is in use.

    The key is in the response only: the store keeps its hash, and an idempotent replay
    answers with ``api_key: null``.
    """
    name_stream = streams.username(username)

    async def attempt() -> Written:
        user_id = ctx.new_id()
        api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key_hash = hash_key(api_key)
        at = ctx.clock()
        registered = {"user_id": user_id, "username": username, "key_hash": key_hash, "at": at}
        decision = Decision(
            201,
            {"user_id": user_id, "username": username, "api_key": None},
            [
                StreamAppend(
                    name_stream, [event(streams.USERNAME_CLAIMED, registered, "admin")], NO_STREAM
                ),
                StreamAppend(
                    streams.user(user_id),
                    [event(streams.USER_REGISTERED, registered, "admin")],
                    NO_STREAM,
                ),
                StreamAppend(
                    streams.api_key(key_hash),
                    [event(streams.API_KEY_ISSUED, registered, "admin")],
                    NO_STREAM,
                ),
            ],
        )
        written = await commit(ctx, decision, claim)
        return Written(written.status, {**written.body, "api_key": api_key})

    async def on_conflict(exc: WrongExpectedVersion) -> Written | None:
        if exc.stream_id == name_stream:
            raise Problem(409, "USERNAME_TAKEN", f"The username {username!r} is taken.")
        return None

    return await run(ctx, claim, attempt, on_conflict)


async def list_instrument(
    ctx: Context,
    symbol: str,
    tick_size: str,
    lot_size: int,
    self_trade: SelfTradeMode,
    fees_bps: tuple[int, int],
    currency: str,
    claim: IdempotencyClaim | None,
) -> Written:
    """List a new instrument; ``409 DUPLICATE_SYMBOL`` when the symbol is listed already."""
    if len(tick_size) > MAX_DECIMAL_LENGTH:
        raise InvalidInstrument(f"tick_size has more than {MAX_DECIMAL_LENGTH} characters")
    instrument = Instrument.create(
        symbol, tick_size, lot_size, self_trade, fees_bps[0], fees_bps[1], currency
    )
    stream_id = streams.instrument(instrument.symbol)

    async def attempt() -> Written:
        data = {**instrument.to_dict(), "at": ctx.clock()}
        decision = Decision(
            201,
            instrument.to_dict(),
            [StreamAppend(stream_id, [event(streams.INSTRUMENT_LISTED, data, "admin")], NO_STREAM)],
        )
        written = await commit(ctx, decision, claim)
        ctx.repo.remember_instrument(instrument)
        return written

    async def on_conflict(exc: WrongExpectedVersion) -> Written | None:
        if exc.stream_id == stream_id:
            raise Problem(409, "DUPLICATE_SYMBOL", f"{instrument.symbol} is listed already.")
        return None

    return await run(ctx, claim, attempt, on_conflict)
