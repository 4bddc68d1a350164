"""Client and broker fixes the web console needs, against a real NameServer and broker:
a traced producer closed right after a send still writes its Pub record (timed from the
start of the send, as Java's); a push consumer's running info lists the queues it owns
with their ProcessQueueInfo (what consumerStatus and the console show); and browsing
pulls as TOOLS_CONSUMER are not counted as consumption (apache/rocketmq#7619)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from orbitmq.client import (
    ConsumeStatus,
    Message,
    MessageExt,
    MQAdmin,
    Producer,
    PullConsumer,
    PushConsumer,
)
from orbitmq.client.consumer.pull_codec import PullStatus
from orbitmq.client.trace import TRACE_TOPIC, TraceRecord, TraceType, decode_traces
from orbitmq.dashboard.message_queries import pull_range
from tests.integration.conftest import Cluster, make_cluster
from tests.integration.scenario import wait_for
from tests.integration.test_broker_metrics import prom_exporter, scrape
from tests.integration.test_mqadmin import admin, ok
from tests.processes import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = make_cluster(tmp_path_factory.mktemp("console-fixes"), **prom_exporter(free_port()))
    try:
        yield running
    finally:
        running.stop()


async def pub_record(admin: MQAdmin, msg_id: str) -> TraceRecord:
    """The Pub record of `msg_id` in the trace topic, found by message id (20 s at most)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            found = await admin.query_message(TRACE_TOPIC, msg_id)
        except Exception:
            found = []
        pubs = [
            r
            for m in found
            for r in decode_traces(m.body)
            if r.msg_id == msg_id and r.trace_type is TraceType.Pub
        ]
        if pubs:
            return pubs[0]
        assert time.monotonic() < deadline, f"no Pub trace record of {msg_id}"
        await asyncio.sleep(0.3)


@pytest.mark.parametrize("how", ["send", "send_async"])
async def test_a_producer_closed_right_after_a_send_keeps_its_pub_trace(
    cluster: Cluster, how: str
) -> None:
    topic = "ConsoleTracedTopic"
    async with MQAdmin(cluster.namesrv_addr) as admin_client:
        await admin_client.create_topic(cluster.broker_addr, topic, 2, 2)
    producer = Producer(f"PG_CLOSE_TRACED_{how}", cluster.namesrv_addr, enable_trace=True)
    await producer.start()
    message = Message(topic, b"last words", keys=f"close-{how}")
    if how == "send":
        result = await producer.send(message)
        await asyncio.sleep(0)  # whatever the caller does next gives the trace loop a turn
        await producer.shutdown()
    else:
        sending = producer.send_async(message)
        await producer.shutdown()  # waits for the send, then closes the trace dispatcher
        result = sending.result()
    async with MQAdmin(cluster.namesrv_addr) as admin_client:
        pub = await pub_record(admin_client, result.msg_id)
        stored = await admin_client.view_message(result.offset_msg_id)
    assert (pub.topic, pub.keys, pub.offset_msg_id) == (topic, f"close-{how}", result.offset_msg_id)
    assert pub.success
    # Java's timestamp is when the send began: the broker stored the message between it
    # and the answer (1 ms of slack for the rounding to ms).
    assert pub.timestamp - 1 <= stored.store_timestamp <= pub.timestamp + pub.cost_time + 1


async def test_running_info_lists_every_owned_queue(cluster: Cluster) -> None:
    topic, group, sent = "ConsoleOwnedTopic", "CG_CONSOLE_OWNED", 12
    async with MQAdmin(cluster.namesrv_addr) as admin_client:
        await admin_client.create_topic(cluster.broker_addr, topic, 4, 4)
    async with Producer("PG_CONSOLE_OWNED", cluster.namesrv_addr) as producer:
        for i in range(sent):
            await producer.send(Message(topic, b"m%d" % i))
    got: list[MessageExt] = []

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        got.extend(msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    consumer = PushConsumer(
        group, cluster.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    consumer.subscribe(topic)
    consumer.register_message_listener(listener)
    started_ms = time.time_ns() // 1_000_000
    async with consumer, MQAdmin(cluster.namesrv_addr) as admin_client:
        await wait_for(lambda: len(got) >= sent, 20, "not consumed")
        owned = [mq for mq in consumer.owned_queues if mq.topic == topic]
        assert [mq.queue_id for mq in owned] == [0, 1, 2, 3]
        info = await admin_client.get_consumer_running_info(group, consumer.client_id)
        # The retry topic's queues are owned too, once the rebalance found its route.
        assert set(info.mq_table) <= set(consumer.owned_queues)
        mine = {mq: pq for mq, pq in info.mq_table.items() if mq.topic == topic}
        assert sorted(mine) == owned
        assert sum(pq["commitOffset"] for pq in mine.values()) == sent
        for pq in mine.values():
            assert pq["cachedMsgCount"] == 0 and pq["droped"] is False
            assert (
                pq["lastPullTimestamp"] >= started_ms and pq["lastConsumeTimestamp"] >= started_ms
            )
        detail = await asyncio.to_thread(
            admin, cluster, "consumerStatus", "-g", group, "-i", consumer.client_id
        )
    lines = ok(detail).splitlines()
    offsets = lines[lines.index("#Consumer Offset#") + 2 : lines.index("#Consumer MQ Detail#")]
    rows = [row.split() for row in offsets if row.startswith(f"{topic} ")]
    assert [int(row[2]) for row in rows] == [0, 1, 2, 3]
    assert sum(int(row[3]) for row in rows) == sent
    mq_detail = lines[lines.index("#Consumer MQ Detail#") + 2 : lines.index("#Consumer RT&TPS#")]
    details = [row for row in mq_detail if row.startswith(f"{topic} ")]
    assert len(details) == 4
    assert all("ProcessQueueInfo [commitOffset=" in row for row in details)


async def test_browsing_as_tools_consumer_is_not_counted_as_consumption(cluster: Cluster) -> None:
    topic, group, sent = "ConsoleBrowsedTopic", "CG_CONSOLE_REAL", 10
    port = int(cluster.broker_props["metricsPromExporterPort"])
    async with MQAdmin(cluster.namesrv_addr) as admin_client:
        await admin_client.create_topic(cluster.broker_addr, topic, 2, 2)
        async with Producer("PG_CONSOLE_BROWSED", cluster.namesrv_addr) as producer:
            for i in range(sent):
                await producer.send(Message(topic, b"b%d" % i))

        async def consumed_today() -> int:
            info = await admin_client.get_broker_runtime_info(cluster.broker_addr)
            return int(info["msgGetTotalTodayNow"])

        queues = (await admin_client.topic_route(topic)).subscribe_queues(topic)
        before = await consumed_today()
        browsed = []
        for mq in queues:
            end = await admin_client.max_offset(mq)
            browsed += await pull_range(admin_client, cluster.broker_addr, mq, 0, end)
        assert len(browsed) == sent
        assert await consumed_today() == before

        async with PullConsumer(group, cluster.namesrv_addr) as consumer:
            pulled = 0
            for mq in await consumer.fetch_message_queues(topic):
                result = await consumer.pull(mq, "*", 0, 32)
                if result.status is PullStatus.FOUND:
                    pulled += len(result.messages)
        assert pulled == sent
        assert await consumed_today() == before + sent

    samples = await scrape(port)
    out = {
        s.labels["consumer_group"]: s.value
        for s in samples
        if s.name == "rocketmq_messages_out_total" and s.labels.get("topic") == topic
    }
    assert out == {group: sent}
