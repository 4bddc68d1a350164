"""Metadata sync master -> slave (broker/slave_sync.py): body parsers, and one sync round
between an in-process master and slave registered with an in-process NameServer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from orbitmq.broker.slave_sync import (
    SlaveSyncError,
    parse_consumer_offsets,
    parse_delay_offsets,
    parse_subscription_groups,
    parse_topic_configs,
)
from orbitmq.broker.subscription_group import SubscriptionGroupConfig
from orbitmq.broker.topic_config import TopicConfig
from orbitmq.config_file import load_json_file
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from tests.unit.inprocess import BrokerSet, start_broker_set, stop_broker_set


@pytest.fixture
async def broker_set(tmp_path: Path) -> AsyncIterator[BrokerSet]:
    brokers = await start_broker_set(tmp_path)
    try:
        yield brokers
    finally:
        await stop_broker_set(brokers)


# --------------------------------------------------------------------------- parsers


def test_parsers_accept_fastjson_unquoted_integer_keys() -> None:
    body = b'{"offsetTable":{"T@G":{0:12,1:7},"%RETRY%G@G":{0:3}}}'
    assert parse_consumer_offsets(body) == {"T@G": {0: 12, 1: 7}, "%RETRY%G@G": {0: 3}}
    assert parse_delay_offsets(b'{"offsetTable":{1:0,3:57}}') == {1: 0, 3: 57}


def test_topic_and_group_wrappers_keep_their_data_version() -> None:
    version, topics = parse_topic_configs(
        b'{"dataVersion":{"counter":12,"timestamp":1700000000000},"topicConfigTable":'
        b'{"TopicTest":{"perm":6,"readQueueNums":4,"writeQueueNums":2}}}'
    )
    assert (version.counter, version.timestamp) == (12, 1700000000000)
    assert topics == {"TopicTest": TopicConfig("TopicTest", 4, 2, 6)}
    version, groups = parse_subscription_groups(
        b'{"dataVersion":{"counter":3,"timestamp":5},"subscriptionGroupTable":'
        b'{"g":{"groupName":"g","whichBrokerWhenConsumeSlowly":2}}}'
    )
    assert version.counter == 3
    assert groups["g"].which_broker_when_consume_slowly == 2


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"offsetTable":{"T@G":5}}'])
def test_a_bad_body_is_a_sync_error(body: bytes) -> None:
    with pytest.raises(SlaveSyncError):
        parse_consumer_offsets(body)


# --------------------------------------------------------------------------- one round


async def test_master_answers_all_consumer_and_delay_offsets(broker_set: BrokerSet) -> None:
    master = broker_set.master
    master.consumer_offset_manager.commit_offset("G", "T", 2, 41)
    master.schedule_service.offset_table[3] = 9
    client = RemotingClient()
    try:
        addr = master.config.broker_addr
        offsets = await client.invoke(
            addr, RemotingCommand.request(RequestCode.GET_ALL_CONSUMER_OFFSET), 3.0
        )
        delays = await client.invoke(
            addr, RemotingCommand.request(RequestCode.GET_ALL_DELAY_OFFSET), 3.0
        )
    finally:
        await client.aclose()
    assert offsets.code == delays.code == ResponseCode.SUCCESS
    assert parse_consumer_offsets(offsets.body)["T@G"] == {2: 41}
    assert parse_delay_offsets(delays.body)[3] == 9


async def test_slave_learns_its_master_at_registration(broker_set: BrokerSet) -> None:
    assert broker_set.slave.slave_synchronize.master_addr == broker_set.master.config.broker_addr
    assert broker_set.master.slave_synchronize.master_addr is None


async def test_one_round_copies_topics_groups_and_offsets(broker_set: BrokerSet) -> None:
    master, slave = broker_set.master, broker_set.slave
    master.topic_config_manager.update(TopicConfig("SyncedTopic", 3, 3))
    master.subscription_group_manager.update(
        SubscriptionGroupConfig("SyncedGroup", which_broker_when_consume_slowly=2)
    )
    master.consumer_offset_manager.commit_offset("SyncedGroup", "SyncedTopic", 1, 17)
    master.schedule_service.offset_table[2] = 5
    slave.consumer_offset_manager.commit_offset("OnlySlave", "SyncedTopic", 0, 4)

    await slave.slave_synchronize.sync_all()

    assert slave.topic_config_manager.get("SyncedTopic") == TopicConfig("SyncedTopic", 3, 3)
    assert slave.topic_config_manager.data_version.counter == (
        master.topic_config_manager.data_version.counter
    )
    group = slave.subscription_group_manager.table["SyncedGroup"]
    assert group.which_broker_when_consume_slowly == 2
    assert slave.consumer_offset_manager.query_offset("SyncedGroup", "SyncedTopic", 1) == 17
    assert slave.consumer_offset_manager.query_offset("OnlySlave", "SyncedTopic", 0) == 4
    assert slave.schedule_service.offset_table[2] == 5
    config_dir = Path(slave.config.store_path_root_dir) / "config"
    assert "SyncedTopic" in load_json_file(str(config_dir / "topics.json"))["topicConfigTable"]
    groups = load_json_file(str(config_dir / "subscriptionGroup.json"))
    assert "SyncedGroup" in groups["subscriptionGroupTable"]
    offsets = load_json_file(str(config_dir / "consumerOffset.json"))
    assert offsets["offsetTable"]["SyncedTopic@SyncedGroup"] == {"1": 17}
    delays = orjson.loads((config_dir / "delayOffset.json").read_bytes())
    assert delays["offsetTable"]["2"] == 5


async def test_an_unchanged_data_version_leaves_the_tables_alone(broker_set: BrokerSet) -> None:
    slave = broker_set.slave
    await slave.slave_synchronize.sync_all()
    # A local change without a new master version is kept until the master changes.
    slave.topic_config_manager.table["LocalOnly"] = TopicConfig("LocalOnly")
    await slave.slave_synchronize.sync_all()
    assert "LocalOnly" in slave.topic_config_manager.table
    broker_set.master.topic_config_manager.update(TopicConfig("Newer"))
    await slave.slave_synchronize.sync_all()
    assert "LocalOnly" not in slave.topic_config_manager.table
    assert "Newer" in slave.topic_config_manager.table


async def test_a_dead_master_leaves_the_slave_tables_alone(broker_set: BrokerSet) -> None:
    slave = broker_set.slave
    slave.consumer_offset_manager.commit_offset("G", "T", 0, 8)
    await broker_set.master.aclose()
    await slave.slave_synchronize.sync_all()  # the master refuses connections: logged only
    assert slave.consumer_offset_manager.query_offset("G", "T", 0) == 8
