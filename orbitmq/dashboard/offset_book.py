"""The offsets the collector has seen, by broker set, kept between collections (pure).

Topics are observed through GET_BROKER_CONSUME_STATS (every consumed topic's broker
offsets come with the groups' progress, one call per broker) or, for topics nobody
consumes, GET_TOPIC_STATS_INFO, a few hundred a collection, stalest first, so that 5,000
topics cost a few calls per broker and not 5,000 a minute. A topic not refreshed this
round keeps its last observation and rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from orbitmq.dashboard.figures import (
    TOOLS_CONSUMER_GROUP,
    DayCounter,
    GroupFigures,
    RateTracker,
    TopicDay,
    TopicFigures,
)

TopicKey = tuple[str, str]  # (broker name, topic)
GroupKey = tuple[str, str, str]  # (broker name, group, topic)


@dataclass(frozen=True, slots=True)
class _TopicSeen:
    cluster: str
    ms: int
    max_offset: int


@dataclass(frozen=True, slots=True)
class _GroupSeen:
    cluster: str
    ms: int
    broker_offset: int
    consumer_offset: int


class OffsetBook:
    def __init__(self) -> None:
        self._topics: dict[TopicKey, _TopicSeen] = {}
        self._groups: dict[GroupKey, _GroupSeen] = {}
        self._topic_rates: RateTracker[TopicKey] = RateTracker()
        self._group_rates: RateTracker[GroupKey] = RateTracker()
        self.in_today = DayCounter()
        self.out_today = DayCounter()

    # Observations ------------------------------------------------------------------------
    def observe_topic(
        self, cluster: str, broker: str, topic: str, ms: int, max_offset: int
    ) -> None:
        self._topics[(broker, topic)] = _TopicSeen(cluster, ms, max_offset)
        self._topic_rates.observe((broker, topic), ms, max_offset)

    def observe_group(
        self,
        cluster: str,
        broker: str,
        group: str,
        topic: str,
        ms: int,
        broker_offset: int,
        consumer_offset: int,
    ) -> None:
        key = (broker, group, topic)
        self._groups[key] = _GroupSeen(cluster, ms, broker_offset, consumer_offset)
        self._group_rates.observe(key, ms, consumer_offset)

    def topics(self) -> set[str]:
        return {topic for _, topic in self._topics}

    def seen_at(self, broker: str, topic: str) -> int | None:
        seen = self._topics.get((broker, topic))
        return seen.ms if seen else None

    def stalest(self, broker: str, topics: Iterable[str], ms: int, budget: int) -> list[str]:
        """Up to `budget` of the broker's topics not observed at `ms`, never-seen first."""
        waiting = sorted((seen, t) for t in topics if (seen := self.seen_at(broker, t) or 0) != ms)
        return [t for _, t in waiting[:budget]]

    # Forgetting --------------------------------------------------------------------------
    def retain_brokers(self, brokers: Iterable[str]) -> None:
        """Forget broker sets the NameServer no longer lists."""
        keep = set(brokers)
        self._retain_topics({k for k in self._topics if k[0] in keep})
        self._retain_groups({k for k in self._groups if k[0] in keep})

    def retain_topics_of(self, broker: str, topics: Iterable[str]) -> None:
        """The broker answered with its topics: forget its others (deleted)."""
        present = set(topics)
        self._retain_topics({k for k in self._topics if k[0] != broker or k[1] in present})

    def retain_groups_of(self, broker: str, pairs: Iterable[tuple[str, str]]) -> None:
        """The broker answered with its (group, topic) pairs: forget its others."""
        present = set(pairs)
        self._retain_groups({k for k in self._groups if k[0] != broker or (k[1], k[2]) in present})

    def _retain_topics(self, keys: set[TopicKey]) -> None:
        self._topics = {k: v for k, v in self._topics.items() if k in keys}
        self._topic_rates.retain(keys)

    def _retain_groups(self, keys: set[GroupKey]) -> None:
        self._groups = {k: v for k, v in self._groups.items() if k in keys}
        self._group_rates.retain(keys)

    # Figures -----------------------------------------------------------------------------
    def topic_figures(self, brokers: Iterable[str]) -> tuple[TopicFigures, ...]:
        wanted = set(brokers)
        return tuple(
            TopicFigures(seen.cluster, key[0], key[1], seen.max_offset, self._topic_rates.rate(key))
            for key, seen in sorted(self._topics.items())
            if key[0] in wanted
        )

    def group_figures(self, brokers: Iterable[str]) -> tuple[GroupFigures, ...]:
        wanted = set(brokers)
        return tuple(
            GroupFigures(
                seen.cluster,
                key[0],
                key[1],
                key[2],
                seen.broker_offset,
                seen.consumer_offset,
                self._group_rates.rate(key),
            )
            for key, seen in sorted(self._groups.items())
            if key[0] in wanted
        )

    def topic_days(self, day: str, topics: Iterable[str]) -> dict[str, TopicDay]:
        """Chart figures of `topics` over every broker set (TOOLS_CONSUMER left out)."""
        wanted = set(topics)
        in_total: dict[str, int] = {}
        in_tps: dict[str, float] = {}
        for (broker, topic), seen in self._topics.items():
            if topic in wanted:
                in_total[topic] = in_total.get(topic, 0) + seen.max_offset
                in_tps[topic] = in_tps.get(topic, 0.0) + self._topic_rates.rate((broker, topic))
        out_total: dict[str, int] = {}
        out_tps: dict[str, float] = {}
        for key, group_seen in self._groups.items():
            topic = key[2]
            if topic in in_total and key[1] != TOOLS_CONSUMER_GROUP:
                out_total[topic] = out_total.get(topic, 0) + group_seen.consumer_offset
                out_tps[topic] = out_tps.get(topic, 0.0) + self._group_rates.rate(key)
        return {
            topic: TopicDay(
                in_tps=in_tps[topic],
                in_today=self.in_today.count(day, topic, total),
                out_tps=out_tps.get(topic, 0.0),
                out_today=self.out_today.count(day, topic, out_total.get(topic, 0)),
            )
            for topic, total in sorted(in_total.items())
        }
