"""Consumer group configs, persisted as `config/subscriptionGroup.json`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from orbitmq.broker.config import BrokerConfig
from orbitmq.broker.topic_config import DataVersion
from orbitmq.config_file import load_json_file, persist_json_file

_FIELDS = {
    "groupName": "group_name",
    "consumeEnable": "consume_enable",
    "consumeFromMinEnable": "consume_from_min_enable",
    "consumeBroadcastEnable": "consume_broadcast_enable",
    "retryQueueNums": "retry_queue_nums",
    "retryMaxTimes": "retry_max_times",
    "brokerId": "broker_id",
    "whichBrokerWhenConsumeSlowly": "which_broker_when_consume_slowly",
    "notifyConsumerIdsChangedEnable": "notify_consumer_ids_changed_enable",
    "consumeMessageOrderly": "consume_message_orderly",  # RocketMQ 4.9+/5.x: FIFO groups
}


@dataclass(slots=True)
class SubscriptionGroupConfig:
    group_name: str
    consume_enable: bool = True
    consume_from_min_enable: bool = True
    consume_broadcast_enable: bool = True
    retry_queue_nums: int = 1
    retry_max_times: int = 16
    broker_id: int = 0
    which_broker_when_consume_slowly: int = 1
    notify_consumer_ids_changed_enable: bool = True
    consume_message_orderly: bool = False

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, attr) for key, attr in sorted(_FIELDS.items())}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubscriptionGroupConfig:
        config = cls(group_name=str(data["groupName"]))
        for key, attr in _FIELDS.items():
            if key in data and key != "groupName":
                current = getattr(config, attr)
                value = data[key]
                setattr(config, attr, bool(value) if isinstance(current, bool) else int(value))
        return config


class SubscriptionGroupManager:
    def __init__(self, config: BrokerConfig) -> None:
        self._config = config
        self.path = os.path.join(config.store_path_root_dir, "config", "subscriptionGroup.json")
        self.table: dict[str, SubscriptionGroupConfig] = {}
        self.data_version = DataVersion()
        for group in (
            "TOOLS_CONSUMER",
            "FILTERSRV_CONSUMER",
            "SELF_TEST_C_GROUP",
            "CID_ONS-HTTP-PROXY",
            "CID_ONSAPI_PULL",
            "CID_ONSAPI_PERMISSION",
            "CID_ONSAPI_OWNER",
        ):
            self.table[group] = SubscriptionGroupConfig(group)

    def load(self) -> None:
        data = load_json_file(self.path)
        if not data:
            return
        for name, item in (data.get("subscriptionGroupTable") or {}).items():
            self.table[name] = SubscriptionGroupConfig.from_json({"groupName": name, **item})
        version = data.get("dataVersion") or {}
        self.data_version = DataVersion(
            int(version.get("counter", 0)), int(version.get("timestamp", 0)) or None
        )

    def wrapper(self) -> dict[str, Any]:
        return {
            "dataVersion": self.data_version.to_json(),
            "subscriptionGroupTable": {n: g.to_json() for n, g in self.table.items()},
        }

    def persist(self) -> None:
        persist_json_file(self.path, self.wrapper())

    def update(self, group: SubscriptionGroupConfig) -> None:
        self.table[group.group_name] = group
        self.data_version.next_version()
        self.persist()

    def delete(self, group_name: str) -> bool:
        if self.table.pop(group_name, None) is None:
            return False
        self.data_version.next_version()
        self.persist()
        return True

    def find(self, group_name: str) -> SubscriptionGroupConfig | None:
        """The group's config, auto-created when `autoCreateSubscriptionGroup` allows."""
        group = self.table.get(group_name)
        if group is None and self._config.auto_create_subscription_group:
            group = SubscriptionGroupConfig(group_name)
            self.update(group)
        return group
