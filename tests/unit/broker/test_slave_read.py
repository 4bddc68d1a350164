"""Pulls and offsets around a slave (store-and-replication.md §8.6-8.7), in process:
suggestWhichBrokerId, a slave's answer to an offset it does not have, and which commits a
slave keeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orbitmq.broker.subscription_group import SubscriptionGroupConfig
from orbitmq.client import Message, MQAdmin, Producer
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from tests.unit.inprocess import BrokerSet, start_broker_set, stop_broker_set

TOPIC = "SlaveReadTopic"
FLAG_COMMIT_OFFSET = 0x1
FLAG_SUBSCRIPTION = 0x4


@pytest.fixture
async def broker_set(tmp_path: Path) -> AsyncIterator[BrokerSet]:
    brokers = await start_broker_set(
        tmp_path, master={"slave_read_enable": True}, slave={"slave_read_enable": True}
    )
    try:
        async with MQAdmin(brokers.namesrv_addr) as admin:
            await admin.create_topic(brokers.master.config.broker_addr, TOPIC, 1, 1)
        async with Producer("PG_SLAVE_READ", brokers.namesrv_addr) as producer:
            for i in range(3):
                await producer.send(Message(TOPIC, f"m{i}".encode()))
        await brokers.slave.slave_synchronize.sync_all()
        yield brokers
    finally:
        await stop_broker_set(brokers)


async def invoke(addr: str, code: int, ext: dict[str, str]) -> RemotingCommand:
    client = RemotingClient()
    try:
        return await client.invoke(addr, RemotingCommand.request(code, ext), 3.0)
    finally:
        await client.aclose()


async def pull(
    addr: str,
    group: str,
    offset: int,
    sys_flag: int = 0,
    commit_offset: int = 0,
    topic: str = TOPIC,
) -> RemotingCommand:
    ext = {
        "consumerGroup": group,
        "topic": topic,
        "queueId": "0",
        "queueOffset": str(offset),
        "maxMsgNums": "32",
        "sysFlag": str(sys_flag | FLAG_SUBSCRIPTION),
        "commitOffset": str(commit_offset),
        "suspendTimeoutMillis": "0",
        "subscription": "*",
        "subVersion": "0",
        "expressionType": "TAG",
    }
    return await invoke(addr, RequestCode.PULL_MESSAGE, ext)


async def suggestion(broker_set: BrokerSet, group: str) -> str:
    response = await pull(broker_set.master.config.broker_addr, group, 0)
    assert response.code == ResponseCode.SUCCESS
    return response.ext_fields["suggestWhichBrokerId"]


async def test_a_pull_out_of_memory_suggests_the_groups_slow_consumer_broker(
    broker_set: BrokerSet,
) -> None:
    config = broker_set.master.config
    assert await suggestion(broker_set, "CG_READ") == "0"  # in memory: the group's brokerId
    config.access_message_in_memory_max_ratio = 0
    assert await suggestion(broker_set, "CG_READ") == "1"
    broker_set.master.subscription_group_manager.update(
        SubscriptionGroupConfig("CG_READ", which_broker_when_consume_slowly=2)
    )
    assert await suggestion(broker_set, "CG_READ") == "2"
    config.slave_read_enable = False
    assert await suggestion(broker_set, "CG_READ") == "0"


async def test_a_slave_without_slave_reading_sends_clients_to_the_master(
    broker_set: BrokerSet,
) -> None:
    slave = broker_set.slave
    slave.config.slave_read_enable = False
    slave.config.access_message_in_memory_max_ratio = 0
    response = await pull(slave.config.broker_addr, "CG_BACK", 0)
    assert response.ext_fields["suggestWhichBrokerId"] == "0"


async def test_a_slave_retries_an_offset_it_does_not_have_instead_of_moving_it(
    broker_set: BrokerSet,
) -> None:
    slave = broker_set.slave
    response = await pull(slave.config.broker_addr, "CG_AHEAD", 1_000_000)
    assert response.code == ResponseCode.PULL_RETRY_IMMEDIATELY
    assert response.ext_fields["nextBeginOffset"] == "1000000"
    assert response.ext_fields["suggestWhichBrokerId"] == "0"
    slave.config.offset_check_in_slave = True
    response = await pull(slave.config.broker_addr, "CG_AHEAD", 1_000_000)
    assert response.code == ResponseCode.PULL_OFFSET_MOVED


async def test_a_slave_keeps_explicit_commits_but_not_those_riding_on_pulls(
    broker_set: BrokerSet,
) -> None:
    slave = broker_set.slave
    addr = slave.config.broker_addr
    await pull(addr, "CG_COMMIT", 0, FLAG_COMMIT_OFFSET, commit_offset=2)
    assert slave.consumer_offset_manager.query_offset("CG_COMMIT", TOPIC, 0) == -1
    ext = {"consumerGroup": "CG_COMMIT", "topic": TOPIC, "queueId": "0", "commitOffset": "3"}
    response = await invoke(addr, RequestCode.UPDATE_CONSUMER_OFFSET, ext)
    assert response.code == ResponseCode.SUCCESS
    assert slave.consumer_offset_manager.query_offset("CG_COMMIT", TOPIC, 0) == 3
    slave.consumer_offset_manager.persist_if_dirty()
    offsets = (
        Path(slave.config.store_path_root_dir) / "config" / "consumerOffset.json"
    ).read_text()
    assert f"{TOPIC}@CG_COMMIT" in offsets


async def test_a_slave_serves_replicated_queues_of_a_topic_its_master_never_synced(
    broker_set: BrokerSet,
) -> None:
    """The master died before the metadata sync copied the topic's config."""
    slave = broker_set.slave
    store = slave.message_store
    for _ in range(100):
        if store.get_max_offset_in_queue(TOPIC, 0) == 3:
            break
        await asyncio.sleep(0.05)
    await broker_set.master.aclose()
    slave.topic_config_manager.delete(TOPIC)
    addr = slave.config.broker_addr
    response = await pull(addr, "CG_UNSYNCED", 0)
    assert response.code == ResponseCode.SUCCESS, response.remark
    assert response.ext_fields["nextBeginOffset"] == "3"
    response = await pull(addr, "CG_UNSYNCED", 0, topic="NoSuchTopic")
    assert response.code == ResponseCode.TOPIC_NOT_EXIST
