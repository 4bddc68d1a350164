"""Pieces shared by the load generators: budgets, periodic calls, bodies, the error type."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

DEFAULT_DURATION = 60.0
_BODY_PATTERN = b"OrbitMQ benchmark message body. "


class BenchError(Exception):
    """A benchmark could not run (a worker process failed, a server did not start)."""


class Budget:
    """How much work is left: at most `count` messages (None: no count limit) and nothing
    after `deadline` (loop time). Every load loop asks `take` before each request, so each
    one stops on whichever limit comes first."""

    def __init__(self, count: int | None, deadline: float, clock: Callable[[], float]) -> None:
        self.remaining = count
        self.deadline = deadline
        self._clock = clock

    @property
    def expired(self) -> bool:
        return self._clock() >= self.deadline

    def time_left(self) -> float:
        return max(0.0, self.deadline - self._clock())

    def stop(self) -> None:
        """End the run now: every later `take` returns 0."""
        self.deadline = min(self.deadline, self._clock())

    def take(self, wanted: int) -> int:
        """Claim up to `wanted` messages; 0 means stop."""
        if self._clock() >= self.deadline:
            return 0
        if self.remaining is None:
            return wanted
        granted = min(wanted, self.remaining)
        self.remaining -= granted
        return granted


def make_body(size: int) -> bytes:
    """A printable body of exactly `size` bytes."""
    repeats = size // len(_BODY_PATTERN) + 1
    return (_BODY_PATTERN * repeats)[:size]


async def call_every(interval: float, fn: Callable[[], None]) -> None:
    """Call `fn()` every `interval` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval)
        fn()
