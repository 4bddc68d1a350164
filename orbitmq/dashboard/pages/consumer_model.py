"""The Consumer page's pure part: one row per subscription group from every master's
GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) and GET_BROKER_CONSUME_STATS (317) answers plus the
group's connection list (203); the list's search, filter and sort; one group's per-queue
progress with totals.

Lag is `mqadmin consumerProgress`'s "Diff Total": the sum of brokerOffset - consumerOffset
over every queue of every broker of the group (ConsumeStats.total_diff per broker, added).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from orbitmq.admin.commands.group import SYSTEM_GROUPS
from orbitmq.admin.tables import version_desc
from orbitmq.client.admin_bodies import ConsumerConnection, ConsumeStats, ConsumeStatsList
from orbitmq.client.message import MessageQueue

# MixAll.isSysConsumerGroup: groups of the brokers' own services (e.g. CID_RMQ_SYS_TRANS).
SYSTEM_GROUP_PREFIX = "CID_RMQ_SYS_"
KINDS = ("normal", "system", "all")
SORTS = ("group", "clients", "tps", "lag")


def is_system_group(group: str) -> bool:
    return group in SYSTEM_GROUPS or group.startswith(SYSTEM_GROUP_PREFIX)


@dataclass(frozen=True, slots=True)
class GroupRow:
    group: str
    orderly: bool
    lag: int
    tps: float
    last_timestamp: int  # store time of the newest message the group committed past
    clients: int = 0
    version: str = "OFFLINE"
    consume_type: str = ""
    message_model: str = ""

    @property
    def system(self) -> bool:
        return is_system_group(self.group)


@dataclass(frozen=True, slots=True)
class GroupFigures:
    lag: int = 0
    tps: float = 0.0
    last_timestamp: int = 0

    def plus(self, stats: ConsumeStats) -> GroupFigures:
        last = max((w.last_timestamp for w in stats.offset_table.values()), default=0)
        return GroupFigures(
            self.lag + stats.total_diff(),
            self.tps + stats.consume_tps,
            max(self.last_timestamp, last),
        )


def group_figures(stats_lists: Iterable[ConsumeStatsList]) -> dict[str, GroupFigures]:
    """Lag, TPS and last time of every group, summed over the brokers' answers."""
    figures: dict[str, GroupFigures] = {}
    for answer in stats_lists:
        for group, per_topic in answer.groups:
            total = figures.get(group, GroupFigures())
            for stats in per_topic:
                total = total.plus(stats)
            figures[group] = total
    return figures


def group_brokers(
    configs: Mapping[str, Mapping[str, Any]], stats: Mapping[str, ConsumeStatsList]
) -> dict[str, list[str]]:
    """Broker names per group (`configs`/`stats` keyed by broker name), the brokers where
    the group has offsets first: those are where its clients are known to connect."""
    active = {
        (name, group)
        for name, answer in stats.items()
        for group, per_topic in answer.groups
        if any(s.offset_table for s in per_topic)
    }
    brokers: dict[str, list[str]] = {}
    for name in sorted(configs):
        for group in configs[name]:
            brokers.setdefault(group, []).append(name)
    for group, names in brokers.items():
        names.sort(key=lambda n: ((n, group) not in active, n))
    return brokers


def _orderly(configs: Mapping[str, Mapping[str, Any]], group: str) -> bool:
    return any(bool(t.get(group, {}).get("consumeMessageOrderly")) for t in configs.values())


def build_rows(
    configs: Mapping[str, Mapping[str, Any]],
    stats: Mapping[str, ConsumeStatsList],
    connections: Mapping[str, ConsumerConnection | None],
) -> list[GroupRow]:
    """A row per group any broker has a config of, sorted by name."""
    figures = group_figures(stats.values())
    return [
        group_row(
            group,
            _orderly(configs, group),
            figures.get(group, GroupFigures()),
            connections.get(group),
        )
        for group in sorted({g for table in configs.values() for g in table})
    ]


def group_row(
    group: str, orderly: bool, figures: GroupFigures, connection: ConsumerConnection | None
) -> GroupRow:
    """One group's row from its summed figures and its connection list (None: offline)."""
    row = GroupRow(group, orderly, figures.lag, figures.tps, figures.last_timestamp)
    if connection is None or not connection.connections:
        return row
    return replace(
        row,
        clients=len(connection.connections),
        version=version_desc(connection.min_version()),
        consume_type="PULL" if connection.consume_type == "CONSUME_ACTIVELY" else "PUSH",
        message_model=connection.message_model,
    )


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What the list shows: `?q=&kind=normal|system|all&sort=group|clients|tps|lag&dir=`."""

    search: str = ""
    kind: str = "normal"
    sort: str = "group"
    descending: bool = False

    @classmethod
    def of(cls, params: Mapping[str, str]) -> ListQuery:
        """Unknown values fall back to the defaults rather than failing the page."""
        kind = params.get("kind", "normal")
        sort = params.get("sort", "group")
        sort = sort if sort in SORTS else "group"
        default_dir = "asc" if sort == "group" else "desc"
        return cls(
            search=params.get("q", "").strip(),
            kind=kind if kind in KINDS else "normal",
            sort=sort,
            descending=params.get("dir", default_dir) == "desc",
        )

    @property
    def direction(self) -> str:
        return "desc" if self.descending else "asc"

    def query_string(self, **changes: Any) -> str:
        """The list's query string ending in "&" (the pager appends page=N)."""
        query = replace(self, **changes)
        params = {"q": query.search, "kind": query.kind, "sort": query.sort, "dir": query.direction}
        return urlencode({k: v for k, v in params.items() if v}) + "&"

    def sorted_by(self, column: str) -> str:
        """The query string of a click on `column`'s header: flip the direction of the
        current column; numbers start with the largest, names with A."""
        if column == self.sort:
            return self.query_string(descending=not self.descending)
        return self.query_string(sort=column, descending=column != "group")


def _sort_key(sort: str) -> Any:
    if sort == "clients":
        return lambda r: r.clients
    if sort == "tps":
        return lambda r: r.tps
    if sort == "lag":
        return lambda r: r.lag
    return lambda r: r.group.lower()


def select_rows(rows: Iterable[GroupRow], query: ListQuery) -> list[GroupRow]:
    """Rows matching the search (part of the name, any case) and kind, in the asked order;
    equal values keep name order."""
    needle = query.search.lower()
    chosen = [
        r
        for r in rows
        if needle in r.group.lower()
        and (query.kind == "all" or (query.kind == "system") == r.system)
    ]
    chosen.sort(key=lambda r: r.group)
    chosen.sort(key=_sort_key(query.sort), reverse=query.descending)
    return chosen


# One group's progress ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QueueRow:
    broker_name: str
    queue_id: int
    broker_offset: int
    consumer_offset: int
    client: str
    last_timestamp: int

    @property
    def lag(self) -> int:
        return self.broker_offset - self.consumer_offset


@dataclass(frozen=True, slots=True)
class TopicProgress:
    topic: str
    queues: Sequence[QueueRow]

    @property
    def broker_offset(self) -> int:
        return sum(q.broker_offset for q in self.queues)

    @property
    def consumer_offset(self) -> int:
        return sum(q.consumer_offset for q in self.queues)

    @property
    def lag(self) -> int:
        return sum(q.lag for q in self.queues)

    @property
    def last_timestamp(self) -> int:
        return max((q.last_timestamp for q in self.queues), default=0)


def merge_stats(answers: Iterable[ConsumeStats]) -> ConsumeStats:
    """The group's ConsumeStats of several brokers as one (ConsumeStats per broker of 208)."""
    merged = ConsumeStats()
    for stats in answers:
        merged.offset_table.update(stats.offset_table)
        merged.consume_tps += stats.consume_tps
    return merged


def topic_progress(
    stats: ConsumeStats, owners: Mapping[MessageQueue, str]
) -> list[TopicProgress]:
    """Per topic (by name) its queues by broker and queue id, with the client holding each
    (from the clients' running info; "-" when none said)."""
    topics: dict[str, list[QueueRow]] = {}
    for mq in sorted(stats.offset_table):
        w = stats.offset_table[mq]
        topics.setdefault(mq.topic, []).append(
            QueueRow(
                mq.broker_name,
                mq.queue_id,
                w.broker_offset,
                w.consumer_offset,
                owners.get(mq, "-"),
                w.last_timestamp,
            )
        )
    return [TopicProgress(topic, queues) for topic, queues in topics.items()]
