"""Message trace against a real NameServer and broker: a traced producer and a traced
consumer write Pub / SubBefore / SubAfter records to RMQ_SYS_TRACE_TOPIC, and the
records are found by message id with QUERY_MESSAGE, as `mqadmin queryMsgTraceById` does."""

from __future__ import annotations

import asyncio
import time

import pytest

from orbitmq.client import ConsumeStatus, Message, MessageExt, MQAdmin, Producer, PushConsumer
from orbitmq.client.trace import TRACE_TOPIC, TraceType, decode_traces
from tests.integration.conftest import Cluster
from tests.integration.scenario import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


async def test_send_and_consume_are_traced_and_found_by_message_id(cluster: Cluster) -> None:
    topic, group = "TracedTopic", "CG_TRACED"
    async with MQAdmin(cluster.namesrv_addr) as admin:
        await admin.create_topic(cluster.broker_addr, topic, 2, 2)
    got: list[MessageExt] = []

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        got.extend(msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    consumer = PushConsumer(
        group,
        cluster.namesrv_addr,
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        enable_trace=True,
    )
    consumer.subscribe(topic)
    consumer.register_message_listener(listener)
    async with Producer("PG_TRACED", cluster.namesrv_addr, enable_trace=True) as producer:
        result = await producer.send(Message(topic, b"traced", tags="TagT", keys="order-77"))
        async with consumer:
            await wait_for(lambda: any(m.msg_id == result.msg_id for m in got), 20, "not consumed")
    async with MQAdmin(cluster.namesrv_addr) as admin:
        deadline = time.monotonic() + 20
        while True:
            try:
                found = await admin.query_message(TRACE_TOPIC, result.msg_id)
            except Exception:
                found = []
            records = [r for m in found for r in decode_traces(m.body) if r.msg_id == result.msg_id]
            kinds = {r.trace_type for r in records}
            if kinds >= {TraceType.Pub, TraceType.SubBefore, TraceType.SubAfter}:
                break
            assert time.monotonic() < deadline, f"trace records missing: {records}"
            await asyncio.sleep(0.3)
    [pub] = [r for r in records if r.trace_type is TraceType.Pub]
    assert (pub.topic, pub.group, pub.tags, pub.keys) == (topic, "PG_TRACED", "TagT", "order-77")
    assert pub.offset_msg_id == result.offset_msg_id
    assert pub.store_host == cluster.broker_addr
    before = next(r for r in records if r.trace_type is TraceType.SubBefore)
    after = next(r for r in records if r.trace_type is TraceType.SubAfter)
    assert before.group == after.group == group
    assert before.request_id == after.request_id
    assert after.success and after.context_code == 0
