"""Deposits and withdrawals of cash (a currency) or shares (a listed symbol)."""

from __future__ import annotations

from command_api.idempotency import IdempotencyClaim, Outcome, Written
from command_api.services.base import Context, Decision, account_events, commit_with_account, run
from domain.account import Account
from domain.errors import InvalidAmount, UnknownAsset
from domain.values import CURRENCY_DIGITS, MAX_DECIMAL_LENGTH, Money, Quantity


async def parse_asset_amount(ctx: Context, asset: str, amount: str | int) -> tuple[int, str | int]:
    """The amount in integer units of ``asset`` and its wire form; domain errors if invalid."""
    if isinstance(amount, str) and len(amount) > MAX_DECIMAL_LENGTH:
        raise InvalidAmount(f"amount has more than {MAX_DECIMAL_LENGTH} characters")
    if asset in CURRENCY_DIGITS:
        money = Money.parse(amount, asset)
        return money.minor, money.format()
    if await ctx.repo.instrument(asset) is None:
        raise UnknownAsset(f"{asset!r} is neither a currency nor a listed symbol")
    shares = Quantity.parse(amount).shares
    return shares, shares


async def deposit(
    ctx: Context, user_id: int, asset: str, amount: str | int, claim: IdempotencyClaim | None
) -> Written:
    """Credit cash or shares to the user's account."""
    units, wire = await parse_asset_amount(ctx, asset, amount)

    def decide(account: Account) -> Decision:
        events = account.deposit(asset, units, ctx.clock())
        return Decision(
            Outcome.CREATED,
            {"asset": asset, "amount": wire},
            account_events=account_events(events),
        )

    return await run(ctx, claim, lambda: commit_with_account(ctx, user_id, decide, claim))


async def withdraw(
    ctx: Context, user_id: int, asset: str, amount: str | int, claim: IdempotencyClaim | None
) -> Written:
    """Debit available cash or shares; ``INSUFFICIENT_FUNDS``/``INSUFFICIENT_HOLDINGS`` if short."""
    units, wire = await parse_asset_amount(ctx, asset, amount)

    def decide(account: Account) -> Decision:
        events = account.withdraw(asset, units, ctx.clock())
        return Decision(
            Outcome.CREATED,
            {"asset": asset, "amount": wire},
            account_events=account_events(events),
        )

    return await run(ctx, claim, lambda: commit_with_account(ctx, user_id, decide, claim))
