"""Long polling: a pull that finds nothing is held until a message arrives in its queue
or its suspend timeout passes (PullRequestHoldService.java). The store's dispatch calls
`notify_message_arriving` after it writes consume queue units.

Each held poll costs a task and its request for up to its timeout, so a connection may
hold only so many at once (`ConnectionHolds`); RocketMQ has no such cap for pulls. A
poll over the cap is answered at once, as one whose hold timed out."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

from orbitmq.remoting.limits import RefusalLog

DEFAULT_MAX_PULL_HOLDS_PER_CONNECTION = 4096


class _Holder(Protocol):
    peer_host: str


class ConnectionHolds:
    """Counts the polls each connection has held, against a cap."""

    def __init__(self, max_per_connection: int, what: str, key: str) -> None:
        self._max = max_per_connection
        self._held: dict[_Holder, int] = {}
        self._what = what
        self._key = key
        self._refusals = RefusalLog("long polling")

    def try_hold(self, holder: _Holder) -> bool:
        """Count one more held poll of `holder`; False (logged) when over the cap."""
        held = self._held.get(holder, 0)
        if held >= self._max:
            self._refusals.refused(
                f"{self._what} not held",
                holder.peer_host,
                time.monotonic(),
                f"a connection already holds {held} ({self._key}); answered at once",
            )
            return False
        self._held[holder] = held + 1
        return True

    def release(self, holder: _Holder) -> None:
        held = self._held[holder] - 1
        if held:
            self._held[holder] = held
        else:
            del self._held[holder]

    def held_by(self, holder: _Holder) -> int:
        return self._held.get(holder, 0)


class PullRequestHoldService:
    def __init__(
        self, max_holds_per_connection: int = DEFAULT_MAX_PULL_HOLDS_PER_CONNECTION
    ) -> None:
        self._waiters: dict[tuple[str, int], list[tuple[int, asyncio.Future[None]]]] = {}
        self.holds = ConnectionHolds(max_holds_per_connection, "pull", "maxPullHoldsPerConnection")

    async def wait_message_arrival(
        self, topic: str, queue_id: int, offset: int, timeout: float
    ) -> bool:
        """Wait until the queue's max offset passes `offset`; False on timeout."""
        key = (topic, queue_id)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (offset, future)
        self._waiters.setdefault(key, []).append(entry)
        try:
            async with asyncio.timeout(timeout):
                await future
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                with contextlib.suppress(ValueError):
                    waiters.remove(entry)
                if not waiters:
                    del self._waiters[key]

    def notify_message_arriving(self, topic: str, queue_id: int, max_offset: int) -> None:
        waiters = self._waiters.get((topic, queue_id))
        if not waiters:
            return
        for offset, future in waiters:
            if offset < max_offset and not future.done():
                future.set_result(None)

    def held_count(self) -> int:
        return sum(len(w) for w in self._waiters.values())

    def wake_all(self) -> None:
        """On shutdown: answer every held pull now."""
        for waiters in self._waiters.values():
            for _, future in waiters:
                if not future.done():
                    future.set_result(None)
