"""Who placed which order on which symbol, for the orders this process placed recently.

A cancel must know the order's owner (someone else's is ``not_found``), its symbol (the engine's
route) and that it is still open at the version its request expects. Reading each order's whole
stream for that (the placement's event is most of it) cost the command API about as much per
cancelled order as a placement: the pipeline's traders pull ~0.6 stale orders per order placed.
Owner and symbol never change, so for an order placed here only what follows the placement is
read: nothing (the engine has not seen it yet) or just the engine's ``OrderAccepted`` means open
with no cancel requested, which is all a cancel decides on. The request expects the version read,
so if the engine appended anything since (a fill, a close) the append conflicts and the cancel is
decided again from the whole stream.
"""

from __future__ import annotations

from itertools import islice
from typing import Final

MAX_PLACED: Final = 262_144
"""Orders remembered (~80 bytes each); past it the older half is dropped. The pipeline's traders
pull an order ~80k orders after placing it on average (100 users by 8 symbols, batches of 100)."""

Placed = tuple[int, str]
"""(user_id, symbol) of an order."""


class PlacedOrders:
    """A bounded map of order id → (owner, symbol) of the orders placed by this process."""

    def __init__(self, capacity: int = MAX_PLACED) -> None:
        self._capacity = capacity
        self._orders: dict[int, Placed] = {}
        self._owners: dict[Placed, Placed] = {}  # one tuple per (user, symbol), shared

    def note(self, order_id: int, user_id: int, symbol: str) -> None:
        """Remember an order whose placement was appended (its stream's version 1)."""
        key = (user_id, symbol)
        owner = self._owners.setdefault(key, key)
        orders = self._orders
        orders[order_id] = owner
        if len(orders) > self._capacity:
            self._orders = dict(islice(orders.items(), len(orders) // 2, None))
            self._owners = {o: o for o in self._orders.values()}

    def get(self, order_id: int) -> Placed | None:
        """The order's (owner, symbol), if this process placed it recently."""
        return self._orders.get(order_id)

    def forget(self, order_id: int) -> None:
        """Drop an order (its cancel was requested: its stream is past the placement)."""
        self._orders.pop(order_id, None)

    def __len__(self) -> int:
        return len(self._orders)
