"""Producers and consumers known from heartbeats (ProducerManager / ConsumerManager).

A client is identified by its connection; its `clientID` is kept exactly as sent, since
consumers look for themselves in GET_CONSUMER_LIST_BY_GROUP answers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.subscription import SubscriptionData
from orbitmq.remoting.connection import RemotingConnection

log = logging.getLogger(__name__)

CONSUME_TYPES = ("CONSUME_ACTIVELY", "CONSUME_PASSIVELY")
MESSAGE_MODELS = ("BROADCASTING", "CLUSTERING")
CONSUME_FROM_WHERE = (
    "CONSUME_FROM_LAST_OFFSET",
    "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
    "CONSUME_FROM_MIN_OFFSET",
    "CONSUME_FROM_MAX_OFFSET",
    "CONSUME_FROM_FIRST_OFFSET",
    "CONSUME_FROM_TIMESTAMP",
)


def enum_name(value: Any, names: tuple[str, ...], default: str) -> str:
    """Java and Go send enum names, C++ sends ordinals."""
    if isinstance(value, str):
        if value in names:
            return value
        if value.isdigit() and int(value) < len(names):
            return names[int(value)]
        return default
    if isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    return default


@dataclass(slots=True)
class ClientChannelInfo:
    connection: RemotingConnection
    client_id: str
    language: str
    version: int
    last_update: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class ConsumerGroupInfo:
    group: str
    consume_type: str = "CONSUME_PASSIVELY"
    message_model: str = "CLUSTERING"
    consume_from_where: str = "CONSUME_FROM_LAST_OFFSET"
    subscriptions: dict[str, SubscriptionData] = field(default_factory=dict)
    channels: dict[RemotingConnection, ClientChannelInfo] = field(default_factory=dict)
    last_update: float = field(default_factory=time.monotonic)

    def client_ids(self) -> list[str]:
        return sorted({c.client_id for c in self.channels.values()})


class ClientManager:
    def __init__(self, *, notify_enabled: bool = True, expire_seconds: float = 120.0) -> None:
        self.producer_groups: dict[str, dict[RemotingConnection, ClientChannelInfo]] = {}
        self.consumer_groups: dict[str, ConsumerGroupInfo] = {}
        self._notify_enabled = notify_enabled
        self._expire_seconds = expire_seconds

    def register_producer(self, group: str, info: ClientChannelInfo) -> None:
        channels = self.producer_groups.setdefault(group, {})
        existing = channels.get(info.connection)
        if existing is None:
            channels[info.connection] = info
        else:
            existing.last_update = info.last_update

    def register_consumer(
        self,
        group: str,
        info: ClientChannelInfo,
        *,
        consume_type: str,
        message_model: str,
        consume_from_where: str,
        subscriptions: list[SubscriptionData],
    ) -> None:
        group_info = self.consumer_groups.get(group)
        if group_info is None:
            group_info = self.consumer_groups[group] = ConsumerGroupInfo(group)
        group_info.consume_type = consume_type
        group_info.message_model = message_model
        group_info.consume_from_where = consume_from_where
        group_info.last_update = info.last_update
        for sub in subscriptions:
            old = group_info.subscriptions.get(sub.topic)
            if old is None or old.sub_version < sub.sub_version or old.sub_string != sub.sub_string:
                group_info.subscriptions[sub.topic] = sub
        existing = group_info.channels.get(info.connection)
        if existing is None:
            group_info.channels[info.connection] = info
            log.info("consumer %s joined group %s", info.client_id, group)
            self.notify_ids_changed(group)
        else:
            existing.last_update = info.last_update

    def unregister(
        self, connection: RemotingConnection, producer_group: str, consumer_group: str
    ) -> None:
        if producer_group:
            self.producer_groups.get(producer_group, {}).pop(connection, None)
        if consumer_group:
            self._remove_consumer_channel(consumer_group, connection)

    def _remove_consumer_channel(self, group: str, connection: RemotingConnection) -> None:
        group_info = self.consumer_groups.get(group)
        if group_info is None or group_info.channels.pop(connection, None) is None:
            return
        log.info("consumer connection %s left group %s", connection.peer_address, group)
        if not group_info.channels:
            del self.consumer_groups[group]
        else:
            self.notify_ids_changed(group)

    def on_connection_closed(self, connection: RemotingConnection) -> None:
        for channels in self.producer_groups.values():
            channels.pop(connection, None)
        for group in list(self.consumer_groups):
            self._remove_consumer_channel(group, connection)

    def scan_expired(self, now: float | None = None) -> None:
        deadline = (now if now is not None else time.monotonic()) - self._expire_seconds
        for channels in self.producer_groups.values():
            for connection, info in list(channels.items()):
                if info.last_update < deadline:
                    del channels[connection]
        for group, group_info in list(self.consumer_groups.items()):
            for connection, info in list(group_info.channels.items()):
                if info.last_update < deadline:
                    log.info("consumer %s of %s expired", info.client_id, group)
                    self._remove_consumer_channel(group, connection)

    def consumer_ids(self, group: str) -> list[str]:
        group_info = self.consumer_groups.get(group)
        return group_info.client_ids() if group_info else []

    def find_subscription(self, group: str, topic: str) -> SubscriptionData | None:
        group_info = self.consumer_groups.get(group)
        return group_info.subscriptions.get(topic) if group_info else None

    def notify_ids_changed(self, group: str) -> None:
        group_info = self.consumer_groups.get(group)
        if not self._notify_enabled or group_info is None:
            return
        for connection in list(group_info.channels):
            connection.invoke_oneway(
                RemotingCommand.request(
                    RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, {"consumerGroup": group}
                )
            )
