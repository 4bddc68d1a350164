"""How consumerStatus prints a consumer's running info (ConsumerRunningInfo.formatString
and its analyze* checks, apache/rocketmq 4.9.7). Pure code: values in, text out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orbitmq.admin.formatting import java_str
from orbitmq.admin.message_format import message_queue_str
from orbitmq.client.admin_bodies import ConsumerRunningInfo

PROPERTY_ROW = "%-40s: %s"
SUBSCRIPTION_ROW = "%03d Topic: %-40s ClassFilter: %-8s SubExpression: %s"
QUEUE_HEAD = "%-64s  %-32s  %-4s  %-20s"
OFFSET_ROW = "%-32s  %-32s  %-4d  %-20d"
DETAIL_ROW = "%-64s  %-32s  %-4d  %s"
STATUS_HEAD = "%-64s  %14s %14s %14s %14s %18s %25s"
STATUS_ROW = "%-32s  %14.2f %14.2f %14.2f %14.2f %18.2f %25d"
STATUS_TABLE_LINE = "%-10s %-40s %-20s %s"
STATUS_TABLE_ROW = "%-10d %-40s %-20s %s"
TWO_MINUTES_MS = 120_000
# ProcessQueueInfo.toString() field order.
_PQ_FIELDS = (
    "commitOffset",
    "cachedMsgMinOffset",
    "cachedMsgMaxOffset",
    "cachedMsgCount",
    "cachedMsgSizeInMiB",
    "transactionMsgMinOffset",
    "transactionMsgMaxOffset",
    "transactionMsgCount",
    "locked",
    "tryUnlockTimes",
    "lastLockTimestamp",
    "droped",
    "lastPullTimestamp",
    "lastConsumeTimestamp",
)


def process_queue_str(info: Mapping[str, Any]) -> str:
    names = [n for n in _PQ_FIELDS if n in info] + [n for n in info if n not in _PQ_FIELDS]
    return "ProcessQueueInfo [" + ", ".join(f"{n}={java_str(info[n])}" for n in names) + "]"


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def running_info_text(info: ConsumerRunningInfo) -> str:
    """ConsumerRunningInfo.formatString()."""
    lines = ["#Consumer Properties#"]
    lines += [PROPERTY_ROW % (k, v) for k, v in sorted(info.properties.items())]
    lines += ["", "", "#Consumer Subscription#"]
    for i, sub in enumerate(info.subscriptions, 1):
        class_filter = java_str(bool(sub.get("classFilterMode", False)))
        lines.append(
            SUBSCRIPTION_ROW % (i, sub.get("topic", ""), class_filter, sub.get("subString", ""))
        )
    lines += ["", "", "#Consumer Offset#"]
    lines.append(QUEUE_HEAD % ("#Topic", "#Broker Name", "#QID", "#Consumer Offset"))
    for mq in sorted(info.mq_table):
        offset = int(_num(info.mq_table[mq].get("commitOffset")))
        lines.append(OFFSET_ROW % (mq.topic, mq.broker_name, mq.queue_id, offset))
    lines += ["", "", "#Consumer MQ Detail#"]
    lines.append(QUEUE_HEAD % ("#Topic", "#Broker Name", "#QID", "#ProcessQueueInfo"))
    for mq in sorted(info.mq_table):
        lines.append(
            DETAIL_ROW
            % (mq.topic, mq.broker_name, mq.queue_id, process_queue_str(info.mq_table[mq]))
        )
    lines += ["", "", "#Consumer RT&TPS#"]
    lines.append(
        STATUS_HEAD
        % ("#Topic", "#Pull RT", "#Pull TPS", "#Consume RT", "#ConsumeOK TPS",
           "#ConsumeFailed TPS", "#ConsumeFailedMsgsInHour")
    )  # fmt: skip
    for topic, status in sorted(info.status_table.items()):
        lines.append(
            STATUS_ROW
            % (topic, _num(status.get("pullRT")), _num(status.get("pullTPS")),
               _num(status.get("consumeRT")), _num(status.get("consumeOKTPS")),
               _num(status.get("consumeFailedTPS")), int(_num(status.get("consumeFailedMsgs"))))
        )  # fmt: skip
    text = "\n".join(lines) + "\n"
    if info.jstack is not None:
        text += "\n\n#Consumer jstack#\n" + info.jstack
    return text


def _is_push(info: ConsumerRunningInfo) -> bool:
    return info.properties.get("PROP_CONSUME_TYPE") == "CONSUME_PASSIVELY"


def _subscription_key(info: ConsumerRunningInfo) -> list[tuple[str, str]]:
    return sorted((str(s.get("topic")), str(s.get("subString"))) for s in info.subscriptions)


def same_subscription(infos: Mapping[str, ConsumerRunningInfo], now_ms: int) -> bool:
    """ConsumerRunningInfo.analyzeSubscription: push consumers running for over two
    minutes must all subscribe alike (and to something)."""
    first = infos[min(infos)]
    started = int(_num(first.properties.get("PROP_CONSUMER_START_TIMESTAMP")))
    if not _is_push(first) or now_ms - started <= TWO_MINUTES_MS:
        return True
    keys = [_subscription_key(info) for _, info in sorted(infos.items())]
    return all(k == keys[0] for k in keys) and bool(keys[-1])


def process_queue_warnings(client_id: str, info: ConsumerRunningInfo, now_ms: int) -> list[str]:
    """ConsumerRunningInfo.analyzeProcessQueue."""
    if not _is_push(info):
        return []
    orderly = info.properties.get("PROP_CONSUMEORDERLY", "false").lower() == "true"
    warnings = []
    for mq in sorted(info.mq_table):
        pq = info.mq_table[mq]
        name = message_queue_str(mq.topic, mq.broker_name, mq.queue_id)
        if orderly:
            if not pq.get("locked"):
                since = now_ms - int(_num(pq.get("lastLockTimestamp")))
                warnings.append(f"{client_id} {name} can't lock for a while, {since}ms")
            elif pq.get("droped") and int(_num(pq.get("tryUnlockTimes"))) > 0:
                times = int(_num(pq.get("tryUnlockTimes")))
                warnings.append(f"{client_id} {name} unlock {times} times, still failed")
        else:
            idle = now_ms - int(_num(pq.get("lastConsumeTimestamp")))
            if idle > 60_000 and int(_num(pq.get("cachedMsgCount"))) > 0:
                warnings.append(
                    f"{client_id} {name} can't consume for a while, maybe blocked, {idle}ms"
                )
    return warnings
