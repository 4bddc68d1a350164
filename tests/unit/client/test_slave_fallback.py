"""Client decisions around a broker set with a slave (findBrokerAddressInSubscribe, §8.8):
where pulls, offset commits and offset queries go with and without the master."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orbitmq.client import MQAdmin
from orbitmq.client.consumer.offset_store import RemoteOffsetStore
from orbitmq.client.errors import MQClientError
from orbitmq.client.instance import ClientInstance
from orbitmq.client.message import MessageQueue
from orbitmq.client.route_cache import RouteCache
from orbitmq.remoting.client import RemotingClient
from tests.unit.inprocess import BrokerSet, start_broker_set, stop_broker_set

MASTER = "10.0.0.1:10911"
SLAVE = "10.0.0.2:10911"
SLAVE_2 = "10.0.0.3:10911"


@pytest.fixture
async def routes() -> AsyncIterator[RouteCache]:
    remoting = RemotingClient()
    try:
        yield RouteCache(remoting, "127.0.0.1:9876")
    finally:
        await remoting.aclose()


async def test_pulls_follow_the_suggested_broker_id(routes: RouteCache) -> None:
    routes.broker_addrs = {"broker-a": {0: MASTER, 1: SLAVE}}
    assert routes.find_subscribe_addr("broker-a") == MASTER
    assert routes.find_subscribe_addr("broker-a", 1) == SLAVE
    # An absent slave id: the next id, else the lowest id present (the master).
    routes.broker_addrs = {"broker-a": {0: MASTER, 2: SLAVE_2}}
    assert routes.find_subscribe_addr("broker-a", 1) == SLAVE_2
    assert routes.find_subscribe_addr("broker-a", 5) == MASTER
    assert routes.find_subscribe_addr("broker-b") is None


async def test_without_the_master_pulls_and_offsets_go_to_a_slave(routes: RouteCache) -> None:
    routes.broker_addrs = {"broker-a": {2: SLAVE_2, 1: SLAVE}}
    assert routes.find_subscribe_addr("broker-a") == SLAVE
    assert await routes.find_offset_addr("broker-a", "T") == SLAVE
    routes.broker_addrs = {"broker-a": {0: MASTER, 1: SLAVE}}
    assert await routes.find_offset_addr("broker-a", "T") == MASTER


# --------------------------------------------------------------------------- in process


@pytest.fixture
async def broker_set(tmp_path: Path) -> AsyncIterator[BrokerSet]:
    brokers = await start_broker_set(tmp_path)
    try:
        async with MQAdmin(brokers.namesrv_addr) as admin:
            await admin.create_topic(brokers.master.config.broker_addr, "OffsetTopic", 2, 2)
        await brokers.slave.slave_synchronize.sync_all()
        yield brokers
    finally:
        await stop_broker_set(brokers)


async def wait_until(condition: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_offsets_are_committed_to_and_read_from_the_slave_while_the_master_is_down(
    broker_set: BrokerSet,
) -> None:
    mq = MessageQueue("OffsetTopic", "broker-a", 1)
    instance = ClientInstance(broker_set.namesrv_addr)
    try:
        await instance.routes.refresh(mq.topic)
        assert set(instance.routes.broker_addrs["broker-a"]) == {0, 1}
        await broker_set.master.aclose()  # unregisters: the set keeps only its slave
        await instance.routes.refresh(mq.topic)
        assert set(instance.routes.broker_addrs["broker-a"]) == {1}

        offsets = RemoteOffsetStore(instance, "CG_OFFSETS")
        offsets.update(mq, 6)
        await offsets.persist_all([mq])
        slave_offsets = broker_set.slave.consumer_offset_manager
        await wait_until(lambda: slave_offsets.query_offset("CG_OFFSETS", mq.topic, 1) == 6)

        fresh = RemoteOffsetStore(instance, "CG_OFFSETS")
        assert await fresh.read_store(mq) == 6
        assert fresh.read_memory(mq) == 6
    finally:
        await instance.aclose()


async def test_an_unknown_broker_set_has_no_offset_address(broker_set: BrokerSet) -> None:
    instance = ClientInstance(broker_set.namesrv_addr)
    try:
        with pytest.raises(MQClientError):
            await instance.routes.find_offset_addr("broker-z", "OffsetTopic")
        assert "OffsetTopic" in instance.routes.routes  # it looked once before giving up
    finally:
        await instance.aclose()
