"""MQAdmin: the admin client mqadmin is built on (DefaultMQAdminExt, §3.6).

Every method sends one request (or one per broker) and raises MQBrokerError on an error
code. `invoke` / `invoke_namesrv` expose raw requests for commands not wrapped here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson

from orbitmq.acl.signature import SessionCredentials
from orbitmq.client import broker_api
from orbitmq.client.admin_config import AdminConfigMixin
from orbitmq.client.admin_ext import AdminExtMixin
from orbitmq.client.consumer.broker_requests import parse_reset_offsets
from orbitmq.client.errors import MQClientError, TopicNotExistError, error_for_code
from orbitmq.client.instance import ClientInstance
from orbitmq.client.message import MessageQueue
from orbitmq.client.route import BrokerData, TopicRouteData, parse_broker_data
from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.fastjson import loads_tolerant
from orbitmq.protocol.message import (
    MessageConst,
    MessageExt,
    decode_offset_msg_id,
    decode_record,
    decode_records,
)
from orbitmq.protocol.topics import DEFAULT_TOPIC
from orbitmq.remoting.tls import TlsConfig


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """GET_BROKER_CLUSTER_INFO: broker sets by name, and broker names by cluster."""

    broker_addr_table: dict[str, BrokerData]
    cluster_addr_table: dict[str, list[str]]


def parse_cluster_info(body: bytes) -> ClusterInfo:
    raw = loads_tolerant(body) if body else {}
    brokers = {
        str(name): parse_broker_data(data)
        for name, data in (raw.get("brokerAddrTable") or {}).items()
    }
    clusters = {
        str(name): sorted(str(b) for b in names)
        for name, names in (raw.get("clusterAddrTable") or {}).items()
    }
    return ClusterInfo(brokers, clusters)


class MQAdmin(AdminExtMixin, AdminConfigMixin):
    """Admin operations against NameServers and brokers.

    Args:
        namesrv_addr: NameServer addresses separated by ';'.
        timeout: default request timeout in seconds.
        credentials: an ACL account's keys; every request is signed with them.
        tls: dial with TLS: True (any server certificate), or a TlsConfig's `tls.client.*`.
    """

    def __init__(
        self,
        namesrv_addr: str,
        *,
        timeout: float = 5.0,
        instance_name: str | None = None,
        credentials: SessionCredentials | None = None,
        tls: bool | TlsConfig = False,
    ) -> None:
        self.timeout = timeout
        self._instance = ClientInstance(
            namesrv_addr, instance_name=instance_name, credentials=credentials, tls=tls
        )
        self._routes = self._instance.routes
        self._started = False

    async def start(self) -> None:
        """Ready the client (connections open lazily)."""
        self._started = True

    async def shutdown(self) -> None:
        """Close every connection."""
        if not self._instance.closed:
            await self._instance.aclose()

    async def __aenter__(self) -> MQAdmin:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    # Raw requests ------------------------------------------------------------------------
    async def invoke(
        self,
        addr: str,
        code: int,
        ext: dict[str, str] | None = None,
        body: bytes = b"",
        timeout: float | None = None,
    ) -> RemotingCommand:
        """Send one request to `addr`; raise MQBrokerError unless it answers SUCCESS."""
        command = RemotingCommand.request(code, ext or {}, body)
        return await self._instance.invoke_checked(addr, command, timeout or self.timeout)

    async def invoke_namesrv(
        self, code: int, ext: dict[str, str] | None = None, body: bytes = b""
    ) -> RemotingCommand:
        """Send one request to a NameServer (with failover); checked like `invoke`."""
        command = RemotingCommand.request(code, ext or {}, body)
        response = await self._routes.invoke_namesrv(command, self.timeout)
        if response.code != ResponseCode.SUCCESS:
            raise error_for_code(response.code, response.remark)
        return response

    # NameServer --------------------------------------------------------------------------
    async def topic_route(self, topic: str) -> TopicRouteData:
        """The route of `topic`. Raises TopicNotExistError if the NameServer has none."""
        route = await self._routes.refresh(topic)
        if route is None:
            raise TopicNotExistError(
                ResponseCode.TOPIC_NOT_EXIST, f"No topic route info in name server for {topic}"
            )
        return route

    async def topic_list(self) -> list[str]:
        """Every topic the NameServer knows (GET_ALL_TOPIC_LIST_FROM_NAMESERVER)."""
        response = await self.invoke_namesrv(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        raw = orjson.loads(response.body) if response.body else {}
        return sorted(str(t) for t in raw.get("topicList") or [])

    async def cluster_info(self) -> ClusterInfo:
        """Clusters and broker sets (GET_BROKER_CLUSTER_INFO)."""
        response = await self.invoke_namesrv(RequestCode.GET_BROKER_CLUSTER_INFO)
        return parse_cluster_info(response.body)

    # Broker ------------------------------------------------------------------------------
    async def create_topic(
        self,
        broker_addr: str,
        topic: str,
        read_queue_nums: int = 8,
        write_queue_nums: int = 8,
        perm: int = 6,
        order: bool = False,
        *,
        topic_filter_type: str = "SINGLE_TAG",
        topic_sys_flag: int = 0,
        attributes: str = "",
    ) -> None:
        """Create or update a topic on one broker (UPDATE_AND_CREATE_TOPIC).
        `attributes`: RocketMQ 5's attribute change, e.g. "+message.type=FIFO" (""
        keeps an existing topic's attributes)."""
        ext = {
            "topic": topic,
            "defaultTopic": DEFAULT_TOPIC,
            "readQueueNums": str(read_queue_nums),
            "writeQueueNums": str(write_queue_nums),
            "perm": str(perm),
            "topicFilterType": topic_filter_type,
            "topicSysFlag": str(topic_sys_flag),
            "order": "true" if order else "false",
            "attributes": attributes,
        }
        await self.invoke(broker_addr, RequestCode.UPDATE_AND_CREATE_TOPIC, ext)

    async def delete_topic_in_broker(self, broker_addr: str, topic: str) -> None:
        """Delete a topic's config on one broker (DELETE_TOPIC_IN_BROKER)."""
        await self.invoke(broker_addr, RequestCode.DELETE_TOPIC_IN_BROKER, {"topic": topic})

    async def create_subscription_group(self, broker_addr: str, config: dict[str, Any]) -> None:
        """Create or update a subscription group (body: SubscriptionGroupConfig JSON).

        Missing keys get Java's defaults; `groupName` is required.
        """
        if "groupName" not in config:
            raise MQClientError("a subscription group config needs 'groupName'")
        body = {
            "brokerId": 0,
            "consumeBroadcastEnable": True,
            "consumeEnable": True,
            "consumeFromMinEnable": True,
            "notifyConsumerIdsChangedEnable": True,
            "retryMaxTimes": 16,
            "retryQueueNums": 1,
            "whichBrokerWhenConsumeSlowly": 1,
            **config,
        }
        await self.invoke(
            broker_addr,
            RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
            body=orjson.dumps(body, option=orjson.OPT_SORT_KEYS),
        )

    async def get_all_topic_config(self, broker_addr: str) -> dict[str, Any]:
        """The broker's TopicConfigSerializeWrapper: {"topicConfigTable": {...}, ...}."""
        response = await self.invoke(broker_addr, RequestCode.GET_ALL_TOPIC_CONFIG)
        result: dict[str, Any] = loads_tolerant(response.body) if response.body else {}
        return result

    async def get_topic_config(self, broker_addr: str, topic: str) -> dict[str, Any]:
        """One topic's TopicConfig JSON on one broker, attributes included (GET_TOPIC_CONFIG,
        RocketMQ 5). Raises TopicNotExistError when the broker has no such topic."""
        response = await self.invoke(broker_addr, RequestCode.GET_TOPIC_CONFIG, {"topic": topic})
        result: dict[str, Any] = loads_tolerant(response.body) if response.body else {}
        return result

    async def get_broker_runtime_info(self, broker_addr: str) -> dict[str, str]:
        """GET_BROKER_RUNTIME_INFO's KVTable."""
        response = await self.invoke(broker_addr, RequestCode.GET_BROKER_RUNTIME_INFO)
        raw = loads_tolerant(response.body) if response.body else {}
        return {str(k): str(v) for k, v in (raw.get("table") or {}).items()}

    async def get_consumer_id_list(self, broker_addr: str, group: str) -> list[str]:
        """Client ids of the consumer group's members as `broker_addr` sees them."""
        return await broker_api.get_consumer_id_list(self._instance, broker_addr, group)

    # Offsets -----------------------------------------------------------------------------
    async def _master(self, mq: MessageQueue) -> str:
        return await self._routes.find_master(mq.broker_name, mq.topic)

    async def max_offset(self, mq: MessageQueue, broker_addr: str | None = None) -> int:
        """The queue's max offset (exclusive), at `broker_addr` or else the route's master."""
        addr = broker_addr or await self._master(mq)
        return await broker_api.get_max_offset(self._instance, addr, mq)

    async def min_offset(self, mq: MessageQueue, broker_addr: str | None = None) -> int:
        """The smallest offset still stored in the queue (at `broker_addr`, else the master)."""
        addr = broker_addr or await self._master(mq)
        return await broker_api.get_min_offset(self._instance, addr, mq)

    async def search_offset(
        self, mq: MessageQueue, timestamp: int, broker_addr: str | None = None
    ) -> int:
        """The offset of the first message stored at or after `timestamp` (ms), at
        `broker_addr` or else the route's master."""
        addr = broker_addr or await self._master(mq)
        return await broker_api.search_offset(self._instance, addr, mq, timestamp)

    async def earliest_msg_store_time(self, mq: MessageQueue) -> int:
        """Store time (ms) of the queue's oldest message."""
        addr = await self._master(mq)
        return await broker_api.get_earliest_msg_store_time(self._instance, addr, mq)

    async def query_consumer_offset(self, group: str, mq: MessageQueue) -> int | None:
        """The group's committed offset of `mq`, None if it never committed one."""
        addr = await self._master(mq)
        return await broker_api.query_consumer_offset(self._instance, addr, group, mq)

    async def update_consumer_offset(self, group: str, mq: MessageQueue, offset: int) -> None:
        """Set the group's committed offset of `mq` (waits for the answer)."""
        addr = await self._master(mq)
        await broker_api.update_consumer_offset(
            self._instance, addr, group, mq, offset, oneway=False
        )

    async def reset_offset_by_time(
        self, topic: str, group: str, timestamp: int, force: bool = True
    ) -> dict[MessageQueue, int]:
        """Move `group`'s offsets of `topic` to `timestamp` while its consumers run
        (INVOKE_BROKER_TO_RESET_OFFSET on every broker set of the topic).

        Each broker computes, per queue, the offset of the message stored nearest
        `timestamp` (-1: the queue's max offset), keeps the committed offset instead
        when that is lower and `force` is False, stores the result and tells the group's
        consumers (RESET_CONSUMER_CLIENT_OFFSET), which restart there.

        Returns:
            The new offset of every queue.

        Raises:
            ConsumerNotOnlineError: no consumer of the group is connected to a broker
                (mqadmin then updates the offsets directly instead).
            MQBrokerError: another error code (e.g. the topic is unknown to a broker).
        """
        route = await self.topic_route(topic)
        ext = {
            "topic": topic,
            "group": group,
            "timestamp": str(timestamp),
            "isForce": "true" if force else "false",
        }
        table: dict[MessageQueue, int] = {}
        for broker in sorted(route.broker_datas, key=lambda b: b.broker_name):
            addr = broker.select_addr()
            if addr is None:
                continue
            response = await self.invoke(addr, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, ext)
            table.update(parse_reset_offsets(response.body))
        return dict(sorted(table.items()))

    # Messages ----------------------------------------------------------------------------
    async def query_message(
        self,
        topic: str,
        key: str,
        max_num: int = 32,
        begin: int = 0,
        end: int = 2**63 - 1,
        *,
        unique: bool = False,
    ) -> list[MessageExt]:
        """Messages of `topic` indexed under `key`, stored between `begin` and `end` (ms).

        Sends QUERY_MESSAGE to the master of every broker set in the topic's route and
        merges the answers (MQAdminImpl.queryMessage). Brokers match by key hash, so
        records whose keys differ are dropped here.

        Args:
            max_num: most messages each broker returns (brokers cap it at 64).
            unique: `key` is a message id (the UNIQ_KEY property) rather than a KEYS
                word; brokers then use their defaultQueryMaxNum.

        Returns:
            The matching messages, oldest first; empty if none was found.

        Raises:
            TopicNotExistError: the NameServer has no route for `topic`.
            MQBrokerError, ClientError: every broker asked failed (the first error).
        """
        route = await self.topic_route(topic)
        addrs = sorted({b.master_addr for b in route.broker_datas if b.master_addr})
        ext = {
            "topic": topic,
            "key": key,
            "maxNum": str(max_num),
            "beginTimestamp": str(begin),
            "endTimestamp": str(end),
        }
        if unique:
            ext["_UNIQUE_KEY_QUERY"] = "true"

        async def one(addr: str) -> RemotingCommand:
            command = RemotingCommand.request(RequestCode.QUERY_MESSAGE, dict(ext))
            return await self._instance.invoke(addr, command, self.timeout)

        answers = await asyncio.gather(*(one(a) for a in addrs), return_exceptions=True)
        found: dict[tuple[tuple[str, int], int], MessageExt] = {}
        errors: list[BaseException] = []
        for answer in answers:
            if isinstance(answer, BaseException):
                errors.append(answer)
            elif answer.code == ResponseCode.SUCCESS:
                for msg in decode_records(answer.body):
                    if msg.topic == topic and _has_key(msg, key, unique):
                        found[(msg.store_host, msg.commit_log_offset)] = msg
            elif answer.code != ResponseCode.QUERY_NOT_FOUND:
                errors.append(error_for_code(answer.code, answer.remark))
        if errors and len(errors) == len(addrs):
            raise errors[0]
        return sorted(found.values(), key=lambda m: (m.store_timestamp, m.commit_log_offset))

    async def view_message(self, offset_msg_id: str) -> MessageExt:
        """The message an offset message id names (VIEW_MESSAGE_BY_ID).

        The id holds the storing broker's ip:port and the commit-log offset; the request
        goes to that address, whatever the route says.

        Raises:
            MQClientError: `offset_msg_id` is not an offset message id, or the answer
                is not a stored message.
            MQBrokerError: the broker has no message at that offset (SYSTEM_ERROR).
        """
        try:
            ip, port, offset = decode_offset_msg_id(offset_msg_id)
        except ValueError as exc:
            raise MQClientError(str(exc)) from exc
        addr = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        response = await self.invoke(addr, RequestCode.VIEW_MESSAGE_BY_ID, {"offset": str(offset)})
        try:
            return decode_record(response.body)
        except RemoteProtocolError as exc:
            raise MQClientError(f"{addr} answered a malformed message: {exc}") from exc


def _has_key(msg: MessageExt, key: str, unique: bool) -> bool:
    if unique:
        return msg.properties.get(MessageConst.UNIQ_KEY) == key
    return key in msg.keys
