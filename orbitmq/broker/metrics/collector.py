"""RocketMQ 5's broker series, made from the broker's counters and state at scrape time.

prometheus-client calls `collect()` when `/metrics` is read; the exporter's ASGI app
runs on the broker's event loop, so everything here reads live broker state without
locks. Names and labels follow BrokerMetricsManager, RemotingMetricsManager and
DefaultStoreMetricsManager of apache/rocketmq 5.x (see docs/metrics.md).
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from orbitmq.admin.tables import version_desc
from orbitmq.broker.metrics.counters import (
    MESSAGE_SIZE_BOUNDS,
    RPC_LATENCY_BOUNDS_MS,
    BrokerMetrics,
)
from orbitmq.broker.metrics.labels import BASE_LABELS, NODE_TYPE_BROKER
from orbitmq.broker.topic_config import is_system_topic
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import language_name
from orbitmq.protocol.perm import is_readable, is_writeable
from orbitmq.protocol.topics import is_group_topic, is_retry_topic

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

_SYSTEM_GROUP_PREFIX = "cid_rmq_sys_"  # MixAll.CID_RMQ_SYS_PREFIX, compared in lower case
_CONSUME_MODES = {"CONSUME_ACTIVELY": "pull", "CONSUME_PASSIVELY": "push", "CONSUME_POP": "pop"}
_REMOTING = "remoting"
_LOCAL_DISK = ("local", "disk")
_CONSUMER_LABELS = ("topic", "consumer_group", "is_retry", "is_system")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def is_system_group(group: str) -> bool:
    return group.lower().startswith(_SYSTEM_GROUP_PREFIX)


@functools.cache
def _request_code_name(code: int) -> str:
    """RemotingHelper.getRequestCodeDesc: the lower-case constant name."""
    try:
        return RequestCode(code).name.lower()
    except ValueError:
        return str(code)


@functools.cache
def _response_code_name(code: int) -> str:
    try:
        return ResponseCode(code).name.lower()
    except ValueError:
        return str(code)


def _buckets(counts: Iterable[int], bounds: Iterable[float]) -> list[tuple[str, float]]:
    """Per-slot counts (last one: above every bound) as cumulative `le` buckets."""
    out = []
    total = 0
    for bound, count in zip([*bounds, float("inf")], counts, strict=True):
        total += count
        out.append((floatToGoString(bound), total))
    return out


def _gauge(
    name: str, documentation: str, labels: list[str], values: list[str], value: float
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    family.add_metric(values, value)
    return family


class BrokerCollector(Collector):
    def __init__(
        self, broker: BrokerController, metrics: BrokerMetrics, extra_labels: dict[str, str]
    ) -> None:
        self._broker = broker
        self._metrics = metrics
        self._extra = extra_labels

    def _base(self) -> tuple[list[str], list[str]]:
        config = self._broker.config
        names = [*BASE_LABELS, *self._extra]
        values = [config.broker_cluster_name, NODE_TYPE_BROKER, config.broker_name]
        return names, [*values, *self._extra.values()]

    def _is_system_topic(self, topic: str) -> bool:
        config = self._broker.config
        return is_system_topic(topic, (config.broker_cluster_name, config.broker_name))

    def _is_system(self, topic: str, group: str) -> str:
        return _bool(self._is_system_topic(topic) or is_system_group(group))

    def collect(self) -> Iterator[Metric]:
        names, values = self._base()
        for families in (
            self._messages_in(names, values),
            self._messages_out(names, values),
            self._consumer_progress(names, values),
            self._connections(names, values),
            self._broker_gauges(names, values),
            self._rpc_latency(names, values),
            self._storage(names, values),
            self._transactions(names, values),
        ):
            yield from families

    def _messages_in(self, names: list[str], base: list[str]) -> list[Metric]:
        labels = [*names, "topic", "message_type", "is_system"]
        count = CounterMetricFamily(
            "rocketmq_messages_in_total", "Messages producers sent that were stored", labels=labels
        )
        size = CounterMetricFamily(
            "rocketmq_throughput_in_total",
            "Commit log bytes of the messages producers sent",
            labels=labels,
        )
        histogram = HistogramMetricFamily(
            "rocketmq_message_size",
            "Commit log bytes of each message producers sent",
            labels=[*names, "topic", "message_type"],
        )
        for (topic, kind), row in sorted(self._metrics.messages_in.items()):
            if is_group_topic(topic):
                continue  # retries and dead letters are not produced messages
            system = _bool(self._is_system_topic(topic))
            count.add_metric([*base, topic, kind, system], row[0])
            size.add_metric([*base, topic, kind, system], row[1])
            histogram.add_metric(
                [*base, topic, kind], _buckets(row[2:], MESSAGE_SIZE_BOUNDS), row[1]
            )
        return [count, size, histogram]

    def _messages_out(self, names: list[str], base: list[str]) -> list[Metric]:
        labels = [*names, *_CONSUMER_LABELS]
        count = CounterMetricFamily(
            "rocketmq_messages_out_total", "Messages delivered to consumers", labels=labels
        )
        size = CounterMetricFamily(
            "rocketmq_throughput_out_total",
            "Commit log bytes delivered to consumers",
            labels=labels,
        )
        for (topic, group), (messages, sent) in sorted(self._metrics.messages_out.items()):
            values = [
                *base,
                topic,
                group,
                _bool(is_retry_topic(topic)),
                self._is_system(topic, group),
            ]
            count.add_metric(values, messages)
            size.add_metric(values, sent)
        dlq = CounterMetricFamily(
            "rocketmq_send_to_dlq_messages_total",
            "Messages moved to a consumer group's dead-letter queue",
            labels=[*names, "topic", "consumer_group", "is_system"],
        )
        for (topic, group), moved in sorted(self._metrics.send_to_dlq.items()):
            dlq.add_metric([*base, topic, group, self._is_system(topic, group)], moved)
        return [count, size, dlq]

    def _consumer_pairs(self) -> set[tuple[str, str]]:
        """(group, topic) of every online subscription and every committed offset (but
        the broker's own system groups' bookkeeping)."""
        broker = self._broker
        pairs = {
            (group, topic)
            for group, info in broker.client_manager.consumer_groups.items()
            for topic in info.subscriptions
        }
        for key in broker.consumer_offset_manager.offset_table:
            topic, _, group = key.partition("@")
            if not is_system_group(group):
                pairs.add((group, topic))
        return pairs

    def _consumer_progress(self, names: list[str], base: list[str]) -> list[Metric]:
        labels = [*names, *_CONSUMER_LABELS]
        families = {
            "lag": GaugeMetricFamily(
                "rocketmq_consumer_lag_messages",
                "Messages not yet consumed: max offset minus committed offset, all queues",
                labels=labels,
            ),
            "lag_latency": GaugeMetricFamily(
                "rocketmq_consumer_lag_latency",
                "Milliseconds since the oldest message not yet consumed was stored",
                labels=labels,
            ),
            "inflight": GaugeMetricFamily(
                "rocketmq_consumer_inflight_messages",
                "Messages pulled but not yet committed",
                labels=labels,
            ),
            "ready": GaugeMetricFamily(
                "rocketmq_consumer_ready_messages",
                "Messages not yet pulled",
                labels=labels,
            ),
            "queueing_latency": GaugeMetricFamily(
                "rocketmq_consumer_queueing_latency",
                "Milliseconds since the oldest message not yet pulled was stored",
                labels=labels,
            ),
        }
        broker = self._broker
        now_ms = int(time.time() * 1000)
        for group, topic in sorted(self._consumer_pairs()):
            config = broker.topic_config_manager.get(topic)
            if config is None:
                continue
            perm = config.perm & broker.config.broker_permission
            if not is_readable(perm) and not is_writeable(perm):
                continue
            progress = self._progress(group, topic, config.read_queue_nums, now_ms)
            values = [
                *base,
                topic,
                group,
                _bool(is_retry_topic(topic)),
                self._is_system(topic, group),
            ]
            for name, family in families.items():
                family.add_metric(values, progress[name])
        return list(families.values())

    def _progress(self, group: str, topic: str, queue_nums: int, now_ms: int) -> dict[str, int]:
        """ConsumerLagCalculator for one group on one topic of this broker: a queue the
        group never committed has no lag; a queue it never pulled (since this broker
        started) is pulled up to its committed offset."""
        store = self._broker.message_store
        offsets = self._broker.consumer_offset_manager
        pulled_offsets = self._metrics.pull_offsets
        lag = inflight = ready = 0
        oldest_unconsumed = oldest_unpulled = now_ms
        for queue_id in range(queue_nums):
            max_offset = max(store.get_max_offset_in_queue(topic, queue_id), 0)
            committed = offsets.query_offset(group, topic, queue_id)
            if committed < 0:
                committed = max_offset
            pulled = max(pulled_offsets.get((group, topic, queue_id), committed), committed)
            if max_offset > committed:
                lag += max_offset - committed
                stamp = store.get_message_store_timestamp(topic, queue_id, committed)
                if stamp > 0:
                    oldest_unconsumed = min(oldest_unconsumed, stamp)
            inflight += pulled - committed
            if max_offset > pulled:
                ready += max_offset - pulled
                stamp = store.get_message_store_timestamp(topic, queue_id, pulled)
                if stamp > 0:
                    oldest_unpulled = min(oldest_unpulled, stamp)
        return {
            "lag": lag,
            "lag_latency": now_ms - oldest_unconsumed,
            "inflight": inflight,
            "ready": ready,
            "queueing_latency": now_ms - oldest_unpulled,
        }

    def _connections(self, names: list[str], base: list[str]) -> list[Metric]:
        manager = self._broker.client_manager
        producers: dict[tuple[str, str], int] = {}
        for channels in manager.producer_groups.values():
            for info in channels.values():
                key = (language_name(info.language).lower(), version_desc(info.version).lower())
                producers[key] = producers.get(key, 0) + 1
        producer_family = GaugeMetricFamily(
            "rocketmq_producer_connections",
            "Producer connections by client language and version",
            labels=[*names, "language", "version", "protocol_type"],
        )
        for (language, version), count in sorted(producers.items()):
            producer_family.add_metric([*base, language, version, _REMOTING], count)
        consumers: dict[tuple[str, str, str, str], int] = {}
        for group, group_info in manager.consumer_groups.items():
            mode = _CONSUME_MODES.get(group_info.consume_type, "push")
            for info in group_info.channels.values():
                language = language_name(info.language).lower()
                key = (group, language, version_desc(info.version).lower(), mode)
                consumers[key] = consumers.get(key, 0) + 1
        consumer_family = GaugeMetricFamily(
            "rocketmq_consumer_connections",
            "Consumer connections by group, client language and version",
            labels=[
                *names,
                "consumer_group",
                "language",
                "version",
                "consume_mode",
                "protocol_type",
                "is_system",
            ],
        )
        for (group, language, version, mode), count in sorted(consumers.items()):
            values = [group, language, version, mode, _REMOTING, _bool(is_system_group(group))]
            consumer_family.add_metric([*base, *values], count)
        return [producer_family, consumer_family]

    def _broker_gauges(self, names: list[str], base: list[str]) -> list[Metric]:
        broker = self._broker
        return [
            _gauge(
                "rocketmq_topic_number",
                "Topics this broker has",
                names,
                base,
                len(broker.topic_config_manager.table),
            ),
            _gauge(
                "rocketmq_consumer_group_number",
                "Subscription groups this broker has",
                names,
                base,
                len(broker.subscription_group_manager.table),
            ),
            _gauge(
                "rocketmq_broker_permission",
                "brokerPermission (2 write, 4 read, 6 both)",
                names,
                base,
                broker.config.broker_permission,
            ),
        ]

    def _rpc_latency(self, names: list[str], base: list[str]) -> list[Metric]:
        family = HistogramMetricFamily(
            "rocketmq_rpc_latency",
            "Milliseconds from reading a request to answering it",
            labels=[
                *names,
                "protocol_type",
                "request_code",
                "response_code",
                "is_long_polling",
                "result",
            ],
        )
        for (request, response, long_polling, oneway), row in sorted(
            self._metrics.rpc.rows.items()
        ):
            values = [
                _REMOTING,
                _request_code_name(request),
                _response_code_name(response),
                _bool(long_polling),
                "oneway" if oneway else "success",
            ]
            family.add_metric([*base, *values], _buckets(row[:-1], RPC_LATENCY_BOUNDS_MS), row[-1])
        return [family]

    def _storage(self, names: list[str], base: list[str]) -> list[Metric]:
        store = self._broker.message_store
        statistics = store.statistics()
        labels = [*names, "storage_type", "storage_medium"]
        values = [*base, *_LOCAL_DISK]
        families = []
        try:
            used = shutil.disk_usage(self._broker.config.store_path_root_dir).used
        except OSError:
            used = None
        if used is not None:
            families.append(
                _gauge(
                    "rocketmq_storage_size",
                    "Bytes used on the file system of storePathRootDir",
                    labels,
                    values,
                    used,
                )
            )
        families.append(
            _gauge(
                "rocketmq_storage_flush_behind_bytes",
                "Commit log bytes written but not yet flushed to disk",
                labels,
                values,
                max(statistics.commit_log_max_offset - statistics.commit_log_flushed_offset, 0),
            )
        )
        families.append(
            _gauge(
                "rocketmq_storage_dispatch_behind_bytes",
                "Commit log bytes not yet dispatched to consume queues and the index",
                labels,
                values,
                statistics.dispatch_behind_bytes,
            )
        )
        earliest = store.get_earliest_message_time_in_store()
        if earliest > 0:
            families.append(
                _gauge(
                    "rocketmq_storage_message_reserve_time",
                    "Milliseconds since the oldest message in the commit log was stored",
                    labels,
                    values,
                    int(time.time() * 1000) - earliest,
                )
            )
        return families

    def _transactions(self, names: list[str], base: list[str]) -> list[Metric]:
        service = self._broker.transaction_service
        labels = [*names, "topic"]
        families: list[Metric] = []
        for name, doc, table in (
            ("rocketmq_commit_messages_total", "Transactions committed", service.commits),
            ("rocketmq_rollback_messages_total", "Transactions rolled back", service.rollbacks),
        ):
            family = CounterMetricFamily(name, doc, labels=labels)
            for topic, count in sorted(table.items()):
                family.add_metric([*base, topic], count)
            families.append(family)
        if self._broker.config.is_master:  # a slave resolves no transaction
            half = GaugeMetricFamily(
                "rocketmq_half_messages",
                "Prepared transactional messages not yet committed or rolled back",
                labels=labels,
            )
            for topic, count in sorted(service.open_half_messages().items()):
                half.add_metric([*base, topic], count)
            families.append(half)
        return families
