"""ProcessQueue: the messages of one queue pulled but not yet consumed (ProcessQueue.java).

Theory of operation: pulls append messages in offset order; consumption finishes in any
order. The offset that may be committed is the lowest offset still in flight, or, when
nothing is in flight, one past the highest offset seen. So a crash re-delivers every
unfinished message (at least once) and never skips one. Pure code: no I/O.

Orderly consumption also keeps the broker lock state here (Java's ProcessQueue.locked /
lastLockTimestamp): a queue may be consumed only while `locked` and less than
LOCK_EXPIRE_SECONDS have passed since the last successful lock, and `take` hands out the
lowest in-flight offsets first.
"""

from __future__ import annotations

import time
from collections import deque

from orbitmq.protocol.message import MessageExt

# rocketmq.client.rebalance.lockMaxLiveTime: a client trusts its lock this long; the
# broker keeps it twice as long (60 s), so an owner that lost contact stops first.
LOCK_EXPIRE_SECONDS = 30.0


class ProcessQueue:
    """In-flight bookkeeping for one MessageQueue."""

    __slots__ = (
        "_in_flight",
        "_max_offset",
        "_order",
        "dropped",
        "last_lock_time",
        "last_pull_time",
        "locked",
    )

    def __init__(self) -> None:
        self._in_flight: dict[int, MessageExt] = {}
        self._order: deque[int] = deque()
        self._max_offset = -1
        self.dropped = False
        self.last_pull_time = time.monotonic()
        self.locked = False
        self.last_lock_time = 0.0

    def mark_locked(self, when: float) -> None:
        """The broker granted (or renewed) the lock of a request sent at `when`."""
        self.locked = True
        self.last_lock_time = max(self.last_lock_time, when)

    def is_lock_expired(self, now: float) -> bool:
        return now - self.last_lock_time > LOCK_EXPIRE_SECONDS

    def lock_valid(self, now: float) -> bool:
        """Locked at the broker and the lock not yet expired on our side."""
        return self.locked and not self.is_lock_expired(now)

    @property
    def count(self) -> int:
        """Messages pulled and not yet consumed."""
        return len(self._in_flight)

    @property
    def max_offset(self) -> int:
        """The highest queue offset ever put here, -1 if none."""
        return self._max_offset

    @property
    def span(self) -> int:
        """Distance between the lowest in-flight offset and the highest seen."""
        if not self._in_flight:
            return 0
        return self._max_offset - self._order[0]

    def put(self, msgs: list[MessageExt]) -> None:
        """Add freshly pulled messages (ascending offsets)."""
        for msg in msgs:
            offset = msg.queue_offset
            if offset in self._in_flight:
                continue
            self._in_flight[offset] = msg
            self._order.append(offset)
            if offset > self._max_offset:
                self._max_offset = offset

    def take(self, count: int) -> list[MessageExt]:
        """The `count` lowest in-flight messages, in offset order (left in flight)."""
        out: list[MessageExt] = []
        for offset in self._order:
            msg = self._in_flight.get(offset)
            if msg is not None:
                out.append(msg)
                if len(out) >= count:
                    break
        return out

    def advance(self, next_offset: int) -> None:
        """Note that every offset below `next_offset` was seen (e.g. skipped by the tag filter)."""
        if next_offset - 1 > self._max_offset:
            self._max_offset = next_offset - 1

    def remove(self, msgs: list[MessageExt]) -> int:
        """Mark messages consumed.

        Returns:
            The offset to commit (lowest still in flight, else max seen + 1), or -1 if
            nothing was ever put here.
        """
        in_flight = self._in_flight
        for msg in msgs:
            in_flight.pop(msg.queue_offset, None)
        order = self._order
        while order and order[0] not in in_flight:
            order.popleft()
        return self.commit_offset()

    def commit_offset(self) -> int:
        """The lowest unconsumed offset, or -1 if nothing was ever seen."""
        if self._order:
            return self._order[0]
        return self._max_offset + 1 if self._max_offset >= 0 else -1

    def clear(self) -> None:
        self._in_flight.clear()
        self._order.clear()
