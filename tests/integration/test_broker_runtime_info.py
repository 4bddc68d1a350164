"""GET_BROKER_RUNTIME_INFO of a real broker after real sends and pulls: what
rocketmq-exporter parses (tests/runtime_info_contract.py), with put times that account
for every message stored."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orbitmq.client import Message, MQAdmin, Producer, PullConsumer, PullStatus
from tests.integration.conftest import make_cluster
from tests.runtime_info_contract import DISTRIBUTION_KEY, exporter_problems, parse_distribution

pytestmark = pytest.mark.slow

TOPIC = "RuntimeInfoTopic"
SINGLES = 100
BATCHES = 4
BATCH_SIZE = 500  # appended in one call of a few ms: it spans a millisecond tick


async def test_put_times_account_for_every_put(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path)
    try:
        async with MQAdmin(cluster.namesrv_addr) as admin:
            # Registered before the reply, so the pull consumer's route has the broker
            # (an auto-created topic reaches the NameServer a moment after the send).
            await admin.create_topic(cluster.broker_addr, TOPIC, 4, 4)
        async with Producer("PG_RUNTIME_INFO", cluster.namesrv_addr) as producer:
            for i in range(SINGLES):
                await producer.send(Message(TOPIC, f"single-{i}".encode()))
            for b in range(BATCHES):
                batch = [Message(TOPIC, f"batch-{b}-{i}".encode() * 20) for i in range(BATCH_SIZE)]
                queue = (await producer.send_batch(batch)).message_queue
        consumer = PullConsumer("CG_RUNTIME_INFO", cluster.namesrv_addr)
        await consumer.start()
        try:
            pulled = await consumer.pull(queue, "*", 0, 32)
            assert pulled.status is PullStatus.FOUND
        finally:
            await consumer.shutdown()
        async with MQAdmin(cluster.namesrv_addr) as admin:
            table = await admin.get_broker_runtime_info(cluster.broker_addr)
    finally:
        cluster.stop()

    assert exporter_problems(table) == []
    puts = SINGLES + BATCHES * BATCH_SIZE
    assert int(table["putMessageTimesTotal"]) == int(table["msgPutTotalTodayNow"]) == puts
    assert sum(parse_distribution(table[DISTRIBUTION_KEY]).values()) == puts
    assert int(table["putMessageEntireTimeMax"]) > 0
    assert int(table["msgGetTotalTodayNow"]) >= 32
    boot = int(table["bootTimestamp"])
    assert boot <= int(table["startAcceptSendRequestTimeStamp"]) <= time.time() * 1000
