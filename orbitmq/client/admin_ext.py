"""The statistics, connection and configuration half of MQAdmin (DefaultMQAdminExtImpl).

`AdminExtMixin` is a base class of `MQAdmin`; its methods use MQAdmin's `invoke`,
`invoke_namesrv`, `topic_route` and `cluster_info`. Broker requests take the broker's
address; "examine" methods find the brokers themselves, as Java's admin does: a topic's
brokers from its route, a consumer group's from the route of its `%RETRY%` topic (falling
back to every master when the group has none, e.g. a pull consumer's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orbitmq.client.admin_bodies import (
    BrokerStatsData,
    ClientConnection,
    ConsumerConnection,
    ConsumerRunningInfo,
    ConsumeStats,
    ConsumeStatsList,
    TopicOffset,
    parse_body,
    parse_broker_stats_data,
    parse_connection_set,
    parse_consume_stats,
    parse_consume_stats_list,
    parse_consumer_connection,
    parse_running_info,
    parse_topic_stats,
)
from orbitmq.client.errors import ConsumerNotOnlineError, MQBrokerError, MQClientError
from orbitmq.client.message import MessageQueue
from orbitmq.client.producer_table import ProducerInfo, parse_producer_table
from orbitmq.client.route import MASTER_ID
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.topics import retry_topic

if TYPE_CHECKING:
    from orbitmq.client.admin import ClusterInfo
    from orbitmq.client.route import TopicRouteData
    from orbitmq.client.route_cache import RouteCache


class AdminExtMixin:
    """Admin requests for topic/consume statistics, connections and configs."""

    if TYPE_CHECKING:
        timeout: float
        _routes: RouteCache

        async def invoke(
            self,
            addr: str,
            code: int,
            ext: dict[str, str] | None = None,
            body: bytes = b"",
            timeout: float | None = None,
        ) -> RemotingCommand: ...

        async def invoke_namesrv(
            self, code: int, ext: dict[str, str] | None = None, body: bytes = b""
        ) -> RemotingCommand: ...

        async def topic_route(self, topic: str) -> TopicRouteData: ...

        async def cluster_info(self) -> ClusterInfo: ...

    # Which brokers ---------------------------------------------------------------------
    async def topic_broker_addrs(self, topic: str) -> list[str]:
        """One address per broker set of the topic's route (master if it has one)."""
        route = await self.topic_route(topic)
        return [a for b in route.broker_datas if (a := b.select_addr()) is not None]

    async def group_broker_addrs(self, group: str) -> list[str]:
        """The brokers of the group's retry topic, else every master of every cluster."""
        try:
            return await self.topic_broker_addrs(retry_topic(group))
        except MQBrokerError as exc:
            if exc.code != ResponseCode.TOPIC_NOT_EXIST:
                raise
        info = await self.cluster_info()
        return sorted(
            b.broker_addrs[MASTER_ID]
            for b in info.broker_addr_table.values()
            if MASTER_ID in b.broker_addrs
        )

    # Topics ----------------------------------------------------------------------------
    async def get_topic_stats_info(
        self, broker_addr: str, topic: str
    ) -> dict[MessageQueue, TopicOffset]:
        """GET_TOPIC_STATS_INFO (202) on one broker."""
        response = await self.invoke(
            broker_addr, RequestCode.GET_TOPIC_STATS_INFO, {"topic": topic}
        )
        return parse_topic_stats(parse_body(response.body, "TopicStatsTable"))

    async def examine_topic_stats(self, topic: str) -> dict[MessageQueue, TopicOffset]:
        """Min/max offsets and last store time of every queue of `topic`."""
        table: dict[MessageQueue, TopicOffset] = {}
        for addr in await self.topic_broker_addrs(topic):
            table.update(await self.get_topic_stats_info(addr, topic))
        if not table:
            raise MQClientError(f"Not found the topic stats info of {topic}")
        return table

    async def query_topic_consume_by_who(self, topic: str) -> list[str]:
        """QUERY_TOPIC_CONSUME_BY_WHO (300) at the topic's brokers: group names."""
        groups: set[str] = set()
        for addr in await self.topic_broker_addrs(topic):
            response = await self.invoke(
                addr, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, {"topic": topic}
            )
            groups.update(
                str(g) for g in parse_body(response.body, "GroupList").get("groupList") or []
            )
        return sorted(groups)

    # Consumer groups -------------------------------------------------------------------
    async def get_consume_stats(
        self, broker_addr: str, group: str, topic: str | None = None
    ) -> ConsumeStats:
        """GET_CONSUME_STATS (208) on one broker."""
        ext = {"consumerGroup": group, **({"topic": topic} if topic else {})}
        response = await self.invoke(
            broker_addr, RequestCode.GET_CONSUME_STATS, ext, timeout=self.timeout * 3
        )
        return parse_consume_stats(parse_body(response.body, "ConsumeStats"))

    async def examine_consume_stats(self, group: str, topic: str | None = None) -> ConsumeStats:
        """The group's offsets on all its brokers.

        Raises:
            ConsumerNotOnlineError: no broker has offsets of the group (Java's message).
        """
        result = ConsumeStats()
        for addr in await self.group_broker_addrs(group):
            stats = await self.get_consume_stats(addr, group, topic)
            result.offset_table.update(stats.offset_table)
            result.consume_tps += stats.consume_tps
        if not result.offset_table:
            raise ConsumerNotOnlineError(
                ResponseCode.CONSUMER_NOT_ONLINE,
                f"Not found the consumer group consume stats of {group}, because return offset "
                "table is empty, maybe the consumer not consume any message",
            )
        return result

    async def get_consumer_connection(self, broker_addr: str, group: str) -> ConsumerConnection:
        """GET_CONSUMER_CONNECTION_LIST (203) on one broker."""
        response = await self.invoke(
            broker_addr, RequestCode.GET_CONSUMER_CONNECTION_LIST, {"consumerGroup": group}
        )
        return parse_consumer_connection(parse_body(response.body, "ConsumerConnection"))

    async def examine_consumer_connection(
        self, group: str, broker_addr: str | None = None
    ) -> ConsumerConnection:
        """The group's online members as the first broker that knows them sees them.

        Raises:
            ConsumerNotOnlineError: no broker has a member of the group.
        """
        addrs = [broker_addr] if broker_addr else await self.group_broker_addrs(group)
        for addr in addrs:
            try:
                connection = await self.get_consumer_connection(addr, group)
            except ConsumerNotOnlineError:
                continue
            if connection.connections:
                return connection
        raise ConsumerNotOnlineError(
            ResponseCode.CONSUMER_NOT_ONLINE, f"Not found the consumer group connection: {group}"
        )

    async def examine_producer_connection(self, group: str, topic: str) -> list[ClientConnection]:
        """GET_PRODUCER_CONNECTION_LIST (204) at the topic's first broker."""
        for addr in (await self.topic_broker_addrs(topic))[:1]:
            response = await self.invoke(
                addr, RequestCode.GET_PRODUCER_CONNECTION_LIST, {"producerGroup": group}
            )
            return parse_connection_set(parse_body(response.body, "ProducerConnection"))
        return []

    async def get_consumer_running_info(
        self, group: str, client_id: str, jstack: bool = False, broker_addr: str | None = None
    ) -> ConsumerRunningInfo:
        """GET_CONSUMER_RUNNING_INFO (307), relayed by a broker to the consumer."""
        addrs = [broker_addr] if broker_addr else await self.group_broker_addrs(group)
        if not addrs:
            raise MQClientError(f"no broker serves consumer group {group}")
        ext = {
            "consumerGroup": group,
            "clientId": client_id,
            "jstackEnable": "true" if jstack else "false",
        }
        response = await self.invoke(
            addrs[0], RequestCode.GET_CONSUMER_RUNNING_INFO, ext, timeout=self.timeout * 3
        )
        return parse_running_info(parse_body(response.body, "ConsumerRunningInfo"))

    async def get_all_subscription_group(self, broker_addr: str) -> dict[str, dict[str, Any]]:
        """GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201): group name -> config."""
        response = await self.invoke(broker_addr, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
        table = parse_body(response.body, "SubscriptionGroupWrapper").get("subscriptionGroupTable")
        return {str(k): dict(v) for k, v in (table or {}).items()}

    async def delete_subscription_group(
        self, broker_addr: str, group: str, remove_offset: bool = False
    ) -> None:
        """DELETE_SUBSCRIPTIONGROUP (207)."""
        ext = {"groupName": group, "removeOffset": "true" if remove_offset else "false"}
        await self.invoke(broker_addr, RequestCode.DELETE_SUBSCRIPTIONGROUP, ext)

    async def clone_group_offset(
        self,
        broker_addr: str,
        src_group: str,
        dest_group: str,
        topic: str | None,
        offline: bool = False,
    ) -> None:
        """CLONE_GROUP_OFFSET (314): the broker copies src's committed offsets to dest."""
        ext = {
            "srcGroup": src_group,
            "destGroup": dest_group,
            "offline": "true" if offline else "false",
        }
        if topic:
            ext["topic"] = topic
        await self.invoke(broker_addr, RequestCode.CLONE_GROUP_OFFSET, ext)

    async def fetch_consume_stats_in_broker(
        self, broker_addr: str, is_order: bool = False, timeout: float | None = None
    ) -> ConsumeStatsList:
        """GET_BROKER_CONSUME_STATS (317): every group's ConsumeStats on one broker."""
        ext = {"isOrder": "true" if is_order else "false"}
        response = await self.invoke(
            broker_addr, RequestCode.GET_BROKER_CONSUME_STATS, ext, timeout=timeout
        )
        return parse_consume_stats_list(parse_body(response.body, "ConsumeStatsList"))

    async def view_broker_stats_data(
        self, broker_addr: str, stats_name: str, stats_key: str
    ) -> BrokerStatsData:
        """VIEW_BROKER_STATS_DATA (315), e.g. TOPIC_PUT_NUMS of a topic."""
        ext = {"statsName": stats_name, "statsKey": stats_key}
        response = await self.invoke(broker_addr, RequestCode.VIEW_BROKER_STATS_DATA, ext)
        return parse_broker_stats_data(parse_body(response.body, "BrokerStatsData"))

    # Web console -----------------------------------------------------------------------
    async def topic_consume_by_who_in_broker(self, broker_addr: str, topic: str) -> list[str]:
        """QUERY_TOPIC_CONSUME_BY_WHO (300) on one broker: the groups consuming `topic`."""
        response = await self.invoke(
            broker_addr, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, {"topic": topic}
        )
        groups = parse_body(response.body, "GroupList").get("groupList") or []
        return sorted(str(g) for g in groups)

    async def get_system_topic_list_from_ns(self) -> list[str]:
        """GET_SYSTEM_TOPIC_LIST_FROM_NS (304; not in our RequestCode, as no server of ours
        answers it): the NameServer's system topics, cluster and broker names included.

        Raises:
            RequestCodeNotSupportedError: the NameServer does not know the request.
        """
        response = await self.invoke_namesrv(304)
        topics = parse_body(response.body, "TopicList").get("topicList") or []
        return sorted(str(t) for t in topics)

    async def delete_topic_in_one_namesrv(self, namesrv_addr: str, topic: str) -> None:
        """DELETE_TOPIC_IN_NAMESRV (216) on one NameServer, so a caller can tell which
        NameServer of several failed."""
        await self.invoke(namesrv_addr, RequestCode.DELETE_TOPIC_IN_NAMESRV, {"topic": topic})

    async def get_all_producer_info(self, broker_addr: str) -> dict[str, list[ProducerInfo]]:
        """GET_ALL_PRODUCER_INFO (328): every producer `broker_addr` knows from heartbeats,
        by producer group (groups without producers are left out, as the broker does)."""
        response = await self.invoke(broker_addr, RequestCode.GET_ALL_PRODUCER_INFO)
        return parse_producer_table(parse_body(response.body, "ProducerTableInfo"))
