"""Values the NameServer keeps and serves (common/protocol/route/*.java in RocketMQ).

Plain dataclasses with no I/O; `codec.py` turns them into the wire JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from orbitmq.protocol.perm import PERM_READ, PERM_WRITE

MASTER_ID = 0  # MixAll.MASTER_ID: brokerId 0 is the master of a broker set


@dataclass(frozen=True, slots=True)
class DataVersion:
    """A broker's topic-config version; a change makes the NameServer re-read its topics.

    Equality covers every field, like DataVersion.equals in Java (5.x adds stateVersion).
    """

    timestamp: int = 0
    counter: int = 0
    state_version: int = 0


@dataclass(slots=True)  # not frozen: a frozen dataclass builds 4x slower, and 5,000 a body
class TopicConfig:
    """The part of a broker's TopicConfig that the NameServer turns into a QueueData."""

    topic_name: str
    read_queue_nums: int = 16
    write_queue_nums: int = 16
    perm: int = PERM_READ | PERM_WRITE
    topic_sys_flag: int = 0


@dataclass(slots=True)
class RegisterBrokerBody:
    """RegisterBrokerBody: the broker's topics plus its (obsolete) filter servers."""

    data_version: DataVersion = field(default_factory=DataVersion)
    topic_configs: dict[str, TopicConfig] = field(default_factory=dict)
    filter_server_list: list[str] = field(default_factory=list)


@dataclass(slots=True)
class QueueData:
    broker_name: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_sys_flag: int = 0

    def copy(self) -> QueueData:
        return replace(self)


@dataclass(slots=True)
class BrokerData:
    cluster: str
    broker_name: str
    broker_addrs: dict[int, str] = field(default_factory=dict)  # brokerId -> "ip:port"

    def copy(self) -> BrokerData:
        return BrokerData(self.cluster, self.broker_name, dict(self.broker_addrs))


@dataclass(slots=True)
class BrokerLiveInfo:
    last_update_ms: int
    data_version: DataVersion
    ha_server_addr: str
    connection_key: object | None  # which connection registered it; its close drops it


@dataclass(frozen=True, slots=True)
class RegisterBrokerResult:
    """Filled for a slave whose master is alive, so the slave can start replicating."""

    master_addr: str | None = None
    ha_server_addr: str | None = None


@dataclass(slots=True)
class TopicRouteData:
    """Copies, so callers may encode them after the table has moved on."""

    queue_datas: list[QueueData]
    broker_datas: list[BrokerData]
    order_topic_conf: str | None = None


@dataclass(slots=True)
class ClusterInfo:
    broker_addr_table: dict[str, BrokerData]
    cluster_addr_table: dict[str, list[str]]
