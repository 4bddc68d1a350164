"""Client registration: HEART_BEAT (34), UNREGISTER_CLIENT (35),
GET_CONSUMER_LIST_BY_GROUP (38), CHECK_CLIENT_CONFIG (46) (ClientManageProcessor.java),
and (registered from here, see consume_directly.py and producer_info.py)
CONSUME_MESSAGE_DIRECTLY (309) and GET_ALL_PRODUCER_INFO (328).

Non-TAG subscriptions: an SQL92 selector needs `enablePropertyFilter=true` (else
SYSTEM_ERROR "The broker does not support consumer to filter message by SQL92", Java's
text) and must parse (else SUBSCRIPTION_PARSE_FAILED naming the column). CHECK_CLIENT_CONFIG
answers exactly that. A heartbeat is accepted whatever it subscribes, as Java's broker
does: refusing it would unregister the client's other subscriptions and producer groups
too (ali-ons never asks CHECK_CLIENT_CONFIG why; grpc-v5.md §14). Such a subscription is
logged, and the pulls that use it are refused instead (pull.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

from orbitmq.broker.client_manager import (
    CONSUME_FROM_WHERE,
    CONSUME_TYPES,
    MESSAGE_MODELS,
    ClientChannelInfo,
    enum_name,
)
from orbitmq.broker.errors import BrokerError, SubscriptionParseError
from orbitmq.broker.handlers.consume_directly import ConsumeDirectlyHandler
from orbitmq.broker.handlers.producer_info import ProducerInfoHandler
from orbitmq.broker.headers import Header
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.fastjson import loads_tolerant
from orbitmq.protocol.perm import PERM_READ, PERM_WRITE
from orbitmq.protocol.sql92 import SqlSyntaxError, compile_sql
from orbitmq.protocol.subscription import (
    EXPRESSION_TYPE_SQL92,
    EXPRESSION_TYPE_TAG,
    SubscriptionData,
    normalize_expression_type,
    subscription_from_json,
)
from orbitmq.protocol.topics import retry_topic
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

log = logging.getLogger(__name__)


def _objects(value: Any, name: str) -> list[dict[str, Any]]:
    """A heartbeat's list of JSON objects (absent or null: none)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise BrokerError(f"heartbeat {name} is not a list of objects")
    return value


def _subscription(raw: dict[str, Any]) -> SubscriptionData:
    try:
        return subscription_from_json(raw)
    except (TypeError, ValueError) as exc:  # e.g. a tagsSet that is not a list
        raise BrokerError(f"bad subscription data {raw!r:.120}: {exc}") from exc


class ClientHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        for code, handler in (
            (RequestCode.HEART_BEAT, self.heart_beat),
            (RequestCode.UNREGISTER_CLIENT, self.unregister_client),
            (RequestCode.GET_CONSUMER_LIST_BY_GROUP, self.get_consumer_list_by_group),
            (RequestCode.CHECK_CLIENT_CONFIG, self.check_client_config),
        ):
            dispatcher.register(code, handler)  # type: ignore[attr-defined]
        # The relay to a consumer and the producer table live beside the registry of
        # clients they read.
        ConsumeDirectlyHandler(self._broker).register(dispatcher)
        ProducerInfoHandler(self._broker).register(dispatcher)

    @staticmethod
    def _body(request: RemotingCommand) -> dict[str, Any]:
        try:
            data = loads_tolerant(request.body)
        except orjson.JSONDecodeError as exc:
            raise BrokerError(f"request body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BrokerError("request body is not a JSON object")
        return data

    def heart_beat(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        data = self._body(request)
        client_id = str(data.get("clientID") or "")
        if not client_id:
            raise BrokerError("heartbeat body lacks clientID")
        broker = self._broker
        manager = broker.client_manager
        consumers = [
            (
                consumer,
                [
                    _subscription(s)
                    for s in _objects(consumer.get("subscriptionDataSet"), "subscriptionDataSet")
                ],
            )
            for consumer in _objects(data.get("consumerDataSet"), "consumerDataSet")
        ]
        for consumer, subscriptions in consumers:
            for subscription in subscriptions:
                try:
                    self._check_subscription(subscription)
                except BrokerError as exc:
                    log.warning(
                        "client %s (group %s) subscribes to %s with %s %r: %s; its pulls "
                        "of that topic will be refused",
                        client_id,
                        consumer.get("groupName"),
                        subscription.topic,
                        subscription.expression_type,
                        subscription.sub_string,
                        exc,
                    )
        for producer in _objects(data.get("producerDataSet"), "producerDataSet"):
            group = str(producer.get("groupName") or "")
            if group:
                manager.register_producer(
                    group,
                    ClientChannelInfo(connection, client_id, request.language, request.version),
                )
        for consumer, subscriptions in consumers:
            group = str(consumer.get("groupName") or "")
            if not group:
                continue
            group_config = broker.subscription_group_manager.find(group)
            model = enum_name(consumer.get("messageModel"), MESSAGE_MODELS, "CLUSTERING")
            if group_config is not None and model == "CLUSTERING":
                broker.topic_config_manager.create_system_topic(
                    retry_topic(group), group_config.retry_queue_nums, PERM_READ | PERM_WRITE
                )
                broker.schedule_register()
            manager.register_consumer(
                group,
                ClientChannelInfo(connection, client_id, request.language, request.version),
                consume_type=enum_name(
                    consumer.get("consumeType"), CONSUME_TYPES, "CONSUME_PASSIVELY"
                ),
                message_model=model,
                consume_from_where=enum_name(
                    consumer.get("consumeFromWhere"), CONSUME_FROM_WHERE, "CONSUME_FROM_LAST_OFFSET"
                ),
                subscriptions=subscriptions,
            )
        return request.response()

    def unregister_client(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        header = Header(request)
        header.str("clientID")
        self._broker.client_manager.unregister(
            connection,
            header.optional_str("producerGroup") or "",
            header.optional_str("consumerGroup") or "",
        )
        return request.response()

    def get_consumer_list_by_group(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        group = Header(request).str("consumerGroup")
        ids = self._broker.client_manager.consumer_ids(group)
        if not ids:
            return request.response(
                ResponseCode.SYSTEM_ERROR, f"no consumer for this group, {group}"
            )
        return request.response(body=orjson.dumps({"consumerIdList": ids}))

    def check_client_config(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        data = self._body(request)
        raw = data.get("subscriptionData") or {}
        if not isinstance(raw, dict):
            raise BrokerError("subscriptionData is not a JSON object")
        if raw.get("classFilterMode"):
            raise BrokerError("Not support class filter anymore")
        self._check_subscription(_subscription(raw))
        return request.response()

    def _check_subscription(self, subscription: SubscriptionData) -> None:
        """Refuse what pulls would refuse: unsupported or unparsable non-TAG selectors."""
        expression_type = normalize_expression_type(subscription.expression_type)
        if expression_type == EXPRESSION_TYPE_TAG:
            return
        if (
            expression_type != EXPRESSION_TYPE_SQL92
            or not self._broker.config.enable_property_filter
        ):
            raise BrokerError(
                f"The broker does not support consumer to filter message by {expression_type}"
            )
        try:
            compile_sql(subscription.sub_string)
        except SqlSyntaxError as exc:
            raise SubscriptionParseError(
                f"the subscription of topic {subscription.topic} does not parse: {exc}"
            ) from exc
