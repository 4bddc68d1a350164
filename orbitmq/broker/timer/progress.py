"""Which timer messages are done: the checkpoint `config/timercheck.json`. Pure code.

Timers fire in time order, not in the order they were parked, so a single offset cannot
say what is done. The state is:

  timerQueueOffset   L: every unit of rmq_sys_wheel_timer queue 0 below L is done
  deliveredOffsets   the queue offsets >= L that are done too, as [start, end) ranges
  commitLogOffset    C: every delivery whose record lies before C is counted above

"Done" is delivered (its record stored for good) or dropped (unreadable, or not a
record this broker parked). A delivery counts once its record is *stored*: in the commit
log (classic mode: at once) or, in DLedger mode, committed by the group (a leader that
loses its group may lose what it proposed). Until then it is `unconfirmed` and kept out
of the checkpoint, so a new master delivers it again rather than never.

A delivery recorded after the checkpoint was written lies at or after C, where recovery
finds it by its TIMER_ORIGIN_OFFSET property (recovery.py). So a restart delivers every
timer once: none lost, none twice.

The JSON keeps RocketMQ's camelCase; the file is OrbitMQ's own (a Java broker's binary
`config/timercheck` and its timerwheel/timerlog files are not kept).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

# The most timer queue offsets a checkpoint may hold done above L (a byte each in memory).
_MAX_WINDOW = 1 << 30


class CheckpointError(ValueError):
    """A checkpoint body or file that does not hold what it should."""


def decode_ranges(ranges: Any, low: int) -> list[tuple[int, int]]:
    """`deliveredOffsets` -> [(start, end), ...], each within L .. L + 2**30.

    Raises:
        CheckpointError: not a list of such [start, end) integer pairs.
    """
    try:
        pairs = [(int(start), int(end)) for start, end in ranges]
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"deliveredOffsets is not a list of [start, end) pairs: {exc}"
        ) from exc
    for start, end in pairs:
        if not low <= start < end <= low + _MAX_WINDOW:
            raise CheckpointError(
                f"deliveredOffsets holds [{start}, {end}), not within timerQueueOffset "
                f"{low} .. {low + _MAX_WINDOW}"
            )
    return pairs


class TimerProgress:
    """The checkpoint state, and the deliveries still waiting to be stored.

    Offsets done above L are one byte each in a window that starts at L, so that moving
    L and finding the runs for the checkpoint are scans in C (`bytearray.find`), however
    many timers a long one pending at L holds back.

    Args:
        low: L, the timer queue offset below which everything is done.
        commit_log_offset: C, or None when unknown (no checkpoint yet): recovery then
            looks for deliveries from the first parked record on.
        done: [start, end) ranges of queue offsets already done.
    """

    def __init__(
        self,
        low: int = 0,
        commit_log_offset: int | None = None,
        done: Iterable[tuple[int, int]] = (),
    ) -> None:
        self.low = low
        self.commit_log_offset = commit_log_offset
        self._window = bytearray()  # _window[i]: offset low + i is done
        # (end of the delivered record, queue offset), in append order: ends ascend.
        self._unconfirmed: deque[tuple[int, int]] = deque()
        self.changed = False
        for start, end in done:
            self._set_done(max(start, low), end)
        self._advance()

    def is_done(self, queue_offset: int) -> bool:
        index = queue_offset - self.low
        return index < 0 or (index < len(self._window) and self._window[index] == 1)

    @property
    def unconfirmed_count(self) -> int:
        return len(self._unconfirmed)

    def skip_to(self, queue_offset: int) -> int:
        """Retention deleted the queue below `queue_offset`: move L there, and return
        how many timers it took before they were done."""
        if queue_offset <= self.low:
            return 0
        cut = queue_offset - self.low
        lost = cut - self._window.count(1, 0, cut)
        del self._window[:cut]
        self.low = queue_offset
        self._advance()
        self.changed = True
        return lost

    def limit_to(self, queue_end: int) -> None:
        """The timer queue here ends at `queue_end` (a slave that had not received all
        the master had when it copied the checkpoint): offsets from there on will hold
        other messages, so nothing there is done."""
        if self.low > queue_end:
            self.low = queue_end
            self.changed = True
        del self._window[queue_end - self.low :]

    def mark_done(self, queue_offset: int, end: int | None = None) -> None:
        """Delivered and stored, or dropped: `queue_offset`, or [queue_offset, end)."""
        self._set_done(queue_offset, queue_offset + 1 if end is None else end)
        self._advance()
        self.changed = True

    def mark_delivered(self, queue_offset: int, record_end: int, stored_end: int) -> None:
        """Its delivery was appended, ending at commit-log offset `record_end`."""
        if record_end <= stored_end:
            self.mark_done(queue_offset)
        else:
            self._unconfirmed.append((record_end, queue_offset))

    def confirm(self, stored_end: int) -> None:
        """The commit log now holds everything before `stored_end`."""
        unconfirmed = self._unconfirmed
        while unconfirmed and unconfirmed[0][0] <= stored_end:
            self.mark_done(unconfirmed.popleft()[1])

    def _set_done(self, start: int, end: int) -> None:
        window = self._window
        first, stop = max(start - self.low, 0), end - self.low
        if stop <= first:
            return
        if stop > len(window):
            window.extend(bytes(stop - len(window)))
        window[first:stop] = b"\x01" * (stop - first)

    def _advance(self) -> None:
        window = self._window
        run = window.find(0)
        if run < 0:
            run = len(window)
        if run:
            del window[:run]  # CPython drops a bytearray's head without moving the rest
            self.low += run

    def _done_ranges(self) -> list[list[int]]:
        window, low = self._window, self.low
        ranges: list[list[int]] = []
        start = window.find(1)
        while start >= 0:
            end = window.find(0, start)
            if end < 0:
                end = len(window)
            ranges.append([low + start, low + end])
            start = window.find(1, end)
        return ranges

    def checkpoint(self, stored_end: int) -> dict[str, Any]:
        """The checkpoint as of `stored_end` (the commit log's stored end now)."""
        self.confirm(stored_end)
        return {
            "timerQueueOffset": self.low,
            "commitLogOffset": stored_end,
            "deliveredOffsets": self._done_ranges(),
        }

    @classmethod
    def from_json(cls, data: Any) -> TimerProgress:
        """A checkpoint as written by `checkpoint`.

        Raises:
            CheckpointError: a field is missing or is not what it should be.
        """
        if not isinstance(data, dict):
            raise CheckpointError("the timer checkpoint is not a JSON object")
        try:
            low = int(data["timerQueueOffset"])
            commit_log_offset = int(data["commitLogOffset"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"the timer checkpoint lacks a field or holds a bad one: {exc!r}"
            ) from exc
        return cls(low, commit_log_offset, decode_ranges(data.get("deliveredOffsets") or [], low))
