"""Stream names, shared by the command API, the workers and the read side.

Every write is one atomic append over the streams it touches, each with an expected version:

* ``user-<user_id>``: ``UserRegistered``
* ``username-<lowercased name>``: ``UsernameClaimed`` (expected "no stream": unique names)
* ``apikey-<sha256 of the key>``: ``ApiKeyIssued`` (key hash → user id)
* ``instrument-<SYMBOL>``: ``InstrumentListed`` (expected "no stream": unique symbols)
* ``account-<user_id>``: the domain's account events (``domain/account_events.py``):
  ``FundsDeposited``, ``FundsWithdrawn``, ``FundsReserved`` (one per single order or amend),
  ``BatchFundsReserved`` (one per batch, every leg's hold) written here;
  ``FundsReleased``, ``TradeSettled`` (settlement's) folded here too
* ``order-<order_id>``: ``OrderPlaced`` / ``OrderPlacedInBatch``, ``CancelRequested``,
  ``AmendRequested``, then the engine's events
* ``batch-<batch_id>``: ``BatchPlaced`` (the engine's one command for a batch)
* ``client-order-<user_id>-<client_order_id>``: ``ClientOrderIdClaimed``
* ``idempotency-<scope>-<sha256 of the key>``: ``IdempotentResponseRecorded`` (or, for a batch,
  ``IdempotentBatchResponseRecorded``)
* ``matching-<partition>``: the matching worker's ``MatchingInputConsumed`` (one per batch of
  inputs; its expected version fences a worker that lost the partition) and engine snapshots
* ``settlement-<partition>``: the settlement worker's ``SettlementInputConsumed`` (the same)
* ``session-<SYMBOL>``: ``SessionClosed``, appended by the session scheduler
"""

from __future__ import annotations

from typing import Final

from domain.registry_events import (
    ApiKeyIssued,
    ClientOrderIdClaimed,
    IdempotentBatchResponseRecorded,
    IdempotentResponseRecorded,
    InstrumentListed,
    OrderPlacedInBatch,
    UsernameClaimed,
    UserRegistered,
)

# The stored type names of the command API's own events (``domain/registry_events.py``).
USER_REGISTERED: Final[str] = UserRegistered.__name__
USERNAME_CLAIMED: Final[str] = UsernameClaimed.__name__
API_KEY_ISSUED: Final[str] = ApiKeyIssued.__name__
INSTRUMENT_LISTED: Final[str] = InstrumentListed.__name__
ORDER_PLACED_IN_BATCH: Final[str] = OrderPlacedInBatch.__name__
CLIENT_ORDER_ID_CLAIMED: Final[str] = ClientOrderIdClaimed.__name__
IDEMPOTENT_RESPONSE_RECORDED: Final[str] = IdempotentResponseRecorded.__name__
IDEMPOTENT_BATCH_RESPONSE_RECORDED: Final[str] = IdempotentBatchResponseRecorded.__name__

WRITE_ONCE: Final[tuple[str, ...]] = ("client-order-", "idempotency-")
"""Prefixes of the streams only ever created (expected "no stream"), never appended to again."""


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


def matching(partition: int) -> str:
    """The matching worker's input position (and engine snapshots) of one orders partition."""
    return f"matching-{partition}"


def settlement(partition: int) -> str:
    """The settlement worker's input position of one events partition."""
    return f"settlement-{partition}"


def session(symbol: str) -> str:
    """The trading sessions of a symbol (``SessionClosed``)."""
    return f"session-{symbol}"
