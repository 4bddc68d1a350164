"""Queue locks of orderly consumers (RebalanceLockManager.java). Pure code: time is passed in.

Per consumer group, each locked queue has an owner client id and the time of its last
lock or renewal. A lock is live for `max_live_seconds` (60 s, Java's
`rocketmq.broker.rebalance.lockMaxLiveTime`) after that; clients renew every 20 s and
stop consuming 30 s after their last successful lock, so an owner that vanishes stops
before anyone else may start.

`try_lock_batch` grants (or renews) a queue when it is free, already the caller's, or its
owner's lock expired. Unlike Java, which grants to any client id, the broker handler
passes `members` (the group's client ids from heartbeats) and a caller outside the
group gets nothing: a lock must belong to a consumer the rebalance can see.
An unlock only releases queues the caller owns. Leaving the group does not release a
lock: it expires, or its owner unlocks it after finishing its in-flight messages.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

Q = TypeVar("Q")  # a queue key (the handler uses a MessageQueue-like tuple)

DEFAULT_LOCK_MAX_LIVE_SECONDS = 60.0


@dataclass(slots=True)
class LockEntry:
    client_id: str
    last_update: float


class RebalanceLockManager(Generic[Q]):
    """Queue ownership per consumer group."""

    def __init__(self, max_live_seconds: float = DEFAULT_LOCK_MAX_LIVE_SECONDS) -> None:
        self.max_live_seconds = max_live_seconds
        self._table: dict[str, dict[Q, LockEntry]] = {}

    def _expired(self, entry: LockEntry, now: float) -> bool:
        return now - entry.last_update > self.max_live_seconds

    def try_lock_batch(
        self,
        group: str,
        queues: Iterable[Q],
        client_id: str,
        now: float,
        members: Collection[str] | None = None,
    ) -> list[Q]:
        """Lock (or renew) what `client_id` may hold; return the queues it now holds.

        Args:
            members: the group's current client ids; when given and `client_id` is not
                among them, nothing is granted (not even a renewal).
        """
        if members is not None and client_id not in members:
            return []
        locks = self._table.setdefault(group, {})
        granted: list[Q] = []
        for queue in dict.fromkeys(queues):
            entry = locks.get(queue)
            if entry is None:
                locks[queue] = LockEntry(client_id, now)
            elif entry.client_id == client_id or self._expired(entry, now):
                entry.client_id = client_id
                entry.last_update = now
            else:
                continue
            granted.append(queue)
        return granted

    def unlock_batch(self, group: str, queues: Iterable[Q], client_id: str) -> list[Q]:
        """Release the queues `client_id` owns; return those released."""
        locks = self._table.get(group)
        if not locks:
            return []
        released = []
        for queue in queues:
            entry = locks.get(queue)
            if entry is not None and entry.client_id == client_id:
                del locks[queue]
                released.append(queue)
        if not locks:
            del self._table[group]
        return released

    def owner(self, group: str, queue: Q, now: float) -> str | None:
        """The client holding a live lock on `queue`, None if nobody does."""
        entry = self._table.get(group, {}).get(queue)
        if entry is None or self._expired(entry, now):
            return None
        return entry.client_id

    def is_locked(self, group: str, queue: Q, client_id: str, now: float) -> bool:
        return self.owner(group, queue, now) == client_id

    def is_lock_all_expired(self, group: str, now: float) -> bool:
        return all(self._expired(e, now) for e in self._table.get(group, {}).values())

    def purge_expired(self, now: float) -> int:
        """Forget expired locks (memory hygiene); returns how many were dropped."""
        dropped = 0
        for group in list(self._table):
            locks = self._table[group]
            for queue in [q for q, e in locks.items() if self._expired(e, now)]:
                del locks[queue]
                dropped += 1
            if not locks:
                del self._table[group]
        return dropped
