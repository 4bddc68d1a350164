"""RocketMQ 5 topic message types and FIFO groups through the 4.x admin side, against a
real NameServer and broker (enableMixedMessageType and enableTopicMessageTypeCheck on):
`mqadmin updateTopic -a` (kept in topics.json across a restart, read back with
GET_TOPIC_CONFIG and GET_ALL_TOPIC_CONFIG), refused attribute changes, the send-time type
check (and MIXED topics, and the check turned off), and `updateSubGroup -o`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from orbitmq.client import Message, Producer
from orbitmq.client.admin import MQAdmin
from orbitmq.client.errors import MessageIllegalError
from tests.integration.conftest import Cluster, make_cluster
from tests.integration.test_mqadmin import admin, create_topic, ok, route_of
from tests.integration.test_mqadmin_topics import failed
from tests.processes import wait_until

pytestmark = pytest.mark.slow

REFUSED = "TopicMessageType validate failed, the expected type is {}, but actual type is {}"
FIFO = {"__SHARDINGKEY": "order-1"}  # what a message group becomes on the 4.x wire


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = make_cluster(
        tmp_path_factory.mktemp("typed"),
        enableMixedMessageType="true",
        enableTopicMessageTypeCheck="true",
    )
    try:
        yield running
    finally:
        running.stop()


async def topic_config(cluster: Cluster, topic: str) -> dict[str, Any]:
    """GET_TOPIC_CONFIG, checked against the same topic in GET_ALL_TOPIC_CONFIG."""
    async with MQAdmin(cluster.namesrv_addr) as mqadmin:
        one = await mqadmin.get_topic_config(cluster.broker_addr, topic)
        table = (await mqadmin.get_all_topic_config(cluster.broker_addr))["topicConfigTable"]
    assert table[topic] == one
    return one


def on_disk(cluster: Cluster, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((cluster.store_dir / "config" / name).read_text())
    return data


def set_broker_config(cluster: Cluster, key: str, value: str) -> None:
    ok(admin(cluster, "updateBrokerConfig", "-b", cluster.broker_addr, "-k", key, "-v", value))


async def test_update_topic_attributes_round_trip(cluster: Cluster) -> None:
    out = create_topic(cluster, "TypedT", "-r", "2", "-w", "2", "-a", "+message.type=FIFO")
    assert (
        "TopicConfig [topicName=TypedT, readQueueNums=2, writeQueueNums=2, perm=RW-, "
        "topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false, "
        "attributes={+message.type=FIFO}]"
    ) in out
    config = await topic_config(cluster, "TypedT")
    assert config == {
        "attributes": {"message.type": "FIFO"},
        "order": False,
        "perm": 6,
        "readQueueNums": 2,
        "topicFilterType": "SINGLE_TAG",
        "topicName": "TypedT",
        "topicSysFlag": 0,
        "writeQueueNums": 2,
    }
    # Without -a an update keeps the attributes; "-key" deletes one; "+key" changes one.
    create_topic(cluster, "TypedT", "-r", "4", "-w", "4")
    config = await topic_config(cluster, "TypedT")
    assert (config["readQueueNums"], config["attributes"]) == (4, {"message.type": "FIFO"})
    create_topic(cluster, "TypedT", "-r", "4", "-w", "4", "-a", "-message.type")
    assert (await topic_config(cluster, "TypedT"))["attributes"] == {}
    delay = ("-t", "TypedT", "-a", "+message.type=DELAY", "--json")
    as_json = json.loads(ok(admin(cluster, "updateTopic", "-c", "DefaultCluster", *delay)))
    assert as_json["topicConfig"]["attributes"] == {"+message.type": "DELAY"}
    assert (await topic_config(cluster, "TypedT"))["attributes"] == {"message.type": "DELAY"}
    assert on_disk(cluster, "topics.json")["topicConfigTable"]["TypedT"]["attributes"] == {
        "message.type": "DELAY"
    }

    cluster.restart_broker()
    wait_until(lambda: route_of(cluster, "TypedT") is not None, 15, 0.2, "routed again")
    assert (await topic_config(cluster, "TypedT"))["attributes"] == {"message.type": "DELAY"}
    assert (await topic_config(cluster, "TBW102"))["attributes"] == {}  # untyped: NORMAL


def test_bad_attribute_changes_are_refused_with_the_reason(cluster: Cluster) -> None:
    def refused(topic: str, text: str) -> str:
        result = admin(cluster, "updateTopic", "-c", "DefaultCluster", "-t", topic, "-a", text)
        return failed(result, "updateTopic")

    create_topic(cluster, "RefusedT")
    assert "add/alter attribute format is wrong: message.type=FIFO" in refused(
        "RefusedT", "message.type=FIFO"
    )
    assert "value is not in set: [DELAY, FIFO, MIXED, NORMAL, TRANSACTION, UNSPECIFIED]" in (
        refused("RefusedT", "+message.type=ORDERED")
    )
    assert "unsupported key: colour" in refused("RefusedT", "+colour=red")
    assert "attempt to update an unchangeable attribute. key: queue.type" in refused(
        "RefusedT", "+queue.type=SimpleCQ"
    )
    assert "attempt to delete a nonexistent key: message.type" in refused(
        "RefusedT", "-message.type"
    )
    assert "only add attribute is supported while creating topic" in refused(
        "NewRefusedT", "-message.type"
    )
    set_broker_config(cluster, "enableMixedMessageType", "false")
    try:
        assert "CODE: 29 DESC: MIXED message type is not supported." in refused(
            "RefusedT", "+message.type=MIXED"
        )
    finally:
        set_broker_config(cluster, "enableMixedMessageType", "true")
    assert route_of(cluster, "NewRefusedT") is None  # nothing was created


async def test_sends_must_match_the_topic_type(cluster: Cluster) -> None:
    create_topic(cluster, "FifoT", "-r", "2", "-w", "2", "-a", "+message.type=FIFO")
    create_topic(cluster, "MixedT", "-r", "2", "-w", "2", "-a", "+message.type=MIXED")
    async with Producer("PG_TYPED", cluster.namesrv_addr) as producer:
        with pytest.raises(MessageIllegalError) as caught:
            await producer.send(Message("FifoT", b"normal"))
        assert caught.value.remark == REFUSED.format("FIFO", "NORMAL")
        await producer.send(Message("FifoT", b"fifo", properties=FIFO))
        for message in (
            Message("MixedT", b"normal"),
            Message("MixedT", b"fifo", properties=FIFO),
            Message("MixedT", b"delayed", delay_time_level=1),
        ):
            await producer.send(message)
        set_broker_config(cluster, "enableTopicMessageTypeCheck", "false")
        try:
            await producer.send(Message("FifoT", b"unchecked"))
        finally:
            set_broker_config(cluster, "enableTopicMessageTypeCheck", "true")
    sent = admin(cluster, "sendMessage", "-t", "FifoT", "-p", "from mqadmin")
    assert REFUSED.format("FIFO", "NORMAL") in sent.stdout + sent.stderr


async def test_update_sub_group_orderly(cluster: Cluster) -> None:
    async def orderly() -> object:
        async with MQAdmin(cluster.namesrv_addr) as mqadmin:
            groups = await mqadmin.get_all_subscription_group(cluster.broker_addr)
        return groups["FIFO_G"].get("consumeMessageOrderly")

    out = ok(admin(cluster, "updateSubGroup", "-c", "DefaultCluster", "-g", "FIFO_G", "-o", "true"))
    assert out.splitlines()[1] == (
        "SubscriptionGroupConfig [groupName=FIFO_G, consumeEnable=true, "
        "consumeFromMinEnable=false, consumeBroadcastEnable=false, consumeMessageOrderly=true, "
        "retryQueueNums=1, "
        "retryMaxTimes=16, brokerId=0, whichBrokerWhenConsumeSlowly=1, "
        "notifyConsumerIdsChangedEnable=true]"
    )
    assert await orderly() is True
    table = on_disk(cluster, "subscriptionGroup.json")["subscriptionGroupTable"]
    assert table["FIFO_G"]["consumeMessageOrderly"] is True
    ok(admin(cluster, "updateSubGroup", "-b", cluster.broker_addr, "-g", "FIFO_G", "-o", "false"))
    assert await orderly() is False
    bad = admin(cluster, "updateSubGroup", "-b", cluster.broker_addr, "-g", "FIFO_G", "-o", "yes")
    assert "'yes' is not true or false" in failed(bad, "updateSubGroup")
