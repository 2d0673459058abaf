"""Users, instruments, deposits and withdrawals decided by the service layer."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from command_api.idempotency import Outcome
from command_api.repository import Repository
from command_api.schemas import AmendRequest, Funding, NewInstrument, NewOrderRequest
from command_api.services import admin, funding
from command_api.services.base import Context
from command_api.services.errors import DuplicateSymbol, UsernameTaken
from domain.errors import DomainError, ErrorCode
from domain.values import MAX_DECIMAL_LENGTH
from event_store.memory import InMemoryEventStore
from tests.unit.command_api.conftest import list_acme, new_user


async def test_registering_a_user_stores_only_the_hash_of_its_key(
    ctx: Context, store: InMemoryEventStore
) -> None:
    written = await admin.register_user(ctx, "alice", None)

    api_key = written.body["api_key"]
    events = await store.read_all()
    assert api_key.startswith(admin.API_KEY_PREFIX)
    assert all(api_key not in str(e.data) for e in events)
    assert await ctx.repo.user_of_key(admin.hash_key(api_key)) == written.body["user_id"]
    assert written.position == events[-1].position


async def test_a_key_is_known_without_io_once_its_hash_was_looked_up(ctx: Context) -> None:
    written = await admin.register_user(ctx, "alice", None)
    api_key = written.body["api_key"]
    fresh = Repository(ctx.store)  # (another process: nothing looked up yet)

    unknown_before = fresh.cached_user_of_api_key(api_key)
    await fresh.user_of_key(admin.hash_key(api_key))

    assert unknown_before is None
    assert fresh.cached_user_of_api_key(api_key) == written.body["user_id"]
    assert fresh.cached_user_of_api_key(api_key) == written.body["user_id"]  # (remembered)
    assert fresh.cached_user_of_api_key(api_key + "x") is None


async def test_a_taken_username_is_a_conflict_whatever_its_case(ctx: Context) -> None:
    await admin.register_user(ctx, "alice", None)

    with pytest.raises(UsernameTaken) as raised:
        await admin.register_user(ctx, "ALICE", None)

    assert raised.value.code == "USERNAME_TAKEN"


async def test_listing_a_symbol_twice_is_a_duplicate(ctx: Context) -> None:
    await list_acme(ctx)

    with pytest.raises(DuplicateSymbol) as raised:
        await list_acme(ctx)

    assert raised.value.code == "DUPLICATE_SYMBOL"


async def test_an_invalid_tick_size_is_an_invalid_instrument(ctx: Context) -> None:
    with pytest.raises(DomainError) as raised:
        await admin.list_instrument(ctx, "ACME", "0.001", 1, "reject_opposite", (0, 0), "USD", None)

    assert raised.value.code == ErrorCode.INVALID_INSTRUMENT


async def test_a_tick_size_longer_than_the_domain_parses_is_an_invalid_instrument(
    ctx: Context,
) -> None:
    tick_size = "0." + "0" * (MAX_DECIMAL_LENGTH - 2) + "1"

    with pytest.raises(DomainError) as raised:
        await admin.list_instrument(
            ctx, "ACME", tick_size, 1, "reject_opposite", (0, 0), "USD", None
        )

    assert raised.value.code == ErrorCode.INVALID_INSTRUMENT
    assert raised.value.message == f"tick_size has more than {MAX_DECIMAL_LENGTH} characters"


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (NewInstrument, {"symbol": "ACME"}, "tick_size"),
        (NewOrderRequest, {"symbol": "ACME", "side": "buy", "quantity": 1}, "price"),
        (AmendRequest, {}, "price"),
        (Funding, {"asset": "USD"}, "amount"),
    ],
)
def test_the_wire_schemas_refuse_the_decimals_the_domain_refuses(
    model: type[BaseModel], body: dict[str, object], field: str
) -> None:
    longest = "1" * MAX_DECIMAL_LENGTH

    model.model_validate({**body, field: longest})
    with pytest.raises(ValidationError):
        model.model_validate({**body, field: longest + "1"})


async def test_a_withdrawal_above_the_balance_appends_nothing(
    ctx: Context, store: InMemoryEventStore
) -> None:
    user_id = await new_user(ctx, usd="10.00")
    before = await store.last_position()

    with pytest.raises(DomainError) as raised:
        await funding.withdraw(ctx, user_id, "USD", "10.01", None)

    assert raised.value.code == ErrorCode.INSUFFICIENT_FUNDS
    assert await store.last_position() == before


async def test_shares_are_deposited_and_withdrawn_as_integers(ctx: Context) -> None:
    await list_acme(ctx)
    user_id = await new_user(ctx, usd=None)
    await funding.deposit(ctx, user_id, "ACME", 10, None)

    await funding.withdraw(ctx, user_id, "ACME", 4, None)
    with pytest.raises(DomainError) as raised:
        await funding.withdraw(ctx, user_id, "ACME", 7, None)

    assert raised.value.code == ErrorCode.INSUFFICIENT_HOLDINGS
    assert ctx.repo.account_entry(user_id).account.available("ACME") == 6


@pytest.mark.parametrize(
    ("asset", "amount", "code"),
    [
        ("USD", "1.001", ErrorCode.INVALID_AMOUNT),
        ("USD", "-5.00", ErrorCode.INVALID_AMOUNT),
        ("USD", 5, ErrorCode.INVALID_AMOUNT),
        ("NOPE", 5, ErrorCode.UNKNOWN_ASSET),
        ("USD", "9" * 30, ErrorCode.INVALID_AMOUNT),
    ],
)
async def test_a_bad_amount_or_asset_is_refused_with_its_code(
    ctx: Context, asset: str, amount: str | int, code: ErrorCode
) -> None:
    user_id = await new_user(ctx, usd=None)

    with pytest.raises(DomainError) as raised:
        await funding.deposit(ctx, user_id, asset, amount, None)

    assert raised.value.code == code


async def test_a_stale_cache_does_not_refuse_a_withdrawal_another_process_funded(
    ctx: Context, store: InMemoryEventStore
) -> None:
    user_id = await new_user(ctx, usd="1.00")
    other = Context(store, type(ctx.repo)(store), ctx.clock, lambda: 99)
    await funding.deposit(other, user_id, "USD", "100.00", None)

    written = await funding.withdraw(ctx, user_id, "USD", "50.00", None)

    assert written.outcome == Outcome.CREATED
    assert ctx.repo.account_entry(user_id).account.available("USD") == 5100
