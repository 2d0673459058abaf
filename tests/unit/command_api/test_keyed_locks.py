"""Per-key locks: same key takes turns, other keys run together, idle keys are dropped."""

from __future__ import annotations

import asyncio

import pytest

from command_api.services.locks import KeyedLocks


async def test_holders_of_one_key_take_turns_and_the_key_is_dropped_after() -> None:
    locks = KeyedLocks()
    inside = 0
    most = 0

    async def worker() -> None:
        nonlocal inside, most
        async with locks.hold(["order-1"]):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(worker() for _ in range(20)))

    assert most == 1
    assert len(locks) == 0


async def test_different_keys_are_held_at_the_same_time() -> None:
    locks = KeyedLocks()
    both_in = asyncio.Event()
    entered = 0

    async def worker(key: str) -> None:
        nonlocal entered
        async with locks.hold([key]):
            entered += 1
            if entered == 2:
                both_in.set()
            await asyncio.wait_for(both_in.wait(), 1)

    await asyncio.gather(worker("a"), worker("b"))

    assert len(locks) == 0


async def test_overlapping_key_sets_in_any_order_never_deadlock() -> None:
    locks = KeyedLocks()

    async def worker(keys: list[str]) -> None:
        async with locks.hold(keys):
            await asyncio.sleep(0)

    await asyncio.wait_for(
        asyncio.gather(*(worker(["x", "y"] if i % 2 else ["y", "x", "y"]) for i in range(50))), 5
    )

    assert len(locks) == 0


async def test_a_waiter_cancelled_or_a_holder_failing_leaves_no_key_behind() -> None:
    locks = KeyedLocks()
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold(["k"]):
            held.set()
            await release.wait()
            raise RuntimeError("the use case failed")

    first = asyncio.create_task(holder())
    await held.wait()
    waiter = asyncio.create_task(locks.hold(["k"]).__aenter__())
    await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    with pytest.raises(RuntimeError):
        await first
    with pytest.raises(asyncio.CancelledError):
        await waiter

    assert len(locks) == 0
