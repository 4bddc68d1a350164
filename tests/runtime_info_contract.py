"""What rocketmq-exporter reads of GET_BROKER_RUNTIME_INFO and how it parses each value
(model/BrokerRuntimeStats.java, apache/rocketmq-exporter at e1ab2dd, June 2025).

Its constructor throws on the first key that is missing or does not parse, and the
exporter then drops every runtime metric of that broker. `exporter_problems` applies the
same parses (Java's split, Long.parseLong, Integer.parseInt, Double.parseDouble) and
also holds OrbitMQ to RocketMQ's own formats where the parser would accept less.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

# Long.parseLong(table.get(key)).
LONG_KEYS = (
    "msgPutTotalTodayNow",
    "msgGetTotalTodayNow",
    "msgPutTotalTodayMorning",
    "msgGetTotalTodayMorning",
    "msgPutTotalYesterdayMorning",
    "msgGetTotalYesterdayMorning",
    "sendThreadPoolQueueHeadWaitTimeMills",
    "pullThreadPoolQueueHeadWaitTimeMills",
    "queryThreadPoolQueueHeadWaitTimeMills",
    "sendThreadPoolQueueSize",
    "pullThreadPoolQueueSize",
    "queryThreadPoolQueueSize",
    "sendThreadPoolQueueCapacity",
    "pullThreadPoolQueueCapacity",
    "queryThreadPoolQueueCapacity",
    "bootTimestamp",
    "commitLogMinOffset",
    "commitLogMaxOffset",
    "dispatchMaxBuffer",
    "dispatchBehindBytes",
    "pageCacheLockTimeMills",
    "getMessageEntireTimeMax",
    "putMessageEntireTimeMax",
    "putMessageTimesTotal",
    "putMessageSizeTotal",
    "startAcceptSendRequestTimeStamp",
    "earliestMessageTimeStamp",
    "remainTransientStoreBufferNumbs",
)
INT_KEYS = ("brokerVersion",)  # Integer.parseInt
DOUBLE_KEYS = ("commitLogDiskRatio", "consumeQueueDiskRatio", "putMessageAverageSize")
OPTIONAL_DOUBLE_KEYS = ("putLatency99", "putLatency999")  # getOrDefault(key, "-1")
# loadTps: "<10s> <60s> <600s>", each Double.parseDouble.
TPS_KEYS = ("putTps", "getMissTps", "getTotalTps", "getFoundTps")
# Read from the first that is there; 4.x exporters read getTransferedTps only.
TRANSFERRED_TPS_KEYS = ("getTransferredTps", "getTransferedTps")
TEXT_KEYS = ("runtime", "brokerVersionDesc")  # labels of every runtime series
CAPACITY_KEY = "commitLogDirCapacity"  # "Total : 49.0 GiB, Free : 20.0 GiB."
TO_FLUSH_KEY = "remainHowManyDataToFlush"  # "1.5 KiB"
DISTRIBUTION_KEY = "putMessageDistributeTime"  # "[<=0ms]:0 [0~10ms]:3 ... [10s~]:0 "
SCHEDULE_PREFIX = "scheduleMessageOffset"  # any key so named: "<delayOffset>,<maxOffset>"

# StoreStatsService.PUT_MESSAGE_ENTIRE_TIME_MAX_DESC without the brackets: the map keys
# the exporter's pmdt_* series are named from.
DISTRIBUTION_BUCKETS = (
    "<=0ms",
    "0~10ms",
    "10~50ms",
    "50~100ms",
    "100~200ms",
    "200~500ms",
    "500ms~1s",
    "1~2s",
    "2~3s",
    "3~4s",
    "4~5s",
    "5~10s",
    "10s~",
)

_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def java_split(text: str, separator: str) -> list[str]:
    """String.split with a one-character separator: trailing empty strings dropped."""
    if not text:
        return [""]
    parts = text.split(separator)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def parse_long(text: str, bits: int = 64) -> int:
    if not _INTEGER.fullmatch(text) or not -(2 ** (bits - 1)) <= int(text) < 2 ** (bits - 1):
        raise ValueError(f"not a {bits}-bit integer: {text!r}")
    return int(text)


def parse_double(text: str) -> float:
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"not a decimal: {text!r}")
    return float(text)


def parse_tps(text: str) -> tuple[float, ...]:
    parts = java_split(text, " ")
    if len(parts) != 3:
        raise ValueError(f"not '<10s> <60s> <600s>': {text!r}")
    return tuple(parse_double(part) for part in parts)


def parse_byte_count(value: str, unit: str) -> float:
    """Utils.machineReadableByteCount: "B" or a unit starting with K, M, G, T, P or E."""
    if unit == "B":
        return parse_double(value)
    if not unit or unit[0] not in "KMGTPE":
        raise ValueError(f"not a byte unit: {unit!r}")
    return parse_double(value) * 1024 ** ("KMGTPE".index(unit[0]) + 1)


def parse_capacity(text: str) -> tuple[float, float]:
    parts = java_split(text, " ")
    if len(parts) < 8 or parts[:2] != ["Total", ":"] or parts[4:6] != ["Free", ":"]:
        raise ValueError(f"not 'Total : <n> <unit>, Free : <n> <unit>.': {text!r}")
    if not parts[3].endswith(",") or not parts[7].endswith("."):
        raise ValueError(f"not 'Total : <n> <unit>, Free : <n> <unit>.': {text!r}")
    return parse_byte_count(parts[2], parts[3][:-1]), parse_byte_count(parts[6], parts[7][:-1])


def parse_to_flush(text: str) -> float:
    parts = java_split(text, " ")
    if len(parts) != 2:
        raise ValueError(f"not '<n> <unit>': {text!r}")
    return parse_byte_count(parts[0], parts[1])


def parse_distribution(text: str) -> dict[str, int]:
    """Bucket -> count; RocketMQ's 13 buckets, in order, each "[name]:count "."""
    counts: dict[str, int] = {}
    for token in java_split(text, " "):
        pair = java_split(token, ":")
        if len(pair) != 2 or not (pair[0].startswith("[") and pair[0].endswith("]")):
            raise ValueError(f"not '[bucket]:count': {token!r}")
        counts[pair[0][1:-1]] = parse_long(pair[1], bits=32)  # Integer.parseInt
    if tuple(counts) != DISTRIBUTION_BUCKETS or not text.endswith(" "):
        raise ValueError(f"not RocketMQ's 13 buckets: {text!r}")
    return counts


def exporter_problems(table: Mapping[str, str]) -> list[str]:
    """Every key BrokerRuntimeStats would fail on, with why; [] when it parses."""
    checks: list[tuple[str, Callable[[str], object]]] = [(key, parse_long) for key in LONG_KEYS]
    checks += [(key, lambda v: parse_long(v, bits=32)) for key in INT_KEYS]
    checks += [(key, parse_double) for key in DOUBLE_KEYS]
    checks += [(key, parse_tps) for key in (*TPS_KEYS, *TRANSFERRED_TPS_KEYS)]
    checks += [(key, str) for key in TEXT_KEYS]
    checks += [
        (CAPACITY_KEY, parse_capacity),
        (TO_FLUSH_KEY, parse_to_flush),
        (DISTRIBUTION_KEY, parse_distribution),
    ]
    problems = []
    for key, parse in checks:
        if key not in table:
            problems.append(f"{key}: missing")
            continue
        try:
            parse(table[key])
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    for key in OPTIONAL_DOUBLE_KEYS:
        if key in table and not _DECIMAL.fullmatch(table[key]):
            problems.append(f"{key}: not a decimal: {table[key]!r}")
    for key, value in table.items():
        if key.startswith(SCHEDULE_PREFIX):
            pair = value.split(",")
            if len(pair) < 2 or not all(_INTEGER.fullmatch(p) for p in pair[:2]):
                problems.append(f"{key}: not '<delayOffset>,<maxOffset>': {value!r}")
    return problems
