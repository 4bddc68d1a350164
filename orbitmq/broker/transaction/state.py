"""Which half messages are resolved: progress over the half and op queues. Pure code.

Theory of operation. Half messages live in RMQ_SYS_TRANS_HALF_TOPIC queue 0; resolving
one (commit, rollback, or discard after too many checks) appends an op message to
RMQ_SYS_TRANS_OP_HALF_TOPIC whose body is the half message's queue offset. Two progress
offsets, kept like a consumer group's (`CID_RMQ_SYS_TRANS` in consumerOffset.json),
make this cheap to rebuild after a restart:

  half_offset  every half message below it is resolved;
  op_offset    every op message below it names a half offset below half_offset.

`resolved` holds the half offsets at or above `half_offset` that have an op message;
`op_log` the (op offset, half offset) pairs from `op_offset` on. After a restart both
are rebuilt by reading the op queue from `op_offset`. `advance` moves `half_offset` over
resolved offsets and `op_offset` over op messages that no longer matter.

Unlike a Java broker, a half message is never re-appended to the half queue when it is
checked: `half_offset` waits at the oldest open transaction instead, which is bounded
because a transaction is discarded after `transactionCheckMax` checks. Each half
message therefore has exactly one offset, and an END_TRANSACTION for a resolved one is
recognised and ignored (a Java broker would commit it twice). Check counts are kept in
memory; a restart starts them again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class TransactionState:
    half_offset: int = 0
    op_offset: int = 0
    resolved: set[int] = field(default_factory=set)
    op_log: deque[tuple[int, int]] = field(default_factory=deque)
    check_times: dict[int, int] = field(default_factory=dict)

    def is_resolved(self, half_queue_offset: int) -> bool:
        return half_queue_offset < self.half_offset or half_queue_offset in self.resolved

    def mark_resolved(self, half_queue_offset: int, op_queue_offset: int) -> None:
        """An op message for `half_queue_offset` was stored at `op_queue_offset`."""
        if half_queue_offset >= self.half_offset:
            self.resolved.add(half_queue_offset)
        self.op_log.append((op_queue_offset, half_queue_offset))
        self.check_times.pop(half_queue_offset, None)

    def record_check(self, half_queue_offset: int) -> int:
        """Count one check of a half message; return how many it has had now."""
        times = self.check_times.get(half_queue_offset, 0) + 1
        self.check_times[half_queue_offset] = times
        return times

    def checks_of(self, half_queue_offset: int) -> int:
        return self.check_times.get(half_queue_offset, 0)

    def advance(self, half_min_offset: int = 0, op_min_offset: int = 0) -> bool:
        """Move both progress offsets as far as they may go; True if either moved.

        `half_min_offset` / `op_min_offset`: the queues' min offsets (older units were
        deleted with their files and count as resolved).
        """
        before = (self.half_offset, self.op_offset)
        if half_min_offset > self.half_offset:  # rare: the oldest half file was deleted
            self.half_offset = half_min_offset
            self.resolved = {o for o in self.resolved if o >= half_min_offset}
            self.check_times = {o: n for o, n in self.check_times.items() if o >= half_min_offset}
        # Resolved offsets leave `check_times` in mark_resolved, so only `resolved` shrinks.
        while self.half_offset in self.resolved:
            self.resolved.discard(self.half_offset)
            self.half_offset += 1
        self.op_offset = max(self.op_offset, op_min_offset)
        log = self.op_log
        while log and log[0][1] < self.half_offset:
            self.op_offset = max(self.op_offset, log.popleft()[0] + 1)
        return (self.half_offset, self.op_offset) != before

    def open_count(self, half_max_offset: int) -> int:
        """How many half messages below `half_max_offset` are not resolved."""
        span = max(0, half_max_offset - self.half_offset)
        return span - sum(1 for o in self.resolved if o < half_max_offset)
