"""What a consumer group has popped from one queue, and not yet acked (pure).

`frontier` is the next queue offset never popped; `in_flight` maps each popped,
unacked offset to its current delivery. The group's committed offset (the consumer
offset table 4.x consumers share) is the low watermark: the oldest in-flight offset,
or the frontier when nothing is in flight. A broker restart forgets in-flight
deliveries and pops again from that watermark: at least once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(slots=True)
class Delivery:
    pop_time: int  # ms; tells this delivery from an earlier one of the same offset
    invisible_time: int  # ms
    attempt: int  # 1 for the first delivery
    attempt_id: str = ""  # the FIFO receive that popped it (its retries get it again)

    @property
    def visible_at(self) -> int:
        return self.pop_time + self.invisible_time


class AckOutcome(Enum):
    ACKED = "acked"
    STALE = "stale"  # acked already, or popped again since this handle was made


@dataclass(slots=True)
class PopQueueState:
    frontier: int
    in_flight: dict[int, Delivery] = field(default_factory=dict)

    def watermark(self) -> int:
        return min(self.in_flight, default=self.frontier)

    def due(self, now_ms: int) -> list[int]:
        """In-flight offsets whose invisible time has passed, oldest first."""
        return sorted(o for o, d in self.in_flight.items() if d.visible_at <= now_ms)

    def next_visible_at(self) -> int | None:
        return min((d.visible_at for d in self.in_flight.values()), default=None)

    def blocked_for_order(self, now_ms: int, attempt_id: str) -> bool:
        """FIFO: nothing more leaves this queue while a batch is in flight and invisible,
        unless the receive is a retry of the one that popped it (same attempt id)."""
        return any(
            d.visible_at > now_ms and (not attempt_id or d.attempt_id != attempt_id)
            for d in self.in_flight.values()
        )

    def deliver(
        self, offset: int, now_ms: int, invisible_ms: int, attempt_id: str = ""
    ) -> Delivery:
        """Hand out `offset` (new, or again): one more attempt than before."""
        previous = self.in_flight.get(offset)
        delivery = Delivery(
            now_ms, invisible_ms, previous.attempt + 1 if previous else 1, attempt_id
        )
        self.in_flight[offset] = delivery
        self.frontier = max(self.frontier, offset + 1)
        return delivery

    def ack(self, offset: int, pop_time: int) -> AckOutcome:
        delivery = self.in_flight.get(offset)
        if delivery is None or delivery.pop_time != pop_time:
            return AckOutcome.STALE
        del self.in_flight[offset]
        return AckOutcome.ACKED

    def change_invisible(
        self, offset: int, pop_time: int, now_ms: int, invisible_ms: int
    ) -> Delivery | None:
        """A new invisible time counted from now; the attempt count stays (a retry is
        counted when the message is popped again). None for a stale handle."""
        delivery = self.in_flight.get(offset)
        if delivery is None or delivery.pop_time != pop_time:
            return None
        # A distinct pop time, so the handle given out before this change goes stale.
        pop = max(now_ms, pop_time + 1)
        delivery.pop_time, delivery.invisible_time = pop, invisible_ms + now_ms - pop
        return delivery

    def skip_to(self, offset: int) -> None:
        """Offsets below `offset` not in flight were filtered out: nothing to deliver."""
        self.frontier = max(self.frontier, offset)
