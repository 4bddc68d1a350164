"""Classic master/slave replication between real broker processes (orbitmq/ha).

A master and a slave share a brokerName; the slave finds the master's HA address
through the NameServer. What the slave serves must be the master's records byte for
byte, at the same queue offsets (records carry their physical offsets, so equal bytes
mean equal offsets too).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orbitmq.client import Message, MQAdmin, Producer, SendStatus
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import decode_records
from orbitmq.remoting.client import RemotingClient
from tests.processes import (
    ServerProcess,
    broker_properties,
    start_broker,
    start_namesrv,
    wait_until,
)

pytestmark = pytest.mark.slow

BROKER_NAME = "broker-ha"
TOPIC = "ReplicatedTopic"
QUEUES = 4
SEND_EXT = {
    "producerGroup": "PG_RAW",
    "topic": TOPIC,
    "defaultTopic": "TBW102",
    "defaultTopicQueueNums": "4",
    "queueId": "0",
    "sysFlag": "0",
    "bornTimestamp": "1700000000000",
    "flag": "0",
    "properties": "",
}


@dataclass
class BrokerSet:
    workdir: Path
    namesrv: ServerProcess
    namesrv_addr: str
    master: ServerProcess | None = None
    master_props: dict[str, object] | None = None
    slave: ServerProcess | None = None
    slave_props: dict[str, object] | None = None

    @property
    def master_addr(self) -> str:
        assert self.master_props is not None
        return f"127.0.0.1:{self.master_props['listenPort']}"

    @property
    def slave_addr(self) -> str:
        assert self.slave_props is not None
        return f"127.0.0.1:{self.slave_props['listenPort']}"

    def start_master(self, **overrides: object) -> None:
        directory = self.workdir / "master"
        directory.mkdir(exist_ok=True)
        if self.master_props is None:
            self.master_props = broker_properties(
                directory, self.namesrv_addr, brokerName=BROKER_NAME, **overrides
            )
        self.master = start_broker(directory, self.master_props)

    def start_slave(self, **overrides: object) -> None:
        directory = self.workdir / "slave"
        directory.mkdir(exist_ok=True)
        if self.slave_props is None:
            values = {"brokerName": BROKER_NAME, "brokerId": 1, "brokerRole": "SLAVE", **overrides}
            self.slave_props = broker_properties(directory, self.namesrv_addr, **values)
        self.slave = start_broker(directory, self.slave_props)

    def stop(self) -> None:
        for process in (self.slave, self.master, self.namesrv):
            if process is not None:
                process.send_signal(signal.SIGCONT)  # in case a test left it stopped
                process.stop()


@pytest.fixture
def broker_set(tmp_path: Path) -> Iterator[BrokerSet]:
    namesrv, namesrv_addr = start_namesrv(tmp_path)
    running = BrokerSet(tmp_path, namesrv, namesrv_addr)
    try:
        yield running
    finally:
        running.stop()


async def invoke(
    address: str, code: int, ext: dict[str, str], body: bytes = b""
) -> RemotingCommand:
    client = RemotingClient()
    try:
        return await client.invoke(address, RemotingCommand.request(code, ext, body), 5.0)
    finally:
        await client.aclose()


async def create_topic(namesrv_addr: str, *addresses: str) -> None:
    async with MQAdmin(namesrv_addr) as admin:
        for address in addresses:
            await admin.create_topic(address, TOPIC, QUEUES, QUEUES)


async def max_offset(address: str, queue_id: int) -> int:
    response = await invoke(
        address, RequestCode.GET_MAX_OFFSET, {"topic": TOPIC, "queueId": str(queue_id)}
    )
    assert response.code == ResponseCode.SUCCESS, response.remark
    return int(response.ext_fields["offset"])


async def pull_records(address: str, queue_id: int, count: int) -> bytes:
    """The raw stored records of queue `queue_id` from offset 0 (the pull body)."""
    records = b""
    offset = 0
    while offset < count:
        response = await invoke(
            address,
            RequestCode.PULL_MESSAGE,
            {
                "consumerGroup": "CG_REPLICATION",
                "topic": TOPIC,
                "queueId": str(queue_id),
                "queueOffset": str(offset),
                "maxMsgNums": "32",
                "sysFlag": "4",  # FLAG_SUBSCRIPTION
                "commitOffset": "0",
                "suspendTimeoutMillis": "0",
                "subscription": "*",
                "subVersion": "0",
                "expressionType": "TAG",
            },
        )
        assert response.code == ResponseCode.SUCCESS, (address, response.code, response.remark)
        records += response.body
        offset = int(response.ext_fields["nextBeginOffset"])
    return records


async def send(namesrv_addr: str, count: int, prefix: str) -> list[SendStatus]:
    producer = Producer("PG_REPLICATION", namesrv_addr)
    await producer.start()
    try:
        return [
            (await producer.send(Message(TOPIC, f"{prefix}-{i}".encode(), tags="T"))).status
            for i in range(count)
        ]
    finally:
        await producer.shutdown()


async def assert_slave_mirrors_master(brokers: BrokerSet, timeout: float = 30.0) -> int:
    """Wait until the slave has every queue's messages; compare them record by record."""
    deadline = time.monotonic() + timeout
    total = 0
    for queue_id in range(QUEUES):
        expected = await max_offset(brokers.master_addr, queue_id)
        while await max_offset(brokers.slave_addr, queue_id) < expected:
            assert time.monotonic() < deadline, f"slave did not catch up on queue {queue_id}"
            await asyncio.sleep(0.1)
        assert await max_offset(brokers.slave_addr, queue_id) == expected
        if expected:
            master_records = await pull_records(brokers.master_addr, queue_id, expected)
            assert await pull_records(brokers.slave_addr, queue_id, expected) == master_records
        total += expected
    return total


def log_has(process: ServerProcess | None, text: str) -> bool:
    assert process is not None
    return any(text in line for line in list(process.output))


async def test_async_slave_follows_master_through_restarts(broker_set: BrokerSet) -> None:
    brokers = broker_set
    brokers.start_master()
    await create_topic(brokers.namesrv_addr, brokers.master_addr)
    assert set(await send(brokers.namesrv_addr, 30, "before-slave")) == {SendStatus.SEND_OK}

    # A slave started after the master has data catches up from scratch.
    brokers.start_slave()
    await create_topic(brokers.namesrv_addr, brokers.slave_addr)
    assert await assert_slave_mirrors_master(brokers) == 30

    # Live replication.
    await send(brokers.namesrv_addr, 20, "live")
    assert await assert_slave_mirrors_master(brokers) == 50

    # A slave killed outright resumes where its commit log ends.
    assert brokers.slave is not None
    brokers.slave.kill()
    await send(brokers.namesrv_addr, 25, "while-down")
    brokers.start_slave()
    assert await assert_slave_mirrors_master(brokers) == 75


async def test_slave_refuses_writes(broker_set: BrokerSet) -> None:
    brokers = broker_set
    brokers.start_master()
    brokers.start_slave()
    await create_topic(brokers.namesrv_addr, brokers.slave_addr)
    response = await invoke(brokers.slave_addr, RequestCode.SEND_MESSAGE, SEND_EXT, b"body")
    assert response.code == ResponseCode.SERVICE_NOT_AVAILABLE
    assert "slave" in (response.remark or "")
    end_transaction = {
        "producerGroup": "PG",
        "tranStateTableOffset": "0",
        "commitLogOffset": "0",
        "commitOrRollback": "8",
        "fromTransactionCheck": "false",
    }
    response = await invoke(brokers.slave_addr, RequestCode.END_TRANSACTION, end_transaction)
    assert response.code == ResponseCode.SLAVE_NOT_AVAILABLE


async def test_sync_master_waits_for_its_slave(broker_set: BrokerSet) -> None:
    brokers = broker_set
    brokers.start_master(brokerRole="SYNC_MASTER", slaveTimeout=1500)
    await create_topic(brokers.namesrv_addr, brokers.master_addr)

    # No slave: answered at once, but stored on the master.
    started = time.monotonic()
    assert await send(brokers.namesrv_addr, 1, "alone") == [SendStatus.SLAVE_NOT_AVAILABLE]
    assert time.monotonic() - started < 1.5
    stored = sum([await max_offset(brokers.master_addr, q) for q in range(QUEUES)])
    assert stored == 1

    brokers.start_slave()
    await create_topic(brokers.namesrv_addr, brokers.slave_addr)
    await assert_slave_mirrors_master(brokers)  # connected and caught up
    assert set(await send(brokers.namesrv_addr, 10, "paired")) == {SendStatus.SEND_OK}

    # A stalled slave: the send waits slaveTimeout, then says so (still stored).
    assert brokers.slave is not None
    brokers.slave.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert await send(brokers.namesrv_addr, 1, "stalled") == [SendStatus.FLUSH_SLAVE_TIMEOUT]
        assert 1.4 < time.monotonic() - started < 3.0
    finally:
        brokers.slave.send_signal(signal.SIGCONT)
    assert await send(brokers.namesrv_addr, 1, "resumed") == [SendStatus.SEND_OK]
    assert await assert_slave_mirrors_master(brokers) == 13


async def test_diverged_slave_is_refused_not_mixed(broker_set: BrokerSet) -> None:
    brokers = broker_set
    brokers.start_master()
    await create_topic(brokers.namesrv_addr, brokers.master_addr)
    await send(brokers.namesrv_addr, 5, "master")

    # Another master's store, with more data, handed to the slave.
    brokers.start_slave(
        brokerId=0, brokerRole="ASYNC_MASTER", brokerName="other-broker", namesrvAddr=""
    )
    assert brokers.slave is not None and brokers.slave_props is not None
    await create_topic(brokers.namesrv_addr, brokers.slave_addr)
    for i in range(40):
        ext = {**SEND_EXT, "queueId": str(i % QUEUES)}
        response = await invoke(brokers.slave_addr, RequestCode.SEND_MESSAGE, ext, b"other")
        assert response.code == ResponseCode.SUCCESS, response.remark
    brokers.slave.stop()
    brokers.slave_props.update(
        brokerId=1, brokerRole="SLAVE", brokerName=BROKER_NAME, namesrvAddr=brokers.namesrv_addr
    )
    brokers.start_slave()

    wait_until(lambda: log_has(brokers.master, "beyond this master's max offset"), 15)
    wait_until(lambda: log_has(brokers.slave, "refused our offset"), 15)
    # The slave still serves only its own history: none of the master's messages.
    for queue_id in range(QUEUES):
        records = await pull_records(
            brokers.slave_addr, queue_id, await max_offset(brokers.slave_addr, queue_id)
        )
        assert [m.body for m in decode_records(records)] == [b"other"] * 10
    assert sum([await max_offset(brokers.slave_addr, q) for q in range(QUEUES)]) == 40
