"""The console's `/metrics`: the latest collection as rocketmq-exporter's gauges
(collector/RMQMetricsCollector.java, task/MetricsCollectTask.java), with its names and
labels, so Grafana dashboards and alerts written for rocketmq-exporter work unchanged.

Series exist only for what the latest collection saw: brokers, topics and groups gone
from the cluster drop out at the next collection. Differences from rocketmq-exporter:
`rocketmq_producer_tps` and `rocketmq_consumer_tps` are offset differences between
collections (the exporter reads VIEW_BROKER_STATS_DATA per topic and group);
`rocketmq_group_get_latency_by_storetime` and the per-client `rocketmq_client_*` gauges
are read for a bounded number of queues and clients a collection, the others keeping
their last value (see collector.py); the message-size gauges are not exported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from orbitmq.dashboard.figures import ClientConsumeStatus, GroupFigures, Snapshot
from orbitmq.dashboard.runtime_stats import RUNTIME_METRIC_NAMES, runtime_values
from orbitmq.protocol.topics import DLQ_GROUP_TOPIC_PREFIX, is_group_topic, is_retry_topic

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

GROUP_DIFF_LABELS = ("group", "topic", "countOfOnlineConsumers", "msgModel")
GROUP_COUNT_LABELS = ("caddr", "localaddr", "group")
GROUP_NUMS_LABELS = ("cluster", "broker", "topic", "group")
TOPIC_LABELS = ("cluster", "broker", "topic")
DLQ_TOPIC_LABELS = ("cluster", "broker", "group")
PRODUCER_COUNT_LABELS = ("cluster", "broker", "group")
CLIENT_LABELS = ("clientAddr", "clientId", "group", "topic")
BROKER_LABELS = ("cluster", "brokerIP", "broker")
BROKER_RUNTIME_LABELS = ("cluster", "brokerIP", "brokerHost", "des", "boottime", "broker_version")

# MessageModel's ordinals (BROADCASTING, CLUSTERING): rocketmq-exporter labels msgModel
# with them and reports lag for clustering groups only.
CLUSTERING = "CLUSTERING"
BROADCASTING = "BROADCASTING"
_MODEL_ORDINAL = {BROADCASTING: "0", CLUSTERING: "1"}

# (name, help, labels) in rocketmq-exporter's order.
_FAMILIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("rocketmq_group_diff", "GroupDiff", GROUP_DIFF_LABELS),
    ("rocketmq_group_retrydiff", "GroupRetryDiff", GROUP_DIFF_LABELS),
    ("rocketmq_group_dlqdiff", "GroupDLQDiff", GROUP_DIFF_LABELS),
    ("rocketmq_group_count", "GroupCount", GROUP_COUNT_LABELS),
    ("rocketmq_producer_count", "producer instance counter", PRODUCER_COUNT_LABELS),
    ("rocketmq_producer_offset", "TopicOffset", TOPIC_LABELS),
    ("rocketmq_topic_retry_offset", "TopicRetryOffset", TOPIC_LABELS),
    ("rocketmq_topic_dlq_offset", "TopicDLQOffset", DLQ_TOPIC_LABELS),
    ("rocketmq_producer_tps", "TopicPutNums", TOPIC_LABELS),
    ("rocketmq_consumer_tps", "GroupGetNums", GROUP_NUMS_LABELS),
    ("rocketmq_consumer_offset", "GroupBrokerTotalOffset", GROUP_NUMS_LABELS),
    ("rocketmq_group_get_latency_by_storetime", "GroupGetLatencyByStoreTime", GROUP_NUMS_LABELS),
    ("rocketmq_client_consume_fail_msg_count", "consumerClientFailedMsgCounts", CLIENT_LABELS),
    ("rocketmq_client_consume_fail_msg_tps", "consumerClientFailedTPS", CLIENT_LABELS),
    ("rocketmq_client_consume_ok_msg_tps", "consumerClientOKTPS", CLIENT_LABELS),
    ("rocketmq_client_consume_rt", "consumerClientRT", CLIENT_LABELS),
    ("rocketmq_client_consumer_pull_rt", "consumerClientPullRT", CLIENT_LABELS),
    ("rocketmq_client_consumer_pull_tps", "consumerClientPullTPS", CLIENT_LABELS),
    ("rocketmq_broker_tps", "BrokerPutNums", BROKER_LABELS),
    ("rocketmq_broker_qps", "BrokerGetNums", BROKER_LABELS),
    ("rocketmq_broker_commitlog_diff", "brokerCommitLogDiffGauge", BROKER_LABELS),
)
FAMILY_NAMES: tuple[str, ...] = (*(name for name, _, _ in _FAMILIES), *RUNTIME_METRIC_NAMES)


def _is_dlq(topic: str) -> bool:
    return topic.startswith(DLQ_GROUP_TOPIC_PREFIX)


def _diff_family(topic: str) -> str:
    if is_retry_topic(topic):
        return "rocketmq_group_retrydiff"
    if _is_dlq(topic):
        return "rocketmq_group_dlqdiff"
    return "rocketmq_group_diff"


def _group_diffs(snapshot: Snapshot, families: dict[str, GaugeMetricFamily]) -> None:
    """Lag per (group, topic) summed over broker sets, clustering groups only."""
    diffs: dict[tuple[str, str], int] = {}
    for g in snapshot.groups:
        diffs[(g.group, g.topic)] = diffs.get((g.group, g.topic), 0) + g.diff
    for (group, topic), diff in sorted(diffs.items()):
        online = snapshot.online.get(group)
        model = (online.message_model if online else "") or CLUSTERING
        if model != CLUSTERING:
            continue
        count = str(online.count if online else 0)
        families[_diff_family(topic)].add_metric([group, topic, count, _MODEL_ORDINAL[model]], diff)


def _groups(groups: Iterable[GroupFigures], families: dict[str, GaugeMetricFamily]) -> None:
    for g in groups:
        labels = [g.cluster, g.broker_name, g.topic, g.group]
        if not _is_dlq(g.topic):
            families["rocketmq_consumer_offset"].add_metric(labels, g.consumer_offset)
        if not is_group_topic(g.topic):
            families["rocketmq_consumer_tps"].add_metric(labels, round(g.tps, 2))


def _client_values(s: ClientConsumeStatus) -> dict[str, float]:
    return {
        "rocketmq_client_consume_fail_msg_count": s.consume_failed_msgs,
        "rocketmq_client_consume_fail_msg_tps": s.consume_failed_tps,
        "rocketmq_client_consume_ok_msg_tps": s.consume_ok_tps,
        "rocketmq_client_consume_rt": s.consume_rt,
        "rocketmq_client_consumer_pull_rt": s.pull_rt,
        "rocketmq_client_consumer_pull_tps": s.pull_tps,
    }


def _clients_and_producers(snapshot: Snapshot, families: dict[str, GaugeMetricFamily]) -> None:
    for p in snapshot.producers:
        families["rocketmq_producer_count"].add_metric(
            [p.cluster, p.broker_name, p.group], p.count
        )
    for lat in snapshot.latencies:
        families["rocketmq_group_get_latency_by_storetime"].add_metric(
            [lat.cluster, lat.broker_name, lat.topic, lat.group], lat.latency_ms
        )
    for status in snapshot.clients:
        labels = [status.client_addr, status.client_id, status.group, status.topic]
        for name, value in _client_values(status).items():
            families[name].add_metric(labels, value)


def _topics(snapshot: Snapshot, families: dict[str, GaugeMetricFamily]) -> None:
    for t in snapshot.topics:
        if is_retry_topic(t.topic):
            families["rocketmq_topic_retry_offset"].add_metric(
                [t.cluster, t.broker_name, t.topic], t.max_offset
            )
        elif _is_dlq(t.topic):
            families["rocketmq_topic_dlq_offset"].add_metric(
                [t.cluster, t.broker_name, t.topic[len(DLQ_GROUP_TOPIC_PREFIX) :]], t.max_offset
            )
        else:
            labels = [t.cluster, t.broker_name, t.topic]
            families["rocketmq_producer_offset"].add_metric(labels, t.max_offset)
            families["rocketmq_producer_tps"].add_metric(labels, round(t.tps, 2))


def _brokers(snapshot: Snapshot, families: dict[str, GaugeMetricFamily]) -> None:
    masters = {b.ref.broker_name: b for b in snapshot.brokers if b.ref.broker_id == 0}
    for b in snapshot.brokers:
        ref = b.ref
        labels = [ref.cluster, ref.addr, ref.broker_name]
        if b.put_tps is not None:
            families["rocketmq_broker_tps"].add_metric(labels, round(b.put_tps, 2))
        if b.get_tps is not None:
            families["rocketmq_broker_qps"].add_metric(labels, round(b.get_tps, 2))
        master = masters.get(ref.broker_name)
        if ref.broker_id != 0 and master is not None:
            try:
                diff = int(master.runtime["commitLogMaxOffset"]) - int(
                    b.runtime["commitLogMaxOffset"]
                )
            except (KeyError, ValueError):
                continue
            families["rocketmq_broker_commitlog_diff"].add_metric(labels, diff)
    for b in masters.values():  # rocketmq-exporter reads masters' runtime info only
        kv = b.runtime
        labels = [
            b.ref.cluster,
            b.ref.addr,
            "",
            kv.get("brokerVersionDesc", ""),
            kv.get("bootTimestamp", ""),
            kv.get("brokerVersion", ""),
        ]
        for name, value in runtime_values(kv).items():
            families[name].add_metric(labels, value)


def families(snapshot: Snapshot | None) -> list[GaugeMetricFamily]:
    """Every family of FAMILY_NAMES (empty ones too), filled from the snapshot."""
    table = {
        name: GaugeMetricFamily(name, help_text, labels=labels)
        for name, help_text, labels in _FAMILIES
    }
    for name in RUNTIME_METRIC_NAMES:
        table[name] = GaugeMetricFamily(name, name, labels=BROKER_RUNTIME_LABELS)
    if snapshot is not None:
        _group_diffs(snapshot, table)
        for group, online in sorted(snapshot.online.items()):
            table["rocketmq_group_count"].add_metric(
                [",".join(online.client_addrs), ",".join(online.client_ids), group], online.count
            )
        _groups(snapshot.groups, table)
        _clients_and_producers(snapshot, table)
        _topics(snapshot, table)
        _brokers(snapshot, table)
    return [table[name] for name in FAMILY_NAMES]


class ClusterExporter(Collector):
    """A prometheus-client collector over the newest snapshot."""

    def __init__(self, snapshot: Callable[[], Snapshot | None]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from families(self._snapshot())


def exporter_registry(snapshot: Callable[[], Snapshot | None]) -> CollectorRegistry:
    """A registry of our own, holding only the cluster's gauges (not this process's)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterExporter(snapshot))
    return registry
