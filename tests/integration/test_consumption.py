"""Clustering, broadcasting and tag filtering against a real NameServer and broker."""

from __future__ import annotations

import pytest

from orbitmq.client import MQAdmin
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import decode_records
from orbitmq.remoting.client import RemotingClient
from tests.integration.conftest import Cluster
from tests.integration.scenario import produce, start_collector, wait_for

pytestmark = pytest.mark.slow


async def create_topic(cluster: Cluster, topic: str, queues: int = 4) -> None:
    admin = MQAdmin(cluster.namesrv_addr)
    await admin.start()
    try:
        await admin.create_topic(cluster.broker_addr, topic, queues, queues)
    finally:
        await admin.shutdown()


async def test_two_consumers_in_a_group_share_the_queues(cluster: Cluster) -> None:
    topic = "ShareTopic"
    await create_topic(cluster, topic, 4)
    first = await start_collector(cluster.namesrv_addr, "CG_SHARE", topic)
    second = await start_collector(cluster.namesrv_addr, "CG_SHARE", topic)
    try:

        def split() -> bool:
            a = {q for q in first.consumer.owned_queues if q.topic == topic}
            b = {q for q in second.consumer.owned_queues if q.topic == topic}
            return len(a) == 2 and len(b) == 2 and not a & b

        await wait_for(split, 30, "the two members never split the four queues 2/2")
        sent = await produce(cluster.namesrv_addr, topic, 80)
        expected = {m.body for m in sent}
        await wait_for(
            lambda: first.bodies | second.bodies >= expected, 30, "messages went missing"
        )
        assert first.bodies and second.bodies, "one member received nothing"
        assert not first.bodies & second.bodies, "a message was delivered to both members"
        assert first.bodies | second.bodies == expected
    finally:
        await first.consumer.shutdown()
        await second.consumer.shutdown()


async def test_broadcasting_gives_every_member_every_message(cluster: Cluster, tmp_path) -> None:
    topic = "BroadcastTopic"
    await create_topic(cluster, topic, 2)
    members = [
        await start_collector(
            cluster.namesrv_addr,
            "CG_BROADCAST",
            topic,
            message_model="BROADCASTING",
            offset_store_dir=tmp_path / f"member-{i}",
        )
        for i in range(2)
    ]
    try:
        await wait_for(
            lambda: all(len(m.consumer.owned_queues) == 2 for m in members),
            30,
            "broadcast members did not take every queue",
        )
        sent = await produce(cluster.namesrv_addr, topic, 30)
        expected = {m.body for m in sent}
        for member in members:
            await wait_for(lambda m=member: m.bodies >= expected, 30, "a member missed messages")
            assert member.bodies == expected
    finally:
        for member in members:
            await member.consumer.shutdown()


async def test_tag_filtering_delivers_only_matching_messages(cluster: Cluster) -> None:
    topic = "TagTopic"
    await create_topic(cluster, topic, 2)
    tags = ["TagA", "TagB", "TagC"]
    sent = await produce(cluster.namesrv_addr, topic, 60, tags=lambda i: tags[i % 3])
    collector = await start_collector(cluster.namesrv_addr, "CG_TAGS", topic, "TagA || TagC")
    try:
        expected = {m.body for m in sent if m.tags in ("TagA", "TagC")}
        await wait_for(lambda: collector.bodies >= expected, 30, "matching messages missing")
        # The broker filters by tag hash too: a raw pull returns no TagB record.
        client = RemotingClient()
        try:
            for queue_id in range(2):
                response = await client.invoke(
                    cluster.broker_addr,
                    RemotingCommand.request(
                        RequestCode.PULL_MESSAGE,
                        {
                            "consumerGroup": "CG_TAGS_RAW",
                            "topic": topic,
                            "queueId": str(queue_id),
                            "queueOffset": "0",
                            "maxMsgNums": "64",
                            "sysFlag": "4",
                            "commitOffset": "0",
                            "suspendTimeoutMillis": "0",
                            "subscription": "TagA || TagC",
                            "subVersion": "0",
                        },
                    ),
                    5.0,
                )
                assert response.code == ResponseCode.SUCCESS
                assert {m.tags for m in decode_records(response.body)} <= {"TagA", "TagC"}
        finally:
            await client.aclose()
        assert {m.tags for m in collector.received} == {"TagA", "TagC"}
        assert collector.bodies == expected
    finally:
        await collector.consumer.shutdown()
