"""Callbacks waiting for a watermark to pass their offset, with one timeout for all.

Group commit (the flushed offset) and SYNC_MASTER (the slaves' acknowledged offset) both
park every send until a watermark reaches its end offset, or answer it with a timeout
code. A callback per send, rather than a task with a timeout scope, keeps that off the
per-message cost; one event-loop timer watches the oldest deadline:

    waiters = OffsetWaiters(timeout_s=5.0)
    waiters.add(end_offset, lambda reached: ...)   # reached: True, or False on timeout
    waiters.advance(flushed_offset)                # calls back every waiter covered

Waiters are completed in offset order (a heap) and expired in arrival order (all share
one timeout, so deadlines ascend with arrival).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

WaiterCallback = Callable[[bool], object]

# Expired waiters stay in the offset heap until the watermark passes them; rebuild the
# heap when they outnumber the live ones by this much (a watermark that stopped moving).
_STALE_SLACK = 1024


class _Waiter:
    __slots__ = ("callback", "deadline", "done", "offset")

    def __init__(self, offset: int, deadline: float, callback: WaiterCallback) -> None:
        self.offset = offset
        self.deadline = deadline
        self.callback = callback
        self.done = False

    def finish(self, reached: bool) -> None:
        self.done = True
        try:
            self.callback(reached)
        except Exception:
            log.exception("offset waiter callback failed")


class OffsetWaiters:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._by_offset: list[tuple[int, int, _Waiter]] = []
        self._by_arrival: deque[_Waiter] = deque()
        self._sequence = itertools.count()
        self._live = 0
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        """Waiters not yet called back."""
        return self._live

    def add(self, offset: int, callback: WaiterCallback) -> None:
        """Call `callback(True)` once `advance` passes `offset`, or `callback(False)` after
        `timeout_s`. Needs a running event loop."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(offset, loop.time() + self.timeout_s, callback)
        heapq.heappush(self._by_offset, (offset, next(self._sequence), waiter))
        self._by_arrival.append(waiter)
        self._live += 1
        if self._timer is None:
            self._timer = loop.call_at(waiter.deadline, self._expire)

    def advance(self, watermark: int) -> None:
        """Call back, in offset order, every waiter whose offset is at most `watermark`."""
        heap = self._by_offset
        while heap and heap[0][0] <= watermark:
            waiter = heapq.heappop(heap)[2]
            if not waiter.done:
                self._live -= 1
                waiter.finish(True)
        arrivals = self._by_arrival
        while arrivals and arrivals[0].done:  # offsets arrive almost in order
            arrivals.popleft()

    def _expire(self) -> None:
        self._timer = None
        arrivals = self._by_arrival
        loop = asyncio.get_running_loop()
        now = loop.time()
        while arrivals and (arrivals[0].done or arrivals[0].deadline <= now):
            waiter = arrivals.popleft()
            if not waiter.done:
                self._live -= 1
                waiter.finish(False)
        if len(self._by_offset) > self._live + _STALE_SLACK:
            self._by_offset = [entry for entry in self._by_offset if not entry[2].done]
            heapq.heapify(self._by_offset)
        while arrivals and arrivals[0].done:
            arrivals.popleft()
        if arrivals:
            self._timer = loop.call_at(arrivals[0].deadline, self._expire)
