"""Store figures for GET_BROKER_RUNTIME_INFO (StoreStatsService.java, DefaultMessageStore
.getRuntimeInfo): TPS over 10 s / 1 min / 10 min windows, sizes, put and get times,
flush times.

The sampler is a pure ring of (time, counters) snapshots taken once a second by the
store; `tps(window)` divides the counter growth by the time between the newest snapshot
and the one about `window` seconds older.

rocketmq-exporter parses these strings strictly (BrokerRuntimeStats.java): one missing
key or odd format drops every runtime metric of the broker, so each value is always a
number in RocketMQ's format, never empty.
"""

from __future__ import annotations

import asyncio
import os
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from orbitmq.store.results import StoreStatistics

if TYPE_CHECKING:
    from orbitmq.store.flush import CommitLogFlusher
    from orbitmq.store.retention import CleanService

_WINDOWS = (10, 60, 600)
SAMPLE_INTERVAL_S = 1.0
# Integer.MAX_VALUE: what a Java broker reports for "no limit", e.g. as the transient
# store buffers left when it has no transient store pool.
JAVA_INT_MAX = 2**31 - 1

# putMessageDistributeTime's buckets (StoreStatsService.PUT_MESSAGE_ENTIRE_TIME_MAX_DESC)
# and the lower bound in ms of each bucket after the first: bisect_right(bounds, ms) is
# the bucket of a duration of `ms`.
PUT_TIME_BUCKETS = (
    "[<=0ms]",
    "[0~10ms]",
    "[10~50ms]",
    "[50~100ms]",
    "[100~200ms]",
    "[200~500ms]",
    "[500ms~1s]",
    "[1~2s]",
    "[2~3s]",
    "[3~4s]",
    "[4~5s]",
    "[5~10s]",
    "[10s~]",
)
_PUT_TIME_BOUNDS = (1, 10, 50, 100, 200, 500, 1000, 2000, 3000, 4000, 5000, 10000)
# The distribution covers the puts of the last minute, as RocketMQ's (the last whole
# minute there): counts since start would outgrow the exporter's Integer.parseInt.
PUT_TIME_WINDOW_S = 60

# Indexes of the store's sampled counters (MessageStore's TpsSampler): puts, messages
# got, get calls, get calls that found messages, get calls that found none, then the
# putMessageDistributeTime buckets.
PUTS, GOT, GETS, GETS_FOUND, GETS_MISSED, PUT_TIMES = range(6)


def tick_ms() -> int:
    """Monotonic milliseconds. A duration is the difference of two ticks, as RocketMQ's
    SystemClock gives it: an append of 0.3 ms reads 1 ms three times in ten and 0 ms
    otherwise, right on average, where truncating each duration would always read 0."""
    return time.monotonic_ns() // 1_000_000


class StoreTimes:
    """How long puts and gets took, in ms (StoreStatsService.setPutMessageEntireTimeMax /
    setGetMessageEntireTimeMax): counts of stored messages by put time since start, and
    the longest put and get since start. A batch's time counts for each of its messages."""

    __slots__ = ("get_max_ms", "put_distribution", "put_max_ms")

    def __init__(self) -> None:
        self.put_distribution = [0] * len(PUT_TIME_BUCKETS)
        self.put_max_ms = 0
        self.get_max_ms = 0

    def note_put(self, begin_ms: int, count: int) -> None:
        elapsed = tick_ms() - begin_ms
        self.put_distribution[bisect_right(_PUT_TIME_BOUNDS, elapsed)] += count
        if elapsed > self.put_max_ms:
            self.put_max_ms = elapsed

    def note_get(self, begin_ms: int) -> None:
        elapsed = tick_ms() - begin_ms
        if elapsed > self.get_max_ms:
            self.get_max_ms = elapsed


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

    def recent(self, start: int, stop: int, window: float, now: float | None = None) -> list[int]:
        """Growth of counters[start:stop] over the last `window` seconds: their values now
        less the newest snapshot at least `window` old; their values now (the counters
        start at 0) while no snapshot is that old."""
        now = time.monotonic() if now is None else now
        current = self._counters()[start:stop]
        for stamp, values in reversed(self._samples):
            if now - stamp >= window:
                return [c - b for c, b in zip(current, values[start:stop], strict=True)]
        return list(current)

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


def put_distribution_text(counts: list[int]) -> str:
    """StoreStatsService.putMessageDistributeTimeToString: "[<=0ms]:3 [0~10ms]:1 ... "."""
    return "".join(f"{name}:{count} " for name, count in zip(PUT_TIME_BUCKETS, counts, strict=True))


def store_runtime_info(
    stats: StoreStatistics,
    flusher: CommitLogFlusher | None,
    clean: CleanService,
    tps: TpsSampler,
    times: StoreTimes,
    dispatch_max_buffer: int,
    commit_log_dir: str,
    earliest_message_time: int,
    writable: bool,
) -> dict[str, str]:
    """The store's part of GET_BROKER_RUNTIME_INFO (RocketMQ's keys; the
    commitLogFlushTimeMills* and storeWritable keys are OrbitMQ's).

    `tps` samples the counters named by PUTS … PUT_TIMES; `dispatch_max_buffer` is the
    most dispatch requests ever queued for reput (see MessageStore._note_put)."""
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
        "putTps": tps.tps_text(PUTS),
        # Messages got; RocketMQ 5 spells it getTransferredTps, 4.x getTransferedTps.
        "getTransferredTps": tps.tps_text(GOT),
        "getTransferedTps": tps.tps_text(GOT),
        "getTotalTps": tps.tps_text(GETS),
        "getFoundTps": tps.tps_text(GETS_FOUND),
        "getMissTps": tps.tps_text(GETS_MISSED),
        "putMessageDistributeTime": put_distribution_text(
            tps.recent(PUT_TIMES, PUT_TIMES + len(PUT_TIME_BUCKETS), PUT_TIME_WINDOW_S)
        ),
        "putMessageEntireTimeMax": str(times.put_max_ms),
        "getMessageEntireTimeMax": str(times.get_max_ms),
        "putMessageTimesTotal": str(count),
        "putMessageSizeTotal": str(stats.put_message_bytes),
        "putMessageFailedTimes": str(stats.put_message_failures),
        "putMessageAverageSize": f"{stats.put_message_bytes / count:.1f}" if count else "0.0",
        "dispatchBehindBytes": str(stats.dispatch_behind_bytes),
        "dispatchMaxBuffer": str(dispatch_max_buffer),
        # How long the put lock has been held (DefaultMessageStore.lockTimeMills): appends
        # run on the event loop that is answering this request, so none is under way.
        "pageCacheLockTimeMills": "0",
        # No transient store pool (writes go straight to the mapped files): RocketMQ
        # reports Integer.MAX_VALUE when transientStorePoolEnable=false.
        "remainTransientStoreBufferNumbs": str(JAVA_INT_MAX),
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
