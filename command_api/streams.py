"""Stream names and the command API's own event types (the domain's come from ``domain/``).

Every write is one atomic append over the streams it touches, each with an expected version:

* ``user-<user_id>``: ``UserRegistered``
* ``username-<lowercased name>``: ``UsernameClaimed`` (expected "no stream": unique names)
* ``apikey-<sha256 of the key>``: ``ApiKeyIssued`` (key hash → user id)
* ``instrument-<SYMBOL>``: ``InstrumentListed`` (expected "no stream": unique symbols)
* ``account-<user_id>``: the domain's account events (``domain/account_events.py``):
  ``FundsDeposited``, ``FundsWithdrawn``, ``FundsReserved`` (one per order) written here;
  ``FundsReleased``, ``TradeSettled`` (settlement's) folded here too
* ``order-<order_id>``: ``OrderPlaced`` / ``OrderPlacedInBatch``, ``CancelRequested``,
  ``AmendRequested``, then the engine's events
* ``batch-<batch_id>``: ``BatchPlaced`` (the engine's one command for a batch)
* ``client-order-<user_id>-<client_order_id>``: ``ClientOrderIdClaimed``
* ``idempotency-<scope>-<sha256 of the key>``: ``IdempotentResponseRecorded``
"""

from __future__ import annotations

from typing import Final

USER_REGISTERED: Final = "UserRegistered"
USERNAME_CLAIMED: Final = "UsernameClaimed"
API_KEY_ISSUED: Final = "ApiKeyIssued"
INSTRUMENT_LISTED: Final = "InstrumentListed"
ORDER_PLACED_IN_BATCH: Final = "OrderPlacedInBatch"
CLIENT_ORDER_ID_CLAIMED: Final = "ClientOrderIdClaimed"
IDEMPOTENT_RESPONSE_RECORDED: Final = "IdempotentResponseRecorded"


def user(user_id: int) -> str:
    """The user's registration stream."""
    return f"user-{user_id}"


def username(name: str) -> str:
    """The uniqueness stream of a username (case-insensitive)."""
    return f"username-{name.lower()}"


def api_key(key_hash: str) -> str:
    """The stream that maps an API key's hash to its user."""
    return f"apikey-{key_hash}"


def instrument(symbol: str) -> str:
    """The instrument's listing stream."""
    return f"instrument-{symbol}"


def account(user_id: int) -> str:
    """The user's account (balances and holds)."""
    return f"account-{user_id}"


def order(order_id: int) -> str:
    """One order's lifecycle."""
    return f"order-{order_id}"


def batch(batch_id: int) -> str:
    """One batch's engine command."""
    return f"batch-{batch_id}"


def client_order(user_id: int, client_order_id: str) -> str:
    """The uniqueness stream of a user's ``client_order_id``."""
    return f"client-order-{user_id}-{client_order_id}"


def idempotency(scope: str, key_hash: str) -> str:
    """The first response given to an ``Idempotency-Key`` of one caller."""
    return f"idempotency-{scope}-{key_hash}"
