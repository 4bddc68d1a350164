"""The broker's admin handlers for mqadmin (orbitmq/broker/handlers/admin_stats.py and
admin_config.py), over a broker made of its real managers and a fake message store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from orbitmq.broker.client_manager import ClientManager
from orbitmq.broker.config import BrokerConfig
from orbitmq.broker.consumer_offset import ConsumerOffsetManager
from orbitmq.broker.handlers.admin_config import AdminConfigHandler, update_properties_text
from orbitmq.broker.handlers.admin_stats import AdminStatsHandler, OffsetStatsSampler
from orbitmq.broker.subscription_group import SubscriptionGroupManager
from orbitmq.broker.topic_config import TopicConfig, TopicConfigManager
from orbitmq.client.admin_bodies import (
    parse_body,
    parse_consume_stats,
    parse_consume_stats_list,
    parse_topic_stats,
)
from orbitmq.client.message import MessageQueue
from orbitmq.errors import OrbitMQError
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand


class FakeStore:
    """Queue offsets and store times only (what the admin handlers read)."""

    def __init__(self) -> None:
        self.max: dict[tuple[str, int], int] = {}
        self.min: dict[tuple[str, int], int] = {}
        self.deleted: set[str] = set()
        self.config = SimpleNamespace(max_message_size=4 * 1024 * 1024)

    def topic_queue_ids(self) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for topic, queue_id in self.max:
            out.setdefault(topic, set()).add(queue_id)
        return out

    def get_max_offset_in_queue(self, topic: str, queue_id: int) -> int:
        return self.max.get((topic, queue_id), 0)

    def get_min_offset_in_queue(self, topic: str, queue_id: int) -> int:
        return self.min.get((topic, queue_id), 0)

    def get_message_store_timestamp(self, topic: str, queue_id: int, offset: int) -> int:
        return 1_700_000_000_000 + offset if offset < self.max.get((topic, queue_id), 0) else -1

    def delete_topics(self, topics: set[str]) -> None:
        self.deleted |= topics
        self.max = {k: v for k, v in self.max.items() if k[0] not in topics}


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    config = BrokerConfig(
        broker_name="broker-a", store_path_root_dir=str(tmp_path), broker_ip1="127.0.0.1"
    )
    registered: list[int] = []

    async def register_all() -> None:
        registered.append(config.broker_permission)

    fake = SimpleNamespace(
        config=config,
        config_file=None,
        topic_config_manager=TopicConfigManager(config),
        subscription_group_manager=SubscriptionGroupManager(config),
        consumer_offset_manager=ConsumerOffsetManager(str(tmp_path)),
        client_manager=ClientManager(),
        message_store=FakeStore(),
        stats=SimpleNamespace(put_count=0, get_count=0),
        registration=SimpleNamespace(register_all=register_all, registered=registered),
    )
    fake.topic_config_manager.update(TopicConfig("T", 2, 2))
    fake.message_store.max.update({("T", 0): 5, ("T", 1): 3})
    fake.message_store.min[("T", 0)] = 1
    return fake


def call(
    handler: Any, code: int, ext: dict[str, str] | None = None, body: bytes = b""
) -> RemotingCommand:
    result = handler(
        SimpleNamespace(peer_address="test"), RemotingCommand.request(code, ext or {}, body)
    )
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


def test_update_properties_text_keeps_comments_and_order() -> None:
    text = "# my broker\nbrokerName = a\nlistenPort=1\\\n  0911\n! old\nlistenPort=2\n\nx=y"
    updated = update_properties_text(text, {"listenPort": "30911", "fileReservedTime": "48"})
    assert (
        updated
        == "# my broker\nbrokerName = a\n! old\nlistenPort=30911\n\nx=y\nfileReservedTime=48\n"
    )
    assert update_properties_text("", {"a b": "c=d"}) == "a\\ b=c\\=d\n"


def test_topic_and_consume_stats_bodies(broker: Any) -> None:
    handler = AdminStatsHandler(broker)
    topic_stats = parse_topic_stats(
        parse_body(call(handler.get_topic_stats_info, 202, {"topic": "T"}).body, "x")
    )
    mq0, mq1 = MessageQueue("T", "broker-a", 0), MessageQueue("T", "broker-a", 1)
    assert (topic_stats[mq0].min_offset, topic_stats[mq0].max_offset) == (1, 5)
    assert topic_stats[mq1].last_update_timestamp == 1_700_000_000_002
    missing = call(handler.get_topic_stats_info, 202, {"topic": "Nope"})
    assert (missing.code, missing.remark) == (ResponseCode.TOPIC_NOT_EXIST, "topic[Nope] not exist")

    broker.consumer_offset_manager.commit_offset("G", "T", 0, 4)
    response = call(handler.get_consume_stats, 208, {"consumerGroup": "G"})
    assert response.body.startswith(
        b'{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":0'
    )
    stats = parse_consume_stats(parse_body(response.body, "x"))
    assert (stats.offset_table[mq0].consumer_offset, stats.offset_table[mq0].last_timestamp) == (
        4,
        1_700_000_000_003,
    )
    assert stats.offset_table[mq1].diff == 3 and stats.total_diff() == 4
    groups = call(handler.query_topic_consume_by_who, 300, {"topic": "T"})
    assert groups.body == b'{"groupList":["G"]}'
    broker.subscription_group_manager.table["G"] = broker.subscription_group_manager.find("G")
    listed = parse_consume_stats_list(
        parse_body(call(handler.get_broker_consume_stats, 317).body, "x")
    )
    assert (
        listed.total_diff == 4 and dict(listed.groups)["G"][0].offset_table[mq0].broker_offset == 5
    )


def test_stats_sampler_windows(broker: Any) -> None:
    sampler = OffsetStatsSampler(broker)
    sampler.sample(1000.0)
    broker.message_store.max[("T", 0)] = 65  # 60 more messages in the next minute
    broker.consumer_offset_manager.commit_offset("G", "T", 0, 30)
    sampler.sample(1060.0)
    data = sampler.stats_data("TOPIC_PUT_NUMS", "T", 1060.0)
    assert data is not None
    assert data["statsMinute"] == {"avgpt": 0.0, "sum": 60, "tps": 1.0}
    assert data["statsDay"]["sum"] == 60  # only a minute of history: from the first sample
    assert sampler.stats_data("GROUP_GET_NUMS", "T@G", 1060.0)["statsHour"]["sum"] == 30  # type: ignore[index]
    assert sampler.stats_data("TOPIC_PUT_NUMS", "Unknown", 1060.0) is None
    handler = AdminStatsHandler(broker)
    handler.sampler = sampler
    absent = call(
        handler.view_broker_stats_data, 315, {"statsName": "TOPIC_PUT_NUMS", "statsKey": "X"}
    )
    assert (absent.code, absent.remark) == (
        ResponseCode.SYSTEM_ERROR,
        "The stats <TOPIC_PUT_NUMS> <X> not exist",
    )


def test_update_broker_config_live_later_and_refused(broker: Any, tmp_path: Path) -> None:
    path = tmp_path / "broker.properties"
    path.write_text("# keep me\nbrokerName=broker-a\nfileReservedTime=72\n")
    broker.config_file = str(path)
    handler = AdminConfigHandler(broker)
    body = (
        b"fileReservedTime=48\nbrokerPermission=4\nflushDiskType=SYNC_FLUSH\nmaxMessageSize=1024\n"
    )
    response = call(handler.update_broker_config, RequestCode.UPDATE_BROKER_CONFIG, body=body)
    assert response.code == ResponseCode.SUCCESS
    assert response.remark == "flushDiskType take(s) effect after a restart"
    config = broker.config
    assert (config.file_reserved_time, config.broker_permission, config.flush_disk_type) == (
        48,
        4,
        "ASYNC_FLUSH",
    )
    assert broker.message_store.config.max_message_size == 1024
    assert broker.registration.registered == [4]  # re-registered with the new permission
    assert path.read_text() == (
        "# keep me\nbrokerName=broker-a\nfileReservedTime=48\nbrokerPermission=4\n"
        "flushDiskType=SYNC_FLUSH\nmaxMessageSize=1024\n"
    )
    for bad, message in (
        (b"fileReservedTime=x\n", "expected an integer"),
        (b"nope=1\n", "unknown broker"),
    ):
        with pytest.raises(OrbitMQError, match=message):
            call(handler.update_broker_config, RequestCode.UPDATE_BROKER_CONFIG, body=bad)
    assert config.file_reserved_time == 48


def test_clean_and_clone(broker: Any) -> None:
    handler = AdminConfigHandler(broker)
    store = broker.message_store
    store.max.update({("Gone", 0): 3, ("Expired", 0): 4})
    store.min[("Expired", 0)] = 4
    call(handler.clean_unused_topic, RequestCode.CLEAN_UNUSED_TOPIC)
    assert store.deleted == {"Gone", "Expired"}
    broker.topic_config_manager.update(TopicConfig("Expired", 1, 1))
    store.max[("Expired", 0)] = 4
    call(handler.clean_expired_consume_queue, RequestCode.CLEAN_EXPIRED_CONSUMEQUEUE)
    assert ("Expired", 0) not in store.max and ("T", 0) in store.max

    offsets = broker.consumer_offset_manager
    offsets.commit_offset("SRC", "T", 0, 4)
    offsets.commit_offset("SRC", "T", 1, 2)
    call(
        handler.clone_group_offset,
        RequestCode.CLONE_GROUP_OFFSET,
        {"srcGroup": "SRC", "destGroup": "DST"},
    )
    assert [offsets.query_offset("DST", "T", q) for q in (0, 1)] == [4, 2]


def test_running_info_relay(broker: Any) -> None:
    handler = AdminConfigHandler(broker)
    ext = {"consumerGroup": "G", "clientId": "c1", "jstackEnable": "false"}
    absent = call(handler.get_consumer_running_info, RequestCode.GET_CONSUMER_RUNNING_INFO, ext)
    assert (absent.code, absent.remark) == (
        ResponseCode.SYSTEM_ERROR,
        "The Consumer <G> <c1> not online",
    )

    class Channel:
        is_open = True
        peer_address = "1.2.3.4:5"

        async def invoke(self, command: RemotingCommand, timeout: float) -> RemotingCommand:
            assert (command.code, command.ext_fields) == (
                RequestCode.GET_CONSUMER_RUNNING_INFO,
                ext,
            )
            return command.response(body=b'{"properties":{}}')

    info = SimpleNamespace(
        channels={0: SimpleNamespace(client_id="c1", connection=Channel(), version=409)}
    )
    broker.client_manager.consumer_groups["G"] = info
    relayed = call(handler.get_consumer_running_info, RequestCode.GET_CONSUMER_RUNNING_INFO, ext)
    assert (relayed.code, relayed.body) == (ResponseCode.SUCCESS, b'{"properties":{}}')
