"""Long polling: a pull that finds nothing is held until a message arrives in its queue
or its suspend timeout passes (PullRequestHoldService.java). The store's dispatch calls
`notify_message_arriving` after it writes consume queue units."""

from __future__ import annotations

import asyncio
import contextlib


class PullRequestHoldService:
    def __init__(self) -> None:
        self._waiters: dict[tuple[str, int], list[tuple[int, asyncio.Future[None]]]] = {}

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
