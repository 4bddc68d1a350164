"""Metadata sync master -> slave (store-and-replication.md §8.5) between real processes: a
master and its slave (brokerId 1, same brokerName) registered with one NameServer. The
slave copies every 10 s (first after 3 s), so each check waits up to 25 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orbitmq.client import Message, MQAdmin, Producer
from orbitmq.config_file import load_json_file
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.fastjson import loads_tolerant
from orbitmq.remoting.client import RemotingClient
from tests.integration.scenario import wait_for
from tests.processes import ServerProcess, broker_properties, start_broker, start_namesrv

pytestmark = pytest.mark.slow

SYNC_WAIT = 25.0
BROKER_NAME = "broker-sync"


@dataclass
class MasterSlave:
    namesrv: ServerProcess
    namesrv_addr: str
    master: ServerProcess
    master_props: dict[str, object]
    slave: ServerProcess
    slave_props: dict[str, object]

    @staticmethod
    def addr(props: dict[str, object]) -> str:
        return f"127.0.0.1:{props['listenPort']}"

    @property
    def master_addr(self) -> str:
        return self.addr(self.master_props)

    @property
    def slave_addr(self) -> str:
        return self.addr(self.slave_props)

    def slave_config(self, name: str) -> Any:
        return load_json_file(
            str(Path(str(self.slave_props["storePathRootDir"])) / "config" / name)
        )

    def stop(self) -> None:
        for process in (self.slave, self.master, self.namesrv):
            process.stop()


def start_master_slave(
    workdir: Path, master: dict[str, object] | None = None, slave: dict[str, object] | None = None
) -> MasterSlave:
    """A NameServer, a master and its slave; each broker's files in its own folder."""
    namesrv, namesrv_addr = start_namesrv(workdir)
    started: list[ServerProcess] = [namesrv]
    try:
        master_dir = workdir / "master"
        master_dir.mkdir()
        master_props = broker_properties(
            master_dir,
            namesrv_addr,
            brokerName=BROKER_NAME,
            storePathRootDir=master_dir / "store",
            **(master or {}),
        )
        started.append(start_broker(master_dir, master_props))
        slave_dir = workdir / "slave"
        slave_dir.mkdir()
        slave_props = broker_properties(
            slave_dir,
            namesrv_addr,
            brokerName=BROKER_NAME,
            brokerRole="SLAVE",
            brokerId=1,
            storePathRootDir=slave_dir / "store",
            **(slave or {}),
        )
        started.append(start_broker(slave_dir, slave_props))
    except BaseException:
        for process in reversed(started):
            process.stop()
        raise
    return MasterSlave(namesrv, namesrv_addr, started[1], master_props, started[2], slave_props)


async def request(addr: str, code: int, ext: dict[str, str] | None = None) -> RemotingCommand:
    client = RemotingClient()
    try:
        return await client.invoke(addr, RemotingCommand.request(code, ext), 5.0)
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def master_slave(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MasterSlave]:
    running = start_master_slave(tmp_path_factory.mktemp("master-slave"))
    try:
        yield running
    finally:
        running.stop()


async def test_a_topic_created_on_the_master_reaches_the_slave(master_slave: MasterSlave) -> None:
    async with MQAdmin(master_slave.namesrv_addr) as admin:
        await admin.create_topic(master_slave.master_addr, "SyncedTopic", 3, 3)

    def on_slave_disk() -> bool:
        topics = master_slave.slave_config("topics.json") or {}
        return "SyncedTopic" in topics.get("topicConfigTable", {})

    await wait_for(on_slave_disk, SYNC_WAIT, "SyncedTopic never reached the slave's topics.json")
    response = await request(master_slave.slave_addr, RequestCode.GET_ALL_TOPIC_CONFIG)
    table = loads_tolerant(response.body)["topicConfigTable"]
    assert table["SyncedTopic"]["readQueueNums"] == 3
    master = await request(master_slave.master_addr, RequestCode.GET_ALL_TOPIC_CONFIG)
    assert (
        loads_tolerant(response.body)["dataVersion"] == loads_tolerant(master.body)["dataVersion"]
    )


async def test_a_group_and_its_committed_offset_reach_the_slave(master_slave: MasterSlave) -> None:
    async with MQAdmin(master_slave.namesrv_addr) as admin:
        await admin.create_subscription_group(
            master_slave.master_addr, {"groupName": "CG_SYNCED", "whichBrokerWhenConsumeSlowly": 1}
        )
    ext = {
        "consumerGroup": "CG_SYNCED",
        "topic": "OffsetTopic",
        "queueId": "2",
        "commitOffset": "37",
    }
    committed = await request(master_slave.master_addr, RequestCode.UPDATE_CONSUMER_OFFSET, ext)
    assert committed.code == ResponseCode.SUCCESS

    def synced() -> bool:
        groups = master_slave.slave_config("subscriptionGroup.json") or {}
        offsets = master_slave.slave_config("consumerOffset.json") or {}
        table = offsets.get("offsetTable", {}).get("OffsetTopic@CG_SYNCED", {})
        return "CG_SYNCED" in groups.get("subscriptionGroupTable", {}) and table.get("2") == 37

    await wait_for(synced, SYNC_WAIT, "the group or its offset never reached the slave's files")
    query = {"consumerGroup": "CG_SYNCED", "topic": "OffsetTopic", "queueId": "2"}
    answer = await request(master_slave.slave_addr, RequestCode.QUERY_CONSUMER_OFFSET, query)
    assert answer.ext_fields["offset"] == "37"


async def test_delay_offsets_reach_the_slave(master_slave: MasterSlave) -> None:
    async with MQAdmin(master_slave.namesrv_addr) as admin:
        await admin.create_topic(master_slave.master_addr, "DelayedTopic", 1, 1)
    async with Producer("PG_DELAY_SYNC", master_slave.namesrv_addr) as producer:
        await producer.send(Message("DelayedTopic", b"later", delay_time_level=1))

    deadline = time.monotonic() + 15
    while True:
        response = await request(master_slave.master_addr, RequestCode.GET_ALL_DELAY_OFFSET)
        if loads_tolerant(response.body)["offsetTable"].get("1") == 1:
            break  # level 1 (1 s) delivered: its queue offset moved to 1
        assert time.monotonic() < deadline, "the master never delivered the level-1 message"
        await asyncio.sleep(0.2)

    def on_slave_disk() -> bool:
        delays = master_slave.slave_config("delayOffset.json") or {}
        return delays.get("offsetTable", {}).get("1") == 1

    await wait_for(on_slave_disk, SYNC_WAIT, "delay offsets never reached delayOffset.json")
