"""Admin requests from mqadmin (AdminBrokerProcessor.java): topics, groups, configs,
runtime info and connections. (VIEW_MESSAGE_BY_ID is in handlers/query.py.)"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import orjson

from orbitmq import __version__
from orbitmq.broker.errors import (
    BrokerError,
    InvalidParameterError,
    MessageIllegalError,
    TopicNotExistError,
)
from orbitmq.broker.headers import Header
from orbitmq.broker.message_type import MESSAGE_TYPE_ATTRIBUTE, TopicMessageType
from orbitmq.broker.subscription_group import SubscriptionGroupConfig
from orbitmq.broker.topic_attributes import ADD_SIGN, parse_attributes
from orbitmq.broker.topic_config import TopicConfig, validate_topic
from orbitmq.config_file import to_properties
from orbitmq.protocol.codes import ORBITMQ_VERSION_ORDINAL, RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.topics import DEFAULT_TOPIC
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.store.stats import JAVA_INT_MAX

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController


class AdminHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        for code, handler in (
            (RequestCode.UPDATE_AND_CREATE_TOPIC, self.update_and_create_topic),
            (RequestCode.DELETE_TOPIC_IN_BROKER, self.delete_topic),
            (RequestCode.GET_ALL_TOPIC_CONFIG, self.get_all_topic_config),
            (RequestCode.GET_TOPIC_CONFIG, self.get_topic_config),
            (RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, self.update_subscription_group),
            (RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, self.get_all_subscription_group),
            (RequestCode.GET_ALL_CONSUMER_OFFSET, self.get_all_consumer_offset),
            (RequestCode.GET_ALL_DELAY_OFFSET, self.get_all_delay_offset),
            (RequestCode.DELETE_SUBSCRIPTIONGROUP, self.delete_subscription_group),
            (RequestCode.GET_BROKER_CONFIG, self.get_broker_config),
            (RequestCode.GET_BROKER_RUNTIME_INFO, self.get_broker_runtime_info),
            (RequestCode.GET_CONSUMER_CONNECTION_LIST, self.get_consumer_connection_list),
            (RequestCode.GET_PRODUCER_CONNECTION_LIST, self.get_producer_connection_list),
        ):
            dispatcher.register(code, handler)  # type: ignore[attr-defined]

    async def update_and_create_topic(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """Registers with the NameServers before answering, so the route exists at once.
        The `attributes` header field is the change to the topic's attributes
        (topic_attributes.py); a bad one is refused before anything is stored."""
        header = Header(request)
        topic = header.str("topic")
        validate_topic(topic)
        if topic == DEFAULT_TOPIC:
            raise MessageIllegalError(f"The topic[{topic}] is conflict with the default topic.")
        read = header.int("readQueueNums")
        write = header.int("writeQueueNums")
        if read <= 0 or write <= 0:
            raise MessageIllegalError(
                f"readQueueNums={read} and writeQueueNums={write} must both be positive"
            )
        config = TopicConfig(
            topic_name=topic,
            read_queue_nums=read,
            write_queue_nums=write,
            perm=header.int("perm", 6),
            topic_filter_type=header.str("topicFilterType", "SINGLE_TAG"),
            topic_sys_flag=header.int("topicSysFlag", 0),
            order=header.bool("order"),
        )
        changes = parse_attributes(header.optional_str("attributes"))
        mixed = changes.get(ADD_SIGN + MESSAGE_TYPE_ATTRIBUTE) == TopicMessageType.MIXED
        if mixed and not self._broker.config.enable_mixed_message_type:
            raise InvalidParameterError(
                "MIXED message type is not supported. (set enableMixedMessageType=true in "
                "the broker's config to allow it)"
            )
        self._broker.topic_config_manager.create_or_update(config, changes)
        await self._broker.registration.register_all()
        return request.response()

    def delete_topic(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        topic = Header(request).str("topic")
        broker = self._broker
        broker.topic_config_manager.delete(topic)
        broker.message_store.delete_topics({topic})
        broker.consumer_offset_manager.remove_topic(topic)
        broker.schedule_register()
        return request.response()

    def get_all_topic_config(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        return request.response(body=orjson.dumps(self._broker.topic_config_manager.wrapper()))

    def get_topic_config(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """TopicConfigAndQueueMapping JSON: the TopicConfig's fields, attributes included
        (no static-topic mapping here, so no `mappingDetail`)."""
        topic = Header(request).str("topic")
        config = self._broker.topic_config_manager.get(topic)
        if config is None:
            raise TopicNotExistError(f"No topic in this broker. topic: {topic}")
        return request.response(body=orjson.dumps(config.to_json()))

    def update_subscription_group(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        try:
            data = orjson.loads(request.body)
            group = SubscriptionGroupConfig.from_json(data)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BrokerError(f"subscription group body is invalid: {exc}") from exc
        self._broker.subscription_group_manager.update(group)
        return request.response()

    def get_all_subscription_group(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        return request.response(
            body=orjson.dumps(self._broker.subscription_group_manager.wrapper())
        )

    def get_all_consumer_offset(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """ConsumerOffsetSerializeWrapper, what slaves merge every 10 s (slave_sync.py)."""
        return request.response(body=orjson.dumps(self._broker.consumer_offset_manager.to_json()))

    def get_all_delay_offset(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """delayOffset.json's content, what slaves take over every 10 s (slave_sync.py)."""
        table = self._broker.schedule_service.to_json()
        return request.response(body=orjson.dumps(table, option=orjson.OPT_NON_STR_KEYS))

    def delete_subscription_group(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        header = Header(request)
        group = header.str("groupName")
        self._broker.subscription_group_manager.delete(group)
        if header.bool("removeOffset"):
            self._broker.consumer_offset_manager.remove_group(group)
        return request.response()

    def get_broker_config(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        properties = to_properties(self._broker.config)
        text = "".join(f"{k}={v}\n" for k, v in sorted(properties.items()))
        version = orjson.dumps(self._broker.topic_config_manager.data_version.to_json())
        return request.response(ext_fields={"version": version.decode()}, body=text.encode())

    def get_broker_runtime_info(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """KVTable of broker and store figures (AdminBrokerProcessor.prepareRuntimeInfo);
        the store's part (offsets, disk ratio, TPS, put and get times, dispatch lag, flush
        times) comes from MessageStore.runtime_info() under RocketMQ's key names.
        rocketmq-exporter needs every key it reads, in RocketMQ's format (see stats.py)."""
        broker = self._broker
        stats = broker.stats
        table = {
            "brokerVersionDesc": f"OrbitMQ {__version__}",
            "brokerVersion": str(ORBITMQ_VERSION_ORDINAL),
            "bootTimestamp": str(broker.boot_timestamp),
            "runtime": f"{int(time.time() - broker.boot_timestamp / 1000)}s",
            "startAcceptSendRequestTimeStamp": str(stats.start_accept_send_ms),
            "msgPutTotalTodayNow": str(stats.put_count),
            "msgGetTotalTodayNow": str(stats.get_count),
            "msgPutTotalTodayMorning": str(stats.put_total_today_morning),
            "msgGetTotalTodayMorning": str(stats.get_total_today_morning),
            "msgPutTotalYesterdayMorning": str(stats.put_total_yesterday_morning),
            "msgGetTotalYesterdayMorning": str(stats.get_total_yesterday_morning),
            **broker.message_store.runtime_info(),
            **(broker.ha_service.runtime_info() if broker.ha_service is not None else {}),
        }
        # No thread pools: one event loop handles each request as its frame is read, so
        # no request waits in a queue (size 0, head wait 0) and nothing bounds one but
        # TCP's flow control (capacity Integer.MAX_VALUE, Java's "unbounded").
        for pool in ("send", "pull", "query"):
            table[f"{pool}ThreadPoolQueueSize"] = "0"
            table[f"{pool}ThreadPoolQueueHeadWaitTimeMills"] = "0"
            table[f"{pool}ThreadPoolQueueCapacity"] = str(JAVA_INT_MAX)
        return request.response(body=orjson.dumps({"table": table}))

    def _connection_set(self, channels: dict) -> list[dict]:  # type: ignore[type-arg]
        return [
            {
                "clientAddr": info.connection.peer_address,
                "clientId": info.client_id,
                "language": info.language,
                "version": info.version,
            }
            for info in channels.values()
        ]

    def get_consumer_connection_list(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        group = Header(request).str("consumerGroup")
        info = self._broker.client_manager.consumer_groups.get(group)
        if info is None:
            return request.response(
                ResponseCode.CONSUMER_NOT_ONLINE, f"the consumer group[{group}] not online"
            )
        body = {
            "connectionSet": self._connection_set(info.channels),
            "consumeFromWhere": info.consume_from_where,
            "consumeType": info.consume_type,
            "messageModel": info.message_model,
            "subscriptionTable": {t: s.to_json() for t, s in info.subscriptions.items()},
        }
        return request.response(body=orjson.dumps(body))

    def get_producer_connection_list(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        group = Header(request).str("producerGroup")
        channels = self._broker.client_manager.producer_groups.get(group, {})
        return request.response(
            body=orjson.dumps({"connectionSet": self._connection_set(channels)})
        )
