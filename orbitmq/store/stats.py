"""Store figures for GET_BROKER_RUNTIME_INFO (StoreStatsService.java, DefaultMessageStore
.getRuntimeInfo): TPS over 10 s / 1 min / 10 min windows, sizes, flush times.

The sampler is a pure ring of (time, counters) snapshots taken once a second by the
store; `tps(window)` divides the counter growth by the time between the newest snapshot
and the one about `window` seconds older.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from orbitmq.store.results import StoreStatistics

if TYPE_CHECKING:
    from orbitmq.store.flush import CommitLogFlusher
    from orbitmq.store.retention import CleanService

_WINDOWS = (10, 60, 600)
SAMPLE_INTERVAL_S = 1.0


class TpsSampler:
    """Snapshots of monotonically growing counters; rates over trailing windows."""

    def __init__(self, counters: Callable[[], tuple[int, ...]], keep: int = 601) -> None:
        self._counters = counters
        self._samples: deque[tuple[float, tuple[int, ...]]] = deque(maxlen=keep)

    def sample(self, now: float | None = None) -> None:
        self._samples.append((time.monotonic() if now is None else now, self._counters()))

    def tps(self, index: int, window: float) -> float:
        """Rate of counter `index` over the last `window` seconds (0.0 until 2 samples)."""
        samples = self._samples
        if len(samples) < 2:
            return 0.0
        newest_time, newest = samples[-1]
        oldest_time, oldest = samples[0]
        for stamp, values in reversed(samples):
            if newest_time - stamp >= window:
                oldest_time, oldest = stamp, values
                break
        elapsed = newest_time - oldest_time
        return (newest[index] - oldest[index]) / elapsed if elapsed > 0 else 0.0

    def tps_text(self, index: int) -> str:
        """RocketMQ's "10s 1min 10min" triple, space separated."""
        return " ".join(f"{self.tps(index, w):.2f}" for w in _WINDOWS)

    async def sample_service(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_INTERVAL_S)


def human_readable_bytes(count: int) -> str:
    """MixAll.humanReadableByteCount(bytes, false): "512 B", "1.5 KiB", "3.0 GiB"."""
    if count < 1024:
        return f"{count} B"
    exp = 0
    value = float(count)
    while value >= 1024 and exp < 6:
        value /= 1024
        exp += 1
    return f"{value:.1f} {'KMGTPE'[exp - 1]}iB"


def store_runtime_info(
    stats: StoreStatistics,
    flusher: CommitLogFlusher | None,
    clean: CleanService,
    tps: TpsSampler,
    commit_log_dir: str,
    earliest_message_time: int,
    writable: bool,
) -> dict[str, str]:
    """The store's part of GET_BROKER_RUNTIME_INFO (RocketMQ's keys; the
    commitLogFlushTimeMills* and storeWritable keys are OrbitMQ's)."""
    avg_ms = max_ms = last_ms = 0.0
    if flusher is not None and flusher.flush_count:
        avg_ms = flusher.flush_seconds_total * 1000 / flusher.flush_count
        max_ms = flusher.flush_seconds_max * 1000
        last_ms = flusher.flush_seconds_last * 1000
    try:
        st = os.statvfs(commit_log_dir)
        total, free = st.f_blocks * st.f_frsize, st.f_bfree * st.f_frsize  # File.getFreeSpace
    except OSError:
        total = free = 0
    ratio = f"{max(clean.disk_ratio, 0.0):.4f}"
    count = stats.put_message_count
    return {
        "commitLogMinOffset": str(stats.commit_log_min_offset),
        "commitLogMaxOffset": str(stats.commit_log_max_offset),
        "commitLogDiskRatio": ratio,
        "consumeQueueDiskRatio": ratio,
        "commitLogDirCapacity": (
            f"Total : {human_readable_bytes(total)}, Free : {human_readable_bytes(free)}."
        ),
        "putTps": tps.tps_text(0),
        "getTransferedTps": tps.tps_text(1),
        "getTotalTps": tps.tps_text(2),
        "putMessageTimesTotal": str(count),
        "putMessageSizeTotal": str(stats.put_message_bytes),
        "putMessageFailedTimes": str(stats.put_message_failures),
        "putMessageAverageSize": f"{stats.put_message_bytes / count:.1f}" if count else "0.0",
        "dispatchBehindBytes": str(stats.dispatch_behind_bytes),
        "earliestMessageTimeStamp": str(max(earliest_message_time, 0)),
        "remainHowManyDataToFlush": human_readable_bytes(
            max(0, stats.commit_log_max_offset - stats.commit_log_flushed_offset)
        ),
        "commitLogFlushTimeMillsAvg": f"{avg_ms:.2f}",
        "commitLogFlushTimeMillsMax": f"{max_ms:.2f}",
        "commitLogFlushTimeMillsLast": f"{last_ms:.2f}",
        "syncFlushTimeoutTimes": str(stats.sync_flush_timeouts),
        "storeWritable": "true" if writable else "false",
    }
