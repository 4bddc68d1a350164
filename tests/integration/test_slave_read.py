"""Reads and offsets around a slave between real processes (store-and-replication.md
§8.7-8.8): the master steers pulls to the slave when the data is "not in memory"
(accessMessageInMemoryMaxRatio=0 makes every pull so), and with the master killed,
consumers commit their offsets to the slave, which persists them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orbitmq.client import Message, MQAdmin, Producer, PullConsumer
from orbitmq.client.consumer.pull_codec import PullStatus
from orbitmq.protocol.codes import RequestCode, ResponseCode
from tests.integration.scenario import start_collector, wait_for
from tests.integration.test_slave_sync import MasterSlave, request, start_master_slave

pytestmark = pytest.mark.slow

TOPIC = "SlaveReadTopic"
SYNC_WAIT = 25.0


@pytest.fixture(scope="module")
def master_slave(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MasterSlave]:
    running = start_master_slave(
        tmp_path_factory.mktemp("slave-read"),
        master={"slaveReadEnable": "true", "accessMessageInMemoryMaxRatio": 0},
        slave={"slaveReadEnable": "true", "flushConsumerOffsetInterval": 1000},
    )
    try:
        yield running
    finally:
        running.stop()


async def test_the_master_suggests_the_slave_for_data_not_in_memory(
    master_slave: MasterSlave,
) -> None:
    async with MQAdmin(master_slave.namesrv_addr) as admin:
        await admin.create_topic(master_slave.master_addr, TOPIC, 2, 2)
    async with Producer("PG_SLAVE_READ", master_slave.namesrv_addr) as producer:
        for i in range(6):
            await producer.send(Message(TOPIC, f"m{i}".encode()))
    async with PullConsumer("CG_SUGGEST", master_slave.namesrv_addr) as consumer:
        queues = await consumer.fetch_message_queues(TOPIC)
        found = [await consumer.pull(mq, "*", 0, 32) for mq in queues]
    assert all(result.status is PullStatus.FOUND for result in found)
    assert {result.suggest_which_broker_id for result in found} == {1}


async def test_with_the_master_killed_offsets_are_committed_to_the_slave(
    master_slave: MasterSlave,
) -> None:
    """Runs last in this module: it kills the master."""
    collector = await start_collector(master_slave.namesrv_addr, "CG_FAILOVER", TOPIC)
    try:
        await wait_for(lambda: len(collector.received) >= 6, 30, "the messages were not consumed")

        def topic_on_slave() -> bool:
            topics = master_slave.slave_config("topics.json") or {}
            return TOPIC in topics.get("topicConfigTable", {})

        await wait_for(topic_on_slave, SYNC_WAIT, "the topic never reached the slave")
        master_slave.master.kill()

        async with MQAdmin(master_slave.namesrv_addr) as admin:

            async def master_gone() -> bool:
                route = await admin.topic_route(TOPIC)
                return all(0 not in b.broker_addrs for b in route.broker_datas)

            for _ in range(100):
                if await master_gone():
                    break
            assert await master_gone(), "the NameServer still lists the killed master"

        # An explicit commit of a value the master never saw lands on the slave.
        async with PullConsumer("CG_EXPLICIT", master_slave.namesrv_addr) as consumer:
            mq = (await consumer.fetch_message_queues(TOPIC))[0]
            await consumer.update_consumer_offset(mq, 5)
            assert await consumer.query_consumer_offset(mq) == 5

        # The push consumer goes on committing what it consumed from the master.
        def offsets_on_slave_disk() -> bool:
            offsets = master_slave.slave_config("consumerOffset.json") or {}
            table = offsets.get("offsetTable", {})
            failover = table.get(f"{TOPIC}@CG_FAILOVER", {})
            explicit = table.get(f"{TOPIC}@CG_EXPLICIT", {})
            return sum(failover.values()) == 6 and str(mq.queue_id) in explicit

        await wait_for(offsets_on_slave_disk, 20, "the slave never persisted the offsets")
        assert len(collector.received) == 6, "messages were delivered again"
        query = {"consumerGroup": "CG_EXPLICIT", "topic": TOPIC, "queueId": str(mq.queue_id)}
        answer = await request(master_slave.slave_addr, RequestCode.QUERY_CONSUMER_OFFSET, query)
        assert answer.code == ResponseCode.SUCCESS
        assert answer.ext_fields["offset"] == "5"
    finally:
        await collector.consumer.shutdown()
