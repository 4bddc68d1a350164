"""GET_BROKER_RUNTIME_INFO keys as rocketmq-exporter names them
(collector/RMQMetricsCollector.java, model/BrokerRuntimeStats.java), pure.

rocketmq-exporter drops all of a broker's runtime metrics when one key is missing or odd;
here each metric stands alone: a key that is missing or does not parse only leaves out
its own series. Value formats: numbers; TPS as `"<10s> <60s> <600s>"`;
`commitLogDirCapacity` as `"Total : 49.0 GiB, Free : 20.0 GiB."`; `remainHowManyDataToFlush`
as `"1.5 KiB"`; `putMessageDistributeTime` as `"[<=0ms]:0 [0~10ms]:3 ... [10s~]:0 "`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

PREFIX = "rocketmq_brokeruntime_"

# (name suffix, KV key) of the plain numbers.
_NUMBERS: tuple[tuple[str, str], ...] = (
    ("msg_put_total_today_now", "msgPutTotalTodayNow"),
    ("msg_gettotal_today_now", "msgGetTotalTodayNow"),
    ("dispatch_behind_bytes", "dispatchBehindBytes"),
    ("put_message_size_total", "putMessageSizeTotal"),
    ("put_message_average_size", "putMessageAverageSize"),
    ("query_threadpool_queue_capacity", "queryThreadPoolQueueCapacity"),
    ("remain_transientstore_buffer_numbs", "remainTransientStoreBufferNumbs"),
    ("earliest_message_timestamp", "earliestMessageTimeStamp"),
    ("putmessage_entire_time_max", "putMessageEntireTimeMax"),
    ("start_accept_sendrequest_time", "startAcceptSendRequestTimeStamp"),
    ("send_threadpool_queue_size", "sendThreadPoolQueueSize"),
    ("putmessage_times_total", "putMessageTimesTotal"),
    ("getmessage_entire_time_max", "getMessageEntireTimeMax"),
    ("pagecache_lock_time_mills", "pageCacheLockTimeMills"),
    ("commitlog_disk_ratio", "commitLogDiskRatio"),
    ("consumequeue_disk_ratio", "consumeQueueDiskRatio"),
    ("dispatch_maxbuffer", "dispatchMaxBuffer"),
    ("pull_threadpoolqueue_capacity", "pullThreadPoolQueueCapacity"),
    ("send_threadpoolqueue_capacity", "sendThreadPoolQueueCapacity"),
    ("pull_threadpoolqueue_size", "pullThreadPoolQueueSize"),
    ("query_threadpoolqueue_size", "queryThreadPoolQueueSize"),
    ("pull_threadpoolqueue_headwait_timemills", "pullThreadPoolQueueHeadWaitTimeMills"),
    ("query_threadpoolqueue_headwait_timemills", "queryThreadPoolQueueHeadWaitTimeMills"),
    ("send_threadpoolqueue_headwait_timemills", "sendThreadPoolQueueHeadWaitTimeMills"),
    ("msg_gettotal_yesterdaymorning", "msgGetTotalYesterdayMorning"),
    ("msg_puttotal_yesterdaymorning", "msgPutTotalYesterdayMorning"),
    ("msg_gettotal_todaymorning", "msgGetTotalTodayMorning"),
    ("msg_puttotal_todaymorning", "msgPutTotalTodayMorning"),
    ("commitlog_maxoffset", "commitLogMaxOffset"),
    ("commitlog_minoffset", "commitLogMinOffset"),
    ("put_latency_99", "putLatency99"),
    ("put_latency_999", "putLatency999"),
)
# (name stem, KV keys in order of preference): "<10s> <60s> <600s>" TPS triplets.
_TPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("put", ("putTps",)),
    ("getmiss", ("getMissTps",)),
    ("gettransfered", ("getTransferredTps", "getTransferedTps")),
    ("gettotal", ("getTotalTps",)),
    ("getfound", ("getFoundTps",)),
)
_WINDOWS = ("10", "60", "600")
# (bucket in putMessageDistributeTime, name suffix).
_PUT_DISTRIBUTION: tuple[tuple[str, str], ...] = (
    ("<=0ms", "pmdt_0ms"),
    ("0~10ms", "pmdt_0to10ms"),
    ("10~50ms", "pmdt_10to50ms"),
    ("50~100ms", "pmdt_50to100ms"),
    ("100~200ms", "pmdt_100to200ms"),
    ("200~500ms", "pmdt_200to500ms"),
    ("500ms~1s", "pmdt_500to1s"),
    ("1~2s", "pmdt_1to2s"),
    ("2~3s", "pmdt_2to3s"),
    ("3~4s", "pmdt_3to4s"),
    ("4~5s", "pmdt_4to5s"),
    ("5~10s", "pmdt_5to10s"),
    ("10s~", "pmdt_10stomore"),
)
_CAPACITY = ("commitlogdir_capacity_total", "commitlogdir_capacity_free")
_TO_FLUSH = "remain_howmanydata_toflush"

RUNTIME_METRIC_NAMES: tuple[str, ...] = tuple(
    PREFIX + suffix
    for suffix in (
        *(s for _, s in _PUT_DISTRIBUTION),
        *(s for s, _ in _NUMBERS),
        *(f"{stem}_tps{w}" for stem, _ in _TPS for w in _WINDOWS),
        *_CAPACITY,
        _TO_FLUSH,
    )
)


def human_bytes(text: str) -> float:
    """ "49.0 GiB" / "512 B" -> bytes (MixAll.humanReadableByteCount, 1024-based)."""
    number, unit = text.split()
    value = float(number)
    if unit == "B":
        return value
    return value * 1024.0 ** ("KMGTPE".index(unit[0]) + 1)


def _put_distribution(text: str) -> dict[str, float]:
    buckets = {}
    for item in text.split():
        bucket, _, count = item.partition(":")
        if count:
            buckets[bucket.strip("[]")] = float(int(count))
    return buckets


def runtime_values(kv: Mapping[str, str]) -> dict[str, float]:
    """Metric name -> value for every runtime key present and well formed."""
    values: dict[str, float] = {}
    for suffix, key in _NUMBERS:
        try:
            values[PREFIX + suffix] = float(kv[key])
        except (KeyError, ValueError):
            continue
    for stem, keys in _TPS:
        text = next((kv[k] for k in keys if k in kv), "")
        for window, number in zip(_WINDOWS, text.split(), strict=False):
            try:
                values[f"{PREFIX}{stem}_tps{window}"] = float(number)
            except ValueError:
                break
    try:  # "Total : 49.0 GiB, Free : 20.0 GiB."
        parts = kv["commitLogDirCapacity"].replace(",", "").rstrip(".").split()
        values[PREFIX + _CAPACITY[0]] = human_bytes(f"{parts[2]} {parts[3]}")
        values[PREFIX + _CAPACITY[1]] = human_bytes(f"{parts[6]} {parts[7]}")
    except (KeyError, IndexError, ValueError):
        pass
    with contextlib.suppress(KeyError, ValueError):
        values[PREFIX + _TO_FLUSH] = human_bytes(kv["remainHowManyDataToFlush"])
    try:
        buckets = _put_distribution(kv["putMessageDistributeTime"])
    except (KeyError, ValueError):
        buckets = {}
    for bucket, suffix in _PUT_DISTRIBUTION:
        if bucket in buckets:
            values[PREFIX + suffix] = buckets[bucket]
    return values
