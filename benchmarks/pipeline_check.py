"""Every acknowledged order against the store and the read side: ``lost`` and ``doubled``.

* lost: an order id the command API acknowledged that the store has no placement of, or whose
  document the read side (Redis) does not hold.
* doubled: a ``client_order_id`` of the run placed as two orders; one side of a trade filled
  twice (the matching worker stores a trade as its two ``OrderFilled``); one side settled twice.
* unsettled: trades of the run without exactly their two ``TradeSettled`` (after the drain).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import redis.asyncio as aioredis
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import create_async_engine

from projections.keys import ORDERS, Control, Space

PLACEMENTS: Final = ("OrderPlaced", "OrderPlacedInBatch")
CHUNK: Final = 5000


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the checks found."""

    acknowledged: int
    lost_in_store: int
    lost_in_read_side: int
    doubled_orders: int
    doubled_trades: int
    doubled_settlements: int
    trades: int
    settlements: int

    @property
    def lost(self) -> int:
        """Acknowledged orders missing from the store or the read side."""
        return self.lost_in_store + self.lost_in_read_side

    @property
    def doubled(self) -> int:
        """Orders, trades or settlements recorded twice."""
        return self.doubled_orders + self.doubled_trades + self.doubled_settlements


_PLACED = text(
    "SELECT stream_id, JSON_VALUE(data, '$.client_order_id') FROM events "
    "WHERE position > :start AND type IN ('OrderPlaced', 'OrderPlacedInBatch')"
)
_DOUBLED_TRADES = text(
    "SELECT COUNT(DISTINCT s, t), COALESCE(SUM(n - 1), 0) FROM (SELECT "
    "JSON_VALUE(data, '$.symbol') s, JSON_VALUE(data, '$.trade_id') t, COUNT(*) n FROM events "
    "WHERE position > :start AND type = 'OrderFilled' "
    "AND JSON_VALUE(data, '$.symbol') IN :symbols "
    "GROUP BY s, t, JSON_VALUE(data, '$.side')) f"
).bindparams(bindparam("symbols", expanding=True))
_DOUBLED_SETTLEMENTS = text(
    "SELECT COUNT(*), COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) n FROM events "
    "WHERE position > :start AND type = 'TradeSettled' "
    "AND JSON_VALUE(data, '$.symbol') IN :symbols "
    "GROUP BY JSON_VALUE(data, '$.symbol'), JSON_VALUE(data, '$.trade_id'), stream_id) t"
).bindparams(bindparam("symbols", expanding=True))


async def last_position(database_url: str) -> int:
    """The store's last position (the run's checks look after it)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            value = (await conn.execute(text("SELECT MAX(position) FROM events"))).scalar()
            return int(value or 0)
    finally:
        await engine.dispose()


async def verdict(
    database_url: str,
    redis_url: str,
    prefix: str,
    start: int,
    tag: str,
    acknowledged: list[int],
    symbols: list[str],
) -> Verdict:
    """Check ``acknowledged`` (order ids) and the trades of the run's ``symbols`` (positions
    after ``start``; ``tag`` begins every ``client_order_id`` of the run)."""
    run = {"start": start, "symbols": symbols}
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            placed = (await conn.execute(_PLACED, {"start": start})).all()
            trades, doubled_trades = (await conn.execute(_DOUBLED_TRADES, run)).one()
            sides, doubled_sides = (await conn.execute(_DOUBLED_SETTLEMENTS, run)).one()
    finally:
        await engine.dispose()
    stored = {int(stream[len("order-") :]) for stream, _ in placed}
    ours = [coid for _, coid in placed if coid is not None and coid.startswith(tag)]
    missing_read = await _missing_documents(redis_url, prefix, acknowledged)
    return Verdict(
        acknowledged=len(acknowledged),
        lost_in_store=sum(1 for order_id in acknowledged if order_id not in stored),
        lost_in_read_side=missing_read,
        doubled_orders=len(ours) - len(set(ours)),
        doubled_trades=int(doubled_trades),
        doubled_settlements=int(doubled_sides),
        trades=int(trades),
        settlements=int(sides),
    )


async def _missing_documents(redis_url: str, prefix: str, order_ids: list[int]) -> int:
    control = Control(prefix)
    client = aioredis.from_url(redis_url)
    try:
        gen = await client.get(control.gen(ORDERS))
        space = Space(control.space(ORDERS, 1 if gen is None else int(gen)))
        missing = 0
        for at in range(0, len(order_ids), CHUNK):
            pipe = client.pipeline(transaction=False)
            for order_id in order_ids[at : at + CHUNK]:
                pipe.exists(space.order(order_id))
            missing += sum(1 for found in await pipe.execute() if not found)
        return missing
    finally:
        await client.aclose()


_TRADES_BETWEEN = text(
    "SELECT COUNT(*) FROM events WHERE position > :after AND position <= :upto "
    "AND type = 'OrderFilled' AND JSON_VALUE(data, '$.side') = 'buy'"
)


async def trades_between(database_url: str, after: int, upto: int) -> int:
    """Trades executed in the positions ``(after, upto]`` (one buy fill each)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            found = (await conn.execute(_TRADES_BETWEEN, {"after": after, "upto": upto})).scalar()
            return int(found or 0)
    finally:
        await engine.dispose()
