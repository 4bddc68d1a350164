"""OffsetWaiters: callbacks in offset order when the watermark passes, False on timeout."""

from __future__ import annotations

import asyncio

from orbitmq.store.offset_waiters import OffsetWaiters


async def test_advance_calls_back_covered_waiters_in_offset_order() -> None:
    waiters = OffsetWaiters(timeout_s=5.0)
    calls: list[tuple[int, bool]] = []
    for offset in (300, 100, 200):
        waiters.add(offset, lambda ok, o=offset: calls.append((o, ok)))
    waiters.advance(150)
    assert calls == [(100, True)]
    waiters.advance(300)
    assert calls == [(100, True), (200, True), (300, True)]
    assert len(waiters) == 0


async def test_uncovered_waiters_time_out_once_and_are_not_called_again() -> None:
    waiters = OffsetWaiters(timeout_s=0.05)
    calls: list[tuple[int, bool]] = []
    waiters.add(100, lambda ok: calls.append((100, ok)))
    waiters.add(50, lambda ok: calls.append((50, ok)))
    waiters.advance(60)
    await asyncio.sleep(0.15)
    assert calls == [(50, True), (100, False)]
    waiters.advance(1000)  # the timed-out waiter is not answered twice
    assert calls == [(50, True), (100, False)]
    assert len(waiters) == 0


async def test_later_waiters_get_their_own_full_timeout() -> None:
    waiters = OffsetWaiters(timeout_s=0.2)
    calls: list[str] = []
    waiters.add(10, lambda ok: calls.append(f"first {ok}"))
    await asyncio.sleep(0.1)
    waiters.add(20, lambda ok: calls.append(f"second {ok}"))
    await asyncio.sleep(0.15)
    assert calls == ["first False"]
    waiters.advance(20)
    assert calls == ["first False", "second True"]


async def test_a_failing_callback_does_not_stop_the_others() -> None:
    waiters = OffsetWaiters(timeout_s=5.0)
    calls: list[int] = []

    def broken(ok: bool) -> None:
        raise RuntimeError("boom")

    waiters.add(1, broken)
    waiters.add(2, lambda ok: calls.append(2))
    waiters.advance(2)
    assert calls == [2]
