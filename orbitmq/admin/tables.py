"""Tables of the topic, group, broker and NameServer commands, as the Java commands print
them (apache/rocketmq 4.9.7 tools/.../command/*). Pure code: values in, lines out.

Each printf pattern is the Java one, written with Python's `%` operator:
  topicStatus         TopicStatusSubCommand          "%-32s  %-4d  %-20d  %-20d    %s"
  consumerProgress    ConsumerProgressSubCommand     "%-64s  %-32s  %-4d  %-20d  %-20d  %-20d  %s"
  consumerConnection  ConsumerConnectionSubCommand   "%-36s %-22s %-10s %s"
  producerConnection  ProducerConnectionSubCommand   "%04d  %-32s %-22s %-8s %s"
  brokerStatus        BrokerStatusSubCommand         "%-32s: %s" ("%-24s %-32s: %s" with -c)
  getBrokerConfig     GetBrokerConfigCommand         "%-50s=  %s"
  brokerConsumeStats  BrokerConsumeStatsSubCommad    "%-64s  %-64s  %-32s  %-4d  %-20d  ..."
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping

from orbitmq.client.admin_bodies import (
    ClientConnection,
    ConsumerConnection,
    ConsumeStats,
    ConsumeStatsList,
    TopicOffset,
)
from orbitmq.client.message import MessageQueue

# MQVersion.Version: 16 early 3.0.0 names, then SNAPSHOT/release pairs, then HIGHER_VERSION.
_EARLY = (
    ["V3_0_0_SNAPSHOT", "V3_0_0_ALPHA1"]
    + [
        name
        for n in range(1, 10)
        for name in (
            (f"V3_0_0_BETA{n}",) if n < 6 else (f"V3_0_0_BETA{n}_SNAPSHOT", f"V3_0_0_BETA{n}")
        )
    ]
    + ["V3_0_0_FINAL"]
)
_PATCH_RANGES = [((3, 0), 1, 15), ((3, 1), 0, 9), ((3, 2), 0, 9)]
_PATCH_RANGES += [((3, m), 1, 9) for m in range(3, 10)]
_PATCH_RANGES += [((major, m), 0, 9) for major in (4, 5) for m in range(10)]
MQ_VERSIONS = (
    _EARLY
    + [
        name
        for (major, minor), low, high in _PATCH_RANGES
        for patch in range(low, high + 1)
        for name in (f"V{major}_{minor}_{patch}_SNAPSHOT", f"V{major}_{minor}_{patch}")
    ]
    + ["HIGHER_VERSION"]
)


def version_desc(version: int) -> str:
    """MQVersion.getVersionDesc: 409 -> V4_9_8."""
    if version < 0:
        return str(version)
    return MQ_VERSIONS[min(version, len(MQ_VERSIONS) - 1)]


def front(text: str, size: int) -> str:
    """UtilAll.frontStringAtLeast: at most `size` characters."""
    return text[:size]


def human_time2(ms: int) -> str:
    """UtilAll.timeMillisToHumanString2 (local time): 2024-01-31 12:00:00,123."""
    moment = _dt.datetime.fromtimestamp(ms / 1000)
    return moment.strftime("%Y-%m-%d %H:%M:%S,") + f"{ms % 1000:03d}"


def format_date(ms: int) -> str:
    """UtilAll.formatDate(date, "yyyy-MM-dd HH:mm:ss") (local time)."""
    return _dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


# Topics -------------------------------------------------------------------------------
TOPIC_STATUS_HEAD = "%-32s  %-4s  %-20s  %-20s    %s"
TOPIC_STATUS_ROW = "%-32s  %-4d  %-20d  %-20d    %s"


def topic_status_lines(table: Mapping[MessageQueue, TopicOffset]) -> list[str]:
    lines = [
        TOPIC_STATUS_HEAD % ("#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated")
    ]
    for mq in sorted(table):
        offset = table[mq]
        stamp = (
            human_time2(offset.last_update_timestamp) if offset.last_update_timestamp > 0 else ""
        )
        lines.append(
            TOPIC_STATUS_ROW
            % (front(mq.broker_name, 32), mq.queue_id, offset.min_offset, offset.max_offset, stamp)
        )
    return lines


# Consumer groups ------------------------------------------------------------------------
PROGRESS_HEAD = "%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s"
PROGRESS_ROW = "%-64s  %-32s  %-4d  %-20d  %-20d  %-20d  %s"
PROGRESS_IP_HEAD = "%-64s  %-32s  %-4s  %-20s  %-20s  %-20s %-20s  %s"
PROGRESS_IP_ROW = "%-64s  %-32s  %-4d  %-20d  %-20d  %-20s %-20d  %s"
GROUP_LIST_HEAD = "%-64s  %-6s  %-24s %-5s  %-14s  %-7s  %s"
GROUP_LIST_ROW = "%-64s  %-6d  %-24s %-5s  %-14s  %-7d  %d"


def consumer_progress_lines(
    stats: ConsumeStats, client_ips: Mapping[MessageQueue, str] | None = None
) -> list[str]:
    """`consumerProgress -g G` (`client_ips` given: `-s true`, with the #Client IP column)."""
    head = ("#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset")
    if client_ips is None:
        lines = [PROGRESS_HEAD % (*head, "#Diff", "#LastTime")]
    else:
        lines = [PROGRESS_IP_HEAD % (*head, "#Client IP", "#Diff", "#LastTime")]
    for mq in sorted(stats.offset_table):
        w = stats.offset_table[mq]
        last = format_date(w.last_timestamp) if w.last_timestamp else "N/A"
        cells = (front(mq.topic, 64), front(mq.broker_name, 32), mq.queue_id)
        if client_ips is None:
            lines.append(PROGRESS_ROW % (*cells, w.broker_offset, w.consumer_offset, w.diff, last))
        else:
            ip = client_ips.get(mq, "N/A")
            lines.append(
                PROGRESS_IP_ROW % (*cells, w.broker_offset, w.consumer_offset, ip, w.diff, last)
            )
    lines += ["", f"Consume TPS: {stats.consume_tps:.2f}", f"Diff Total: {stats.total_diff()}"]
    return lines


def group_list_row(
    group: str, connection: ConsumerConnection | None, stats: ConsumeStats | None
) -> str:
    """One line of `consumerProgress` without -g (GroupConsumeInfo)."""
    count = len(connection.connections) if connection else 0
    version = version_desc(connection.min_version()) if connection and count else "OFFLINE"
    kind = model = ""
    if connection and count:
        kind = "PULL" if connection.consume_type == "CONSUME_ACTIVELY" else "PUSH"
        model = connection.message_model if kind == "PUSH" else ""
    tps = int(stats.consume_tps) if stats else 0
    diff = stats.total_diff() if stats else 0
    return GROUP_LIST_ROW % (front(group, 64), count, version, kind, model, tps, diff)


def group_list_head() -> str:
    return GROUP_LIST_HEAD % (
        "#Group",
        "#Count",
        "#Version",
        "#Type",
        "#Model",
        "#TPS",
        "#Diff Total",
    )


SUBSCRIPTION_ROW = "%-20s %s"
CONNECTION_ROW = "%-36s %-22s %-10s %s"
PRODUCER_ROW = "%04d  %-32s %-22s %-8s %s"
RESET_HEAD = "%-40s  %-40s  %-40s"
RESET_ROW = "%-40s  %-40d  %-40d"


def consumer_connection_lines(cc: ConsumerConnection) -> list[str]:
    row = CONNECTION_ROW
    lines = [row % ("#ClientId", "#ClientAddr", "#Language", "#Version")]
    for c in cc.connections:
        lines.append(row % (c.client_id, c.client_addr, c.language, version_desc(c.version)))
    lines += ["", "Below is subscription:", SUBSCRIPTION_ROW % ("#Topic", "#SubExpression")]
    for topic, sub in cc.subscription_table.items():
        lines.append(SUBSCRIPTION_ROW % (sub.get("topic", topic), sub.get("subString", "")))
    lines += [
        "",
        f"ConsumeType: {cc.consume_type}",
        f"MessageModel: {cc.message_model}",
        f"ConsumeFromWhere: {cc.consume_from_where}",
    ]
    return lines


def producer_connection_lines(connections: Iterable[ClientConnection]) -> list[str]:
    return [
        PRODUCER_ROW % (i, c.client_id, c.client_addr, c.language, version_desc(c.version))
        for i, c in enumerate(connections, 1)
    ]


def reset_offset_lines(offsets: Mapping[MessageQueue, int]) -> list[str]:
    """ResetOffsetByTimeCommand's table (after its `rollback consumer offset...` line)."""
    lines = [RESET_HEAD % ("#brokerName", "#queueId", "#offset")]
    for mq in sorted(offsets):
        lines.append(RESET_ROW % (front(mq.broker_name, 32), mq.queue_id, offsets[mq]))
    return lines


ROLLBACK_HEAD = "%-20s  %-20s  %-20s  %-20s  %-20s  %-20s"
ROLLBACK_ROW = "%-20s  %-20d  %-20d  %-20d  %-20d  %-20d"


def rollback_lines(rows: Iterable[tuple[MessageQueue, int, int, int, int]]) -> list[str]:
    """ResetOffsetByTimeOldCommand: (mq, broker, consumer, timestamp, rollback offsets)."""
    lines = [
        ROLLBACK_HEAD
        % ("#brokerName", "#queueId", "#brokerOffset", "#consumerOffset", "#timestampOffset",
           "#rollbackOffset")
    ]  # fmt: skip
    for mq, broker, consumer, stamp, rollback in rows:
        lines.append(
            ROLLBACK_ROW
            % (front(mq.broker_name, 32), mq.queue_id, broker, consumer, stamp, rollback)
        )
    return lines


# Brokers ------------------------------------------------------------------------------
BROKER_STATUS_ROW = "%-32s: %s"
BROKER_STATUS_ADDR_ROW = "%-24s %-32s: %s"
CONFIG_ROW = "%-50s=  %s"


def broker_status_lines(table: Mapping[str, str], addr: str | None = None) -> list[str]:
    """All runtime keys sorted; with `addr` (brokerStatus -c) each line starts with it."""
    if addr is None:
        return [BROKER_STATUS_ROW % (k, table[k]) for k in sorted(table)]
    return [BROKER_STATUS_ADDR_ROW % (addr, k, table[k]) for k in sorted(table)]


def config_lines(title: str, config: Mapping[str, str]) -> list[str]:
    """GetBrokerConfigCommand / GetNamesrvConfigCommand: `====title====` then key=value."""
    lines = [f"============{title}============"]
    lines += [CONFIG_ROW % (k, v) for k, v in config.items()]
    return lines


BROKER_CONSUME_HEAD = "%-64s  %-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s"
BROKER_CONSUME_ROW = "%-64s  %-64s  %-32s  %-4d  %-20d  %-20d  %-20d  %s"


def broker_consume_stats_lines(stats: ConsumeStatsList, diff_level: int = 0) -> list[str]:
    """BrokerConsumeStatsSubCommad: queues with a last consume time and diff >= level."""
    lines = [
        BROKER_CONSUME_HEAD
        % ("#Topic", "#Group", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset",
           "#Diff", "#LastTime")
    ]  # fmt: skip
    for group, per_topic in stats.groups:
        for consume_stats in per_topic:
            for mq in sorted(consume_stats.offset_table):
                w = consume_stats.offset_table[mq]
                if w.diff < diff_level or w.last_timestamp <= 0:
                    continue
                lines.append(
                    BROKER_CONSUME_ROW
                    % (front(mq.topic, 64), group, front(mq.broker_name, 32), mq.queue_id,
                       w.broker_offset, w.consumer_offset, w.diff, format_date(w.last_timestamp))
                )  # fmt: skip
    lines += ["", f"Diff Total: {stats.total_diff}"]
    return lines
