"""What one collection of the console's figures holds, and the bookkeeping between
collections (pure: times are passed in).

Rates are offset differences between two observations of the same queue set (a topic's
max offsets, a group's committed offsets) divided by the time between them, so no
per-topic VIEW_BROKER_STATS_DATA call is needed. "Today" counts are what the offsets
moved since the first observation of the local day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from orbitmq.broker.topic_config import is_system_topic
from orbitmq.dashboard.context import BrokerFailure
from orbitmq.protocol.topics import is_group_topic

K = TypeVar("K")

# The group mqadmin and the console browse messages with: its pulls are not consumption
# (rocketmq #7619), so it stays out of "consumed today" and the out TPS.
TOOLS_CONSUMER_GROUP = "TOOLS_CONSUMER"


def is_chart_topic(topic: str, cluster_and_broker_names: frozenset[str]) -> bool:
    """Topics the Dashboard charts: not retry, DLQ or system (TopicValidator.isSystemTopic,
    which also counts each cluster's and broker's own topic)."""
    return not (is_group_topic(topic) or is_system_topic(topic, cluster_and_broker_names))


@dataclass(frozen=True, slots=True, order=True)
class BrokerRef:
    cluster: str
    broker_name: str
    broker_id: int
    addr: str

    @property
    def key(self) -> str:
        """`brokerName:brokerId`, the broker chart file's key."""
        return f"{self.broker_name}:{self.broker_id}"


@dataclass(frozen=True, slots=True)
class BrokerFigures:
    ref: BrokerRef
    runtime: Mapping[str, str]  # GET_BROKER_RUNTIME_INFO; empty when it did not answer
    put_tps: float | None = None  # BROKER_PUT_NUMS, minute TPS (masters)
    get_tps: float | None = None  # BROKER_GET_NUMS


@dataclass(frozen=True, slots=True)
class TopicFigures:
    """One topic on one broker set: the sum of its queues' max offsets."""

    cluster: str
    broker_name: str
    topic: str
    max_offset: int
    tps: float


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """One group's progress on one topic of one broker set, summed over queues."""

    cluster: str
    broker_name: str
    group: str
    topic: str
    broker_offset: int
    consumer_offset: int
    tps: float

    @property
    def diff(self) -> int:
        return self.broker_offset - self.consumer_offset


@dataclass(frozen=True, slots=True)
class OnlineConsumers:
    group: str
    client_addrs: tuple[str, ...] = ()
    client_ids: tuple[str, ...] = ()
    message_model: str = ""  # CLUSTERING / BROADCASTING; "" when nobody is online

    @property
    def count(self) -> int:
        return len(self.client_ids)


@dataclass(frozen=True, slots=True)
class ProducerCount:
    """The producers of one producer group that one broker set's master knows."""

    cluster: str
    broker_name: str
    group: str
    count: int


@dataclass(frozen=True, slots=True)
class GroupLatency:
    """How long the message at a clustering group's consumer offset has waited on one
    topic of one broker set: now - its store time, the most over the lagging queues."""

    cluster: str
    broker_name: str
    topic: str
    group: str
    latency_ms: int


@dataclass(frozen=True, slots=True)
class ClientConsumeStatus:
    """One online consumer's ConsumeStatus of one topic (its GET_CONSUMER_RUNNING_INFO
    statusTable): the last minute's figures, failed messages over the last hour."""

    client_addr: str
    client_id: str
    group: str
    topic: str
    pull_rt: float
    pull_tps: float
    consume_rt: float
    consume_ok_tps: float
    consume_failed_tps: float
    consume_failed_msgs: int


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def client_statuses(
    client_addr: str, client_id: str, group: str, status_table: Mapping[str, Mapping[str, Any]]
) -> list[ClientConsumeStatus]:
    """A running info's statusTable by topic; a figure the client left out is 0."""
    return [
        ClientConsumeStatus(
            client_addr,
            client_id,
            group,
            topic,
            _number(status.get("pullRT")),
            _number(status.get("pullTPS")),
            _number(status.get("consumeRT")),
            _number(status.get("consumeOKTPS")),
            _number(status.get("consumeFailedTPS")),
            int(_number(status.get("consumeFailedMsgs"))),
        )
        for topic, status in sorted(status_table.items())
    ]


@dataclass(frozen=True, slots=True)
class TopicDay:
    """A topic's point on the Dashboard's topic chart."""

    in_tps: float
    in_today: int
    out_tps: float
    out_today: int

    def chart_point(self, ms: int) -> str:
        """rocketmq-dashboard's `"<ms>,inTps,inToday,outTps,outToday"`."""
        return f"{ms},{self.in_tps:.5f},{self.in_today},{self.out_tps:.5f},{self.out_today}"


@dataclass(frozen=True)
class Snapshot:
    taken_ms: int
    brokers: tuple[BrokerFigures, ...] = ()
    topics: tuple[TopicFigures, ...] = ()
    groups: tuple[GroupFigures, ...] = ()
    online: Mapping[str, OnlineConsumers] = field(default_factory=dict)
    topic_days: Mapping[str, TopicDay] = field(default_factory=dict)
    failures: tuple[BrokerFailure, ...] = ()
    producers: tuple[ProducerCount, ...] = ()
    latencies: tuple[GroupLatency, ...] = ()
    clients: tuple[ClientConsumeStatus, ...] = ()

    def cluster_of(self, broker_name: str) -> str:
        return next((b.ref.cluster for b in self.brokers if b.ref.broker_name == broker_name), "")


class RateTracker(Generic[K]):
    """Per key: the rate of a growing total between its last two observations."""

    def __init__(self) -> None:
        self._last: dict[K, tuple[int, int]] = {}
        self._rate: dict[K, float] = {}

    def observe(self, key: K, ms: int, total: int) -> float:
        previous = self._last.get(key)
        self._last[key] = (ms, total)
        if previous is None or total < previous[1]:  # first sight, or reset (topic recreated)
            self._rate[key] = 0.0
        elif ms > previous[0]:
            self._rate[key] = (total - previous[1]) * 1000.0 / (ms - previous[0])
        return self._rate[key]

    def rate(self, key: K) -> float:
        return self._rate.get(key, 0.0)

    def retain(self, keys: Iterable[K]) -> None:
        keep = set(keys)
        for table in (self._last, self._rate):
            for key in [k for k in table if k not in keep]:
                del table[key]


class DayCounter:
    """How far each total moved since its first observation of the local day.

    `resume` continues a day counted before a console restart: the first observation
    afterwards counts on from the last recorded figure (what happened while the console
    was down is not counted).
    """

    def __init__(self) -> None:
        self.day = ""
        self._base: dict[str, int] = {}
        self._resumed: dict[str, int] = {}

    def _roll(self, day: str) -> None:
        if day != self.day:
            self.day = day
            self._base.clear()
            self._resumed.clear()

    def resume(self, day: str, counted: Mapping[str, int]) -> None:
        self._roll(day)
        self._resumed.update(counted)

    def count_from_zero(self, day: str, key: str) -> None:
        """A key created while watched: all of its total belongs to today."""
        self._roll(day)
        self._base.setdefault(key, 0)

    def count(self, day: str, key: str, total: int) -> int:
        self._roll(day)
        base = self._base.get(key)
        if base is None or total < base:
            base = total - min(self._resumed.pop(key, 0), max(total, 0))
            self._base[key] = base
        return total - base
