"""The NameServer's routing tables (namesrv/routeinfo/RouteInfoManager.java), pure.

Theory of operation: brokers register every 30 s. Each registration records the broker set
(`broker_addr_table`), its cluster (`cluster_addr_table`) and liveness
(`broker_live_table`, keyed by the broker's address); a master's registration also writes
one QueueData per topic into `topic_queue_table`, but only when its DataVersion changed, so
an operator's wipeWritePerm survives the next unchanged registration. A broker address is
forgotten on UNREGISTER_BROKER, on 120 s of silence (`expire_inactive`), or when the
connection it registered over closes (`on_connection_closed`). A broker set whose last
address goes also loses its QueueData, and topics left without queues disappear.

Costs follow what changed, never the whole table: `broker_topics` indexes the topics of
each broker set, so dropping a set or changing its perms touches its own topics only;
and a registration whose DataVersion is unchanged (what every broker sends every 30 s)
needs no topic configs at all (`wants_topic_configs`), so the handler need not decode them.

The QueueData of one broker set's topics are mostly alike (same queue counts and perm),
so equal ones are one shared object: a million topics need not be a million QueueData.
Table entries are therefore replaced, never changed in place. Route answers are joined
from JSON kept per broker set and per QueueData value (route_json.py), which is why
every change of a broker set's addresses goes through `_addresses_changed`.

A broker set with addresses but no master (its master not registered yet, or gone while
a slave stays) still has its QueueData, as in Java: consumers read its queues from the
slave. Producers cannot send to them (clients skip a set without id 0), so route answers
naming such a set are reported once per topic (`take_masterless_sets`) until a master
registers: that is the log line saying why a producer found no queue.

No asyncio and no clock: time comes in as `now` (ms), so expiry tests need no sleeping.
There is no lock either: one event loop owns the table.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

from orbitmq.namesrv.route_data import (
    MASTER_ID,
    BrokerData,
    BrokerLiveInfo,
    ClusterInfo,
    DataVersion,
    QueueData,
    RegisterBrokerBody,
    RegisterBrokerResult,
    TopicConfig,
    TopicRouteData,
)
from orbitmq.namesrv.route_json import RouteJson
from orbitmq.protocol.perm import PERM_READ, PERM_WRITE

BROKER_CHANNEL_EXPIRED_MS = 120_000

_PermChange = Callable[[int], int]


class RouteTable:
    """RouteInfoManager: who serves which topic, and which brokers are alive."""

    def __init__(self, broker_expired_ms: int = BROKER_CHANNEL_EXPIRED_MS) -> None:
        self.broker_expired_ms = broker_expired_ms
        self.cluster_addr_table: dict[str, set[str]] = {}
        self.broker_addr_table: dict[str, BrokerData] = {}
        self.topic_queue_table: dict[str, dict[str, QueueData]] = {}
        self.broker_live_table: dict[str, BrokerLiveInfo] = {}
        # broker name -> topics with a QueueData of it: the inverse of topic_queue_table
        self.broker_topics: dict[str, set[str]] = {}
        # broker name of a set with addresses but no master -> topics reported for it
        self._masterless: dict[str, set[str]] = {}
        self._route_json = RouteJson()

    # registration ---------------------------------------------------------------------
    def register_broker(
        self,
        cluster: str,
        broker_addr: str,
        broker_name: str,
        broker_id: int,
        ha_server_addr: str,
        body: RegisterBrokerBody | None,
        now: int,
        connection_key: object | None = None,
    ) -> RegisterBrokerResult:
        """Record one REGISTER_BROKER (remoting-protocol.md §4.3)."""
        body = body if body is not None else RegisterBrokerBody()
        self.cluster_addr_table.setdefault(cluster, set()).add(broker_name)
        broker_data = self.broker_addr_table.get(broker_name)
        first = broker_data is None
        if broker_data is None:
            broker_data = BrokerData(cluster, broker_name)
            self.broker_addr_table[broker_name] = broker_data
        addrs = broker_data.broker_addrs
        # A slave promoted to master re-registers its address under id 0: one address must
        # have one id only, or clients would see it both as master and slave.
        stale = [i for i, a in addrs.items() if a == broker_addr and i != broker_id]
        changed = bool(stale) or addrs.get(broker_id) != broker_addr
        for stale_id in stale:
            del addrs[stale_id]
        first = addrs.get(broker_id) is None or first
        addrs[broker_id] = broker_addr
        if changed:
            self._addresses_changed(broker_name)

        if broker_id == MASTER_ID and (
            first or self.is_broker_topic_config_changed(broker_addr, body.data_version)
        ):
            self._upsert_queue_datas(broker_name, body.topic_configs.values())

        self.broker_live_table[broker_addr] = BrokerLiveInfo(
            now, body.data_version, ha_server_addr, connection_key
        )
        if broker_id != MASTER_ID:
            master_addr = addrs.get(MASTER_ID)
            master_live = self.broker_live_table.get(master_addr) if master_addr else None
            if master_live is not None:
                return RegisterBrokerResult(master_addr, master_live.ha_server_addr)
        return RegisterBrokerResult()

    def wants_topic_configs(
        self, broker_addr: str, broker_name: str, broker_id: int, version: DataVersion
    ) -> bool:
        """Whether `register_broker` would read this registration's topic configs: a
        master's first registration, or one whose DataVersion changed."""
        if broker_id != MASTER_ID:
            return False
        broker_data = self.broker_addr_table.get(broker_name)
        if broker_data is None or broker_id not in broker_data.broker_addrs:
            return True
        return self.is_broker_topic_config_changed(broker_addr, version)

    def broker_addr(self, broker_name: str, broker_id: int) -> str | None:
        broker_data = self.broker_addr_table.get(broker_name)
        return broker_data.broker_addrs.get(broker_id) if broker_data is not None else None

    def _addresses_changed(self, broker_name: str) -> None:
        self._route_json.forget_broker(broker_name)
        addrs = self.broker_addr_table[broker_name].broker_addrs
        if addrs and MASTER_ID not in addrs:
            self._masterless.setdefault(broker_name, set())
        else:
            self._masterless.pop(broker_name, None)

    def _upsert_queue_datas(self, broker_name: str, configs: Iterable[TopicConfig]) -> None:
        table = self.topic_queue_table
        topics = self.broker_topics.setdefault(broker_name, set())
        shared = _SharedQueueDatas(broker_name)
        for config in configs:
            topic = config.topic_name
            queues = table.get(topic)
            if queues is None:
                queues = table[topic] = {}
            elif broker_name not in queues:
                # A topic on many broker sets: their indexes share one name object.
                topic = sys.intern(topic)
            queues[broker_name] = shared.get(
                config.read_queue_nums, config.write_queue_nums, config.perm, config.topic_sys_flag
            )
            topics.add(topic)

    def is_broker_topic_config_changed(self, broker_addr: str, version: DataVersion) -> bool:
        live = self.broker_live_table.get(broker_addr)
        return live is None or live.data_version != version

    def query_broker_data_version(self, broker_addr: str) -> DataVersion | None:
        live = self.broker_live_table.get(broker_addr)
        return live.data_version if live is not None else None

    def touch_broker(self, broker_addr: str, now: int) -> None:
        """An unchanged QUERY_DATA_VERSION counts as a sign of life."""
        live = self.broker_live_table.get(broker_addr)
        if live is not None:
            live.last_update_ms = now

    # removal ----------------------------------------------------------------------------
    def unregister_broker(
        self, cluster: str, broker_addr: str, broker_name: str, broker_id: int
    ) -> None:
        self.broker_live_table.pop(broker_addr, None)
        broker_data = self.broker_addr_table.get(broker_name)
        if broker_data is None:
            return
        broker_data.broker_addrs.pop(broker_id, None)
        self._addresses_changed(broker_name)
        if not broker_data.broker_addrs:
            self._drop_broker_name(broker_name, cluster)

    def expire_inactive(self, now: int) -> list[str]:
        """Forget brokers silent for longer than `broker_expired_ms`; return their addresses."""
        deadline = now - self.broker_expired_ms
        expired = [
            a for a, live in self.broker_live_table.items() if live.last_update_ms < deadline
        ]
        self._remove_addrs(expired)
        return expired

    def on_connection_closed(self, connection_key: object) -> list[str]:
        """Forget every broker whose latest registration came over this connection."""
        gone = [
            a for a, live in self.broker_live_table.items() if live.connection_key == connection_key
        ]
        self._remove_addrs(gone)
        return gone

    def _remove_addrs(self, broker_addrs: Iterable[str]) -> None:
        gone = set(broker_addrs)
        if not gone:
            return
        for addr in gone:
            self.broker_live_table.pop(addr, None)
        # RouteInfoManager.onChannelDestroy: an address may appear in any broker set.
        for broker_data in list(self.broker_addr_table.values()):
            addrs = broker_data.broker_addrs
            ids = [i for i, a in addrs.items() if a in gone]
            for broker_id in ids:
                del addrs[broker_id]
            if ids:
                self._addresses_changed(broker_data.broker_name)
            if not addrs:
                self._drop_broker_name(broker_data.broker_name, broker_data.cluster)

    def _drop_broker_name(self, broker_name: str, cluster: str) -> None:
        """The broker set has no address left: remove it and its queues everywhere."""
        self.broker_addr_table.pop(broker_name, None)
        self._masterless.pop(broker_name, None)
        self._route_json.drop_broker(broker_name)
        names = self.cluster_addr_table.get(cluster)
        if names is not None:
            names.discard(broker_name)
            if not names:
                del self.cluster_addr_table[cluster]
        for topic in self.broker_topics.pop(broker_name, ()):
            queues = self.topic_queue_table[topic]
            del queues[broker_name]
            if not queues:
                del self.topic_queue_table[topic]

    # queries ----------------------------------------------------------------------------
    def pick_topic_route(self, topic: str) -> TopicRouteData | None:
        """The route of `topic`, or None when no queue of it sits on a known broker set."""
        queues = self.topic_queue_table.get(topic)
        if not queues:
            return None
        broker_datas = [
            self.broker_addr_table[name].copy()
            for name in sorted(queues)
            if name in self.broker_addr_table
        ]
        if not broker_datas:
            return None
        queue_datas = [queue_data.copy() for _, queue_data in sorted(queues.items())]
        return TopicRouteData(queue_datas, broker_datas)

    def topic_route_json(self, topic: str, order_topic_conf: str | None = None) -> bytes | None:
        """`pick_topic_route(topic)` as GET_ROUTEINFO_BY_TOPIC's body, without building it."""
        queues = self.topic_queue_table.get(topic)
        if not queues:
            return None
        return self._route_json.route(queues, self.broker_addr_table, order_topic_conf)

    def take_masterless_sets(self, topic: str) -> list[BrokerData]:
        """Broker sets with queues of `topic` but no master, each returned once per topic
        until a master of it registers. Costs nothing while every set has a master."""
        if not self._masterless:
            return []
        queues = self.topic_queue_table.get(topic)
        if not queues:
            return []
        found = []
        for broker_name, reported in self._masterless.items():
            if broker_name in queues and topic not in reported:
                reported.add(topic)
                found.append(self.broker_addr_table[broker_name].copy())
        return found

    def cluster_info(self) -> ClusterInfo:
        return ClusterInfo(
            {name: data.copy() for name, data in sorted(self.broker_addr_table.items())},
            {cluster: sorted(names) for cluster, names in sorted(self.cluster_addr_table.items())},
        )

    def all_topics(self) -> list[str]:
        return sorted(self.topic_queue_table)

    def topics_by_cluster(self, cluster: str) -> list[str]:
        topics: set[str] = set()
        for broker_name in self.cluster_addr_table.get(cluster, ()):
            topics.update(self.broker_topics.get(broker_name, ()))
        return sorted(topics)

    # admin -------------------------------------------------------------------------------
    def delete_topic(self, topic: str, cluster: str | None = None) -> None:
        """Drop the topic's route; with `cluster`, only its queues on that cluster's brokers."""
        queues = self.topic_queue_table.get(topic)
        if queues is None:
            return
        names = self.cluster_addr_table.get(cluster, set()) if cluster else list(queues)
        for broker_name in names:
            if queues.pop(broker_name, None) is not None:
                self.broker_topics[broker_name].discard(topic)
        if not queues:
            del self.topic_queue_table[topic]

    def wipe_write_perm(self, broker_name: str) -> int:
        """Make every topic on the broker set read-only (drain before maintenance)."""
        return self._set_perm(broker_name, lambda perm: perm & ~PERM_WRITE)

    def add_write_perm(self, broker_name: str) -> int:
        # Java sets READ|WRITE outright rather than OR-ing in WRITE; keep that behaviour.
        return self._set_perm(broker_name, lambda _perm: PERM_READ | PERM_WRITE)

    def _set_perm(self, broker_name: str, change: _PermChange) -> int:
        topics = self.broker_topics.get(broker_name, ())
        shared = _SharedQueueDatas(broker_name)
        for topic in topics:
            queues = self.topic_queue_table[topic]
            old = queues[broker_name]
            queues[broker_name] = shared.get(
                old.read_queue_nums, old.write_queue_nums, change(old.perm), old.topic_sys_flag
            )
        return len(topics)


class _SharedQueueDatas:
    """One QueueData object per distinct value within one broker set's update."""

    def __init__(self, broker_name: str) -> None:
        self._broker_name = broker_name
        self._made: dict[tuple[int, int, int, int], QueueData] = {}

    def get(self, read: int, write: int, perm: int, sys_flag: int) -> QueueData:
        key = (read, write, perm, sys_flag)
        queue_data = self._made.get(key)
        if queue_data is None:
            queue_data = self._made[key] = QueueData(self._broker_name, *key)
        return queue_data
