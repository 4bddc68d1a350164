"""CONSUME_MESSAGE_DIRECTLY (309) against a real broker: the broker relays a stored message
to the named member of a group, our PushConsumer hands it to its listener and answers a
ConsumeMessageDirectlyResult, whatever its subscription filters; the broker names a
member that is not online or a message it does not have."""

from __future__ import annotations

import pytest

from orbitmq.client import (
    ConsumeStatus,
    Message,
    MessageExt,
    MQAdmin,
    MQBrokerError,
    Producer,
    PushConsumer,
)
from orbitmq.dashboard.message_queries import ConsumeDirectlyResult, consume_message_directly
from orbitmq.protocol.codes import ResponseCode
from orbitmq.protocol.message import create_offset_msg_id
from tests.integration.conftest import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

TOPIC = "ConsumeDirectlyTopic"
GROUP = "CG_CONSUME_DIRECTLY"


async def test_a_member_consumes_a_relayed_message_and_answers(cluster: Cluster) -> None:
    got: list[MessageExt] = []

    async def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        got.extend(msgs)
        if msgs[0].body == b"raise":
            raise RuntimeError("listener failed")
        return ConsumeStatus.CONSUME_SUCCESS

    async with MQAdmin(cluster.namesrv_addr) as admin:
        await admin.create_topic(cluster.broker_addr, TOPIC, 2, 2)
        # Its subscription never matches: what it gets comes by the relay only.
        consumer = PushConsumer(GROUP, cluster.namesrv_addr)
        consumer.subscribe(TOPIC, "OnlyThisTag")
        consumer.register_message_listener(listener)
        async with Producer("PG_CONSUME_DIRECTLY", cluster.namesrv_addr) as producer:
            ok = await producer.send(Message(TOPIC, b"hello", tags="Other", keys=["direct-1"]))
            bad = await producer.send(Message(TOPIC, b"raise", tags="Other"))
        async with consumer:

            async def relay(
                offset_msg_id: str, client_id: str = consumer.client_id
            ) -> ConsumeDirectlyResult:
                return await consume_message_directly(
                    admin, cluster.broker_addr, GROUP, client_id, TOPIC, offset_msg_id, 10.0
                )

            result = await relay(ok.offset_msg_id)
            assert (result.consume_result, result.order, result.auto_commit) == (
                "CR_SUCCESS", False, True,
            )  # fmt: skip
            assert [(m.msg_id, m.body, m.keys) for m in got] == [
                (ok.msg_id, b"hello", ["direct-1"])
            ]

            result = await relay(bad.offset_msg_id)
            assert result.consume_result == "CR_THROW_EXCEPTION"
            assert result.remark == "RuntimeError: listener failed"

            with pytest.raises(MQBrokerError) as offline:
                await relay(ok.offset_msg_id, client_id="127.0.0.1@nobody")
            assert offline.value.code == ResponseCode.SYSTEM_ERROR
            assert f"The Consumer <{GROUP}> <127.0.0.1@nobody> not online" in offline.value.remark

            beyond = create_offset_msg_id(("127.0.0.1", 1), 1 << 40)
            with pytest.raises(MQBrokerError) as missing:
                await relay(beyond)
            assert "can not find message by the offset" in missing.value.remark
        assert len(got) == 2
