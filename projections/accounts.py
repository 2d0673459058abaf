"""Account views (total / held per asset) and each user's ledger.

Fed by ``account-<user_id>`` streams (one partition each, like orders: state is absolute).
The ledger has one entry per change of a balance's total (deposit, withdrawal, each asset of
a settled trade, a collected fee) with the running balance and a ``ref`` to its cause; holds
move ``available`` only and show in the account view. Amounts stay integers here (minor units
of a currency, or shares); the read helpers render them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from projections.base import Cache, Inputs, StoredEvent
from projections.changes import Changes
from projections.keys import ACCOUNTS, Space
from projections.records import encode_ledger

ACCOUNT_TYPES: Final = frozenset(
    {
        "FundsDeposited",
        "FundsWithdrawn",
        "FundsReserved",
        "BatchFundsReserved",
        "FundsReleased",
        "TradeSettled",
        "FeesCollected",
        "FeesNetted",
    }
)


class AccountsFold:
    """Balances and ledgers."""

    name = ACCOUNTS
    inputs = Inputs(types=ACCOUNT_TYPES)

    def wanted(self, events: Sequence[StoredEvent], space: Space, cache: Cache) -> list[str]:
        """Account documents touched by the batch and not cached."""
        wanted: set[str] = set()
        for event in events:
            if event.type in ACCOUNT_TYPES:
                key = space.account(event.data["user_id"])
                if key not in cache:
                    wanted.add(key)
        return sorted(wanted)

    def load(self, raw: bytes | str) -> Any:
        """A stored account document."""
        return orjson.loads(raw)

    def fold(self, events: Sequence[StoredEvent], space: Space, cache: Cache, out: Changes) -> None:
        """New balances and ledger entries of the batch."""
        touched: set[str] = set()
        for event in events:
            if event.type not in ACCOUNT_TYPES:
                continue
            user_id = event.data["user_id"]
            key = space.account(user_id)
            state = cache.get(key)
            if state is None:
                state = cache[key] = {"user_id": user_id, "balances": {}, "position": 0}
            touched.add(key)
            state["position"] = event.position
            position, balances, at = event.position, state["balances"], event.data["at"]
            for asset, delta, kind, ref in _apply(balances, event.type, event.data):
                entry = encode_ledger(position, asset, delta, balances[asset][0], kind, ref, at)
                out.zadd(space.ledger(user_id), entry, position)
        for key in touched:
            out.set_doc(key, orjson.dumps(cache[key]))


Entry = tuple[str, int, str, dict[str, Any]]


def _apply(balances: dict[str, list[int]], kind: str, data: dict[str, Any]) -> list[Entry]:
    """Change ``balances`` ({asset: [total, held]}); the ledger entries of the change."""
    if kind == "FundsReserved":
        _balance(balances, data["asset"])[1] += data["amount"]
        return []
    if kind == "BatchFundsReserved":  # (a batch's legs' holds: [asset, amount, ...] each)
        for hold in data["holds"]:
            _balance(balances, hold[0])[1] += hold[1]
        return []
    if kind == "FundsReleased":
        _balance(balances, data["asset"])[1] -= data["amount"]
        return []
    if kind == "TradeSettled":
        return _settled(balances, data)
    asset, amount = data["asset"], data["amount"]
    if kind == "FundsWithdrawn":
        amount = -amount
    _balance(balances, asset)[0] += amount
    if kind == "FeesCollected":
        ref = {"event": kind, "symbol": data["symbol"], "trade_id": data["trade_id"]}
        ref["order_id"] = data["order_id"]
        return [(asset, amount, "fee", ref)]
    if kind == "FeesNetted":
        return [(asset, amount, "fee", {"event": kind, "symbol": data["symbol"]})]
    return [(asset, amount, "deposit" if amount > 0 else "withdrawal", {"event": kind})]


def _settled(balances: dict[str, list[int]], data: dict[str, Any]) -> list[Entry]:
    currency, symbol = data["currency"], data["symbol"]
    held = currency if data["side"] == "buy" else symbol
    _balance(balances, held)[1] -= data["hold_used"]
    ref = {
        "event": "TradeSettled",
        "symbol": symbol,
        "trade_id": data["trade_id"],
        "order_id": data["order_id"],
        "side": data["side"],
        "fee": data["fee"],
    }
    entries: list[Entry] = []
    for asset, delta in ((currency, data["cash_delta"]), (symbol, data["shares_delta"])):
        _balance(balances, asset)[0] += delta
        if delta:
            entries.append((asset, delta, "trade", ref))
    return entries


def _balance(balances: dict[str, list[int]], asset: str) -> list[int]:
    found = balances.get(asset)
    if found is None:
        found = balances[asset] = [0, 0]
    return found
