"""How mqadmin prints things: RocketMQ's column formats and Java `toString()`s. Pure code.

Every table keeps the printf pattern of the Java sub-command it mirrors (apache/rocketmq
tools/.../command/*), written with Python's `%` operator, which reads the same patterns:
  clusterList     ClusterListSubCommand  "%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s"
  topicList -c    TopicListSubCommand    "%-20s  %-48s  %-48s"
  sendMessage     SendMessageCommand     "%-32s  %-4s  %-20s    %s"
Values Java would print as `null` print as `null` here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orbitmq.protocol.perm import perm_to_string
from orbitmq.protocol.topics import is_group_topic

__all__ = [
    "CLUSTER_LIST_FORMAT",
    "CLUSTER_MORE_STATS_FORMAT",
    "SEND_RESULT_FORMAT",
    "TOPIC_CLUSTER_FORMAT",
    "BrokerRow",
    "cluster_list_lines",
    "cluster_more_stats_lines",
    "java_str",
    "perm_to_string",
    "pretty_json",
    "send_result_lines",
    "topic_cluster_lines",
    "topic_config_str",
]

CLUSTER_LIST_FORMAT = "%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s"
CLUSTER_MORE_STATS_FORMAT = "%-16s  %-32s %14s %14s %14s %14s"
TOPIC_CLUSTER_FORMAT = "%-20s  %-48s  %-48s"
SEND_RESULT_FORMAT = "%-32s  %-4s  %-20s    %s"


def java_str(value: object) -> str:
    """`String.valueOf(value)`: None is `null`, booleans are lower case."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def topic_config_str(
    topic: str,
    read_queue_nums: int,
    write_queue_nums: int,
    perm: int,
    topic_filter_type: str = "SINGLE_TAG",
    topic_sys_flag: int = 0,
    order: bool = False,
    attributes: Mapping[str, str] | None = None,
) -> str:
    """TopicConfig.toString(); RocketMQ 5's `attributes` (a HashMap's text) when given."""
    extra = ""
    if attributes is not None:
        extra = ", attributes={" + ", ".join(f"{k}={v}" for k, v in attributes.items()) + "}"
    return (
        f"TopicConfig [topicName={topic}, readQueueNums={read_queue_nums}, "
        f"writeQueueNums={write_queue_nums}, perm={perm_to_string(perm)}, "
        f"topicFilterType={topic_filter_type}, topicSysFlag={topic_sys_flag}, "
        f"order={java_str(order)}{extra}]"
    )


def pretty_json(value: Any) -> str:
    """fastjson's `toJSONString(obj, true)` look: tab indents, sorted keys, no spaces."""
    return json.dumps(value, indent="\t", separators=(",", ":"), sort_keys=True)


# clusterList ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BrokerRow:
    """One broker address of ClusterInfo plus its GET_BROKER_RUNTIME_INFO table (or None)."""

    cluster: str
    broker_name: str
    broker_id: int
    addr: str
    runtime: Mapping[str, str] | None


def _first_number(text: str | None) -> float:
    """`putTps` / `getTransferedTps` hold space-separated numbers; the first one is used."""
    if not text:
        return 0.0
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        return 0.0


def _to_float(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0


def cluster_list_lines(rows: Iterable[BrokerRow], now_ms: int) -> list[str]:
    """ClusterListSubCommand.printClusterBaseInfo: a header, then one line per address.

    A broker whose runtime info could not be fetched prints empty stats, as Java does.
    `#Hour` is the age of the oldest stored message; a broker reporting 0 prints 0.00.
    """
    lines = [
        CLUSTER_LIST_FORMAT
        % (
            "#Cluster Name",
            "#Broker Name",
            "#BID",
            "#Addr",
            "#Version",
            "#InTPS(LOAD)",
            "#OutTPS(LOAD)",
            "#PCWait(ms)",
            "#Hour",
            "#SPACE",
        )
    ]
    for row in rows:
        table = row.runtime or {}
        in_tps = _first_number(table.get("putTps"))
        out_tps = _first_number(table.get("getTransferedTps"))
        earliest = _to_float(table.get("earliestMessageTimeStamp"))
        hour = (now_ms - earliest) / 3_600_000 if earliest > 0 else 0.0
        send_queue = table.get("sendThreadPoolQueueSize", "")
        send_wait = table.get("sendThreadPoolQueueHeadWaitTimeMills", "")
        pull_queue = table.get("pullThreadPoolQueueSize", "")
        pull_wait = table.get("pullThreadPoolQueueHeadWaitTimeMills", "")
        in_load = f"{in_tps:9.2f}({send_queue},{send_wait}ms)"
        out_load = f"{out_tps:9.2f}({pull_queue},{pull_wait}ms)"
        lines.append(
            CLUSTER_LIST_FORMAT
            % (
                row.cluster,
                row.broker_name,
                row.broker_id,
                row.addr,
                table.get("brokerVersionDesc", ""),
                in_load,
                out_load,
                table.get("pageCacheLockTimeMills", ""),
                f"{hour:2.2f}",
                f"{_to_float(table.get('commitLogDiskRatio')):.4f}",
            )
        )
    return lines


def _delta(table: Mapping[str, str], newer: str, older: str) -> int:
    try:
        return int(table[newer]) - int(table[older])
    except (KeyError, ValueError):
        return 0


def cluster_more_stats_lines(rows: Iterable[BrokerRow]) -> list[str]:
    """ClusterListSubCommand.printClusterMoreStats (`clusterList -m`)."""
    lines = [
        CLUSTER_MORE_STATS_FORMAT
        % (
            "#Cluster Name",
            "#Broker Name",
            "#InTotalYest",
            "#OutTotalYest",
            "#InTotalToday",
            "#OutTotalToday",
        )
    ]
    for row in rows:
        t = row.runtime or {}
        lines.append(
            CLUSTER_MORE_STATS_FORMAT
            % (
                row.cluster,
                row.broker_name,
                _delta(t, "msgPutTotalTodayMorning", "msgPutTotalYesterdayMorning"),
                _delta(t, "msgGetTotalTodayMorning", "msgGetTotalYesterdayMorning"),
                _delta(t, "msgPutTotalTodayNow", "msgPutTotalTodayMorning"),
                _delta(t, "msgGetTotalTodayNow", "msgGetTotalTodayMorning"),
            )
        )
    return lines


# topicList -c ---------------------------------------------------------------------------
def topic_cluster_lines(rows: Iterable[tuple[str, str, list[str]]]) -> list[str]:
    """TopicListSubCommand with `-c`: (cluster, topic, consumer groups) per topic.

    Retry (`%RETRY%`) and dead-letter (`%DLQ%`) topics are skipped; a topic nobody
    consumes prints one line with an empty group.
    """
    lines = [TOPIC_CLUSTER_FORMAT % ("#Cluster Name", "#Topic", "#Consumer Group")]
    for cluster, topic, groups in rows:
        if is_group_topic(topic):
            continue
        for group in groups or [""]:
            lines.append(TOPIC_CLUSTER_FORMAT % (cluster, topic, group))
    return lines


# sendMessage ---------------------------------------------------------------------------
def send_result_lines(
    broker_name: str | None, queue_id: int | None, status: str | None, msg_id: str | None
) -> list[str]:
    """SendMessageCommand's two lines; a failed send prints `Unknown … Failed None`."""
    header = SEND_RESULT_FORMAT % ("#Broker Name", "#QID", "#Send Result", "#MsgId")
    if status is None:
        return [header, SEND_RESULT_FORMAT % ("Unknown", "Unknown", "Failed", "None")]
    return [header, SEND_RESULT_FORMAT % (broker_name, queue_id, status, msg_id)]
