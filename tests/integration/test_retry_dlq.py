"""Retry with growing delay, dead letters, and CONSUMER_SEND_MSG_BACK bad input, against
a real broker whose delay levels are short: "1s 1s 1s 2s 3s" (a send-back with delay
level 0 waits level 3 + reconsumeTimes: 1 s, 2 s, then 3 s, the last level, for good)."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from orbitmq.client import (
    ConsumeStatus,
    Message,
    MessageExt,
    MessageQueue,
    MQAdmin,
    MQClientError,
    Producer,
    PullConsumer,
    PullStatus,
    PushConsumer,
    SendResult,
)
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import decode_offset_msg_id
from orbitmq.protocol.perm import PERM_READ, PERM_WRITE
from orbitmq.remoting.client import RemotingClient
from tests.integration.conftest import Cluster, make_cluster
from tests.integration.scenario import wait_for

pytestmark = pytest.mark.slow

LEVELS = "1s 1s 1s 2s 3s"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = make_cluster(tmp_path_factory.mktemp("retry"), messageDelayLevel=LEVELS)
    try:
        yield running
    finally:
        running.stop()


def run_mqadmin(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NAMESRV_ADDR"}
    return subprocess.run(
        [sys.executable, "-m", "orbitmq", "admin", *args, "-n", cluster.namesrv_addr],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def broker_name(cluster: Cluster) -> str:
    return str(cluster.broker_props["brokerName"])


async def send_one(cluster: Cluster, topic: str, body: bytes) -> SendResult:
    async with MQAdmin(cluster.namesrv_addr) as admin:
        await admin.create_topic(cluster.broker_addr, topic, 1, 1)
    async with Producer("PG_RETRY", cluster.namesrv_addr) as producer:
        return await producer.send(Message(topic, body, tags="TagR", keys=["retry-key"]))


async def send_back(
    cluster: Cluster,
    offset: int,
    group: str,
    *,
    delay_level: int = 0,
    max_reconsume_times: int | None = None,
) -> RemotingCommand:
    ext = {"offset": str(offset), "group": group, "delayLevel": str(delay_level)}
    if max_reconsume_times is not None:
        ext["maxReconsumeTimes"] = str(max_reconsume_times)
    client = RemotingClient()
    try:
        return await client.invoke(
            cluster.broker_addr,
            RemotingCommand.request(RequestCode.CONSUMER_SEND_MSG_BACK, ext),
            5.0,
        )
    finally:
        await client.aclose()


async def pull_all(cluster: Cluster, topic: str, group: str = "CG_DLQ_READER") -> list[MessageExt]:
    """Everything in `topic`, read like an operator would, with a PullConsumer (once the
    broker has registered the topic, created on first use, with the NameServer)."""
    async with PullConsumer(group, cluster.namesrv_addr) as consumer:
        deadline = time.monotonic() + 10
        while True:
            try:
                queues = await consumer.fetch_message_queues(topic)
                break
            except MQClientError:
                assert time.monotonic() < deadline, f"{topic} never got a route"
                await asyncio.sleep(0.1)
        messages: list[MessageExt] = []
        for mq in queues:
            offset = 0
            while True:
                result = await consumer.pull(mq, "*", offset, 32)
                if result.status is not PullStatus.FOUND:
                    break
                messages.extend(result.messages)
                offset = result.next_begin_offset
        return messages


async def test_failed_message_is_redelivered_with_growing_delay(cluster: Cluster) -> None:
    topic, group = "RetryGrowing", "CG_RETRY_GROWING"
    deliveries: list[tuple[float, MessageExt]] = []

    def fail_three_times(msgs: list[MessageExt]) -> ConsumeStatus:
        deliveries.extend((time.monotonic(), m) for m in msgs)
        return (
            ConsumeStatus.RECONSUME_LATER if len(deliveries) <= 3 else ConsumeStatus.CONSUME_SUCCESS
        )

    async with MQAdmin(cluster.namesrv_addr) as admin:
        await admin.create_topic(cluster.broker_addr, topic, 1, 1)
    consumer = PushConsumer(
        group, cluster.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    consumer.subscribe(topic)
    consumer.register_message_listener(fail_three_times)
    await consumer.start()
    try:
        async with Producer("PG_RETRY", cluster.namesrv_addr) as producer:
            sent = await producer.send(Message(topic, b"flaky", tags="TagR", keys=["k-flaky"]))
        await wait_for(lambda: len(deliveries) >= 4, 20, f"only {len(deliveries)} deliveries")
        await asyncio.sleep(0.5)  # nothing more after the success
    finally:
        await consumer.shutdown()
    assert len(deliveries) == 4
    first = deliveries[0][1]
    assert (first.topic, first.reconsume_times) == (topic, 0)
    for n, (_, msg) in enumerate(deliveries[1:], start=1):
        # from %RETRY%<group>, presented with the original topic, counting retries
        assert (msg.topic, msg.reconsume_times) == (topic, n)
        assert (msg.msg_id, msg.body, msg.tags, msg.keys) == (
            sent.msg_id,
            b"flaky",
            "TagR",
            ["k-flaky"],
        )
        assert msg.properties["RETRY_TOPIC"] == topic
        assert msg.properties["ORIGIN_MESSAGE_ID"] == sent.msg_id
        assert "DELAY" not in msg.properties
    intervals = [b[0] - a[0] for a, b in itertools.pairwise(deliveries)]
    print(f"\nretry intervals (levels 3, 4, 5 = 1 s, 2 s, 3 s): {[round(i, 3) for i in intervals]}")
    for interval, expected in zip(intervals, (1.0, 2.0, 3.0), strict=True):
        assert expected - 0.05 <= interval <= expected + 1.0, intervals
    async with MQAdmin(cluster.namesrv_addr) as admin:
        retry_queue = MessageQueue(f"%RETRY%{group}", broker_name(cluster), 0)
        assert await admin.max_offset(retry_queue) == 3


async def test_push_consumer_gives_up_into_the_dlq(cluster: Cluster) -> None:
    """A listener that always fails: max_reconsume_times=2 retries, then %DLQ%<group>."""
    topic, group = "RetryGiveUp", "CG_RETRY_GIVE_UP"
    deliveries: list[MessageExt] = []

    def always_fail(msgs: list[MessageExt]) -> ConsumeStatus:
        deliveries.extend(msgs)
        return ConsumeStatus.RECONSUME_LATER

    async with MQAdmin(cluster.namesrv_addr) as admin:
        await admin.create_topic(cluster.broker_addr, topic, 1, 1)
    consumer = PushConsumer(
        group,
        cluster.namesrv_addr,
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        max_reconsume_times=2,
    )
    consumer.subscribe(topic)
    consumer.register_message_listener(always_fail)
    await consumer.start()
    try:
        async with Producer("PG_RETRY", cluster.namesrv_addr) as producer:
            sent = await producer.send(Message(topic, b"hopeless"))
        dead = []
        deadline = time.monotonic() + 15
        while not dead:
            assert time.monotonic() < deadline, f"not in the DLQ; {len(deliveries)} deliveries"
            await asyncio.sleep(0.2)
            if len(deliveries) >= 3:
                dead = await pull_all(cluster, f"%DLQ%{group}")
        await asyncio.sleep(0.5)
    finally:
        await consumer.shutdown()
    assert [m.reconsume_times for m in deliveries] == [0, 1, 2]
    assert [m.msg_id for m in dead] == [sent.msg_id]
    assert dead[0].reconsume_times == 3 and dead[0].properties["RETRY_TOPIC"] == topic


async def test_spent_message_goes_to_a_readable_dlq(cluster: Cluster) -> None:
    topic, group = "RetrySpent", "CG_RETRY_SPENT"
    sent = await send_one(cluster, topic, b"poison")
    offset = decode_offset_msg_id(sent.offset_msg_id)[2]
    # first failure: retried (reconsumeTimes 0 < 1), parked at level 3
    response = await send_back(cluster, offset, group, max_reconsume_times=1)
    assert response.code == ResponseCode.SUCCESS, response.remark
    retry_topic = f"%RETRY%{group}"
    retried: list[MessageExt] = []

    async def arrived() -> bool:
        retried[:] = await pull_all(cluster, retry_topic)
        return bool(retried)

    deadline = time.monotonic() + 5
    while not await arrived():
        assert time.monotonic() < deadline, "the retry never reached %RETRY%"
        await asyncio.sleep(0.1)
    assert retried[0].reconsume_times == 1
    # second failure: reconsumeTimes 1 >= 1 -> %DLQ%<group>, no delay
    response = await send_back(cluster, retried[0].commit_log_offset, group, max_reconsume_times=1)
    assert response.code == ResponseCode.SUCCESS, response.remark
    # and one sent back with delayLevel -1 goes straight there too
    other = await send_one(cluster, topic, b"straight")
    other_offset = decode_offset_msg_id(other.offset_msg_id)[2]
    response = await send_back(cluster, other_offset, group, delay_level=-1)
    assert response.code == ResponseCode.SUCCESS, response.remark

    dlq = f"%DLQ%{group}"
    async with MQAdmin(cluster.namesrv_addr) as admin:
        config = (await admin.get_all_topic_config(cluster.broker_addr))["topicConfigTable"][dlq]
    assert config["perm"] == PERM_READ | PERM_WRITE
    assert config["readQueueNums"] == config["writeQueueNums"] == 1
    dead = await pull_all(cluster, dlq)
    assert sorted(m.body for m in dead) == [b"poison", b"straight"]
    poison = next(m for m in dead if m.body == b"poison")
    assert poison.topic == dlq
    assert poison.reconsume_times == 2
    assert poison.msg_id == sent.msg_id
    assert poison.properties["RETRY_TOPIC"] == topic
    assert poison.properties["ORIGIN_MESSAGE_ID"] == sent.msg_id
    assert (poison.tags, poison.keys) == ("TagR", ["retry-key"])
    assert "DELAY" not in poison.properties

    # an operator reads it with mqadmin consumeMessage
    result = await asyncio.to_thread(run_mqadmin, cluster, "consumeMessage", "-t", dlq)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("MSGID: ") == 2 and "BODY: poison" in result.stdout


async def test_send_back_of_a_nonexistent_offset_is_an_error(cluster: Cluster) -> None:
    group = "CG_RETRY_BAD"
    sent = await send_one(cluster, "RetryBadOffset", b"fine")
    offset = decode_offset_msg_id(sent.offset_msg_id)[2]
    for bad in (offset + 1, 1 << 40, -5):
        response = await send_back(cluster, bad, group)
        assert response.code == ResponseCode.SYSTEM_ERROR, (bad, response.code)
        assert response.remark is not None and str(bad) in response.remark
    # a record no consumer was ever given (here: parked for a delay) cannot be sent back
    async with Producer("PG_RETRY", cluster.namesrv_addr) as producer:
        parked = await producer.send(Message("RetryBadOffset", b"later", delay_time_level=5))
    parked_offset = decode_offset_msg_id(parked.offset_msg_id)[2]
    response = await send_back(cluster, parked_offset, group)
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert "never delivered" in (response.remark or "")
    response = await send_back(cluster, offset, group, max_reconsume_times=5)
    assert response.code == ResponseCode.SUCCESS  # the broker is fine and the real one works
    async with MQAdmin(cluster.namesrv_addr) as admin:
        routes = (await admin.get_all_topic_config(cluster.broker_addr))["topicConfigTable"]
    assert f"%DLQ%{group}" not in routes  # nothing went to a DLQ


async def test_retry_topic_send_past_max_reconsume_times_goes_to_dlq(cluster: Cluster) -> None:
    """Java's client resends a message itself when the send-back fails; past
    maxReconsumeTimes such a SEND is diverted to the DLQ, and its DELAY dropped."""
    group = "CG_RETRY_SEND"
    client = RemotingClient()
    try:
        ext = {
            "a": "PG_RETRY_SEND",
            "b": f"%RETRY%{group}",
            "c": "TBW102",
            "d": "4",
            "e": "0",
            "f": "0",
            "g": str(int(time.time() * 1000)),
            "h": "0",
            "i": "DELAY\x013\x02RETRY_TOPIC\x01Orig",
            "j": "3",
            "l": "3",
        }
        response = await client.invoke(
            cluster.broker_addr,
            RemotingCommand(code=RequestCode.SEND_MESSAGE_V2, ext_fields=ext, body=b"spent"),
            5.0,
        )
    finally:
        await client.aclose()
    assert response.code == ResponseCode.SUCCESS, response.remark
    dead = await pull_all(cluster, f"%DLQ%{group}")
    assert [m.body for m in dead] == [b"spent"]
    assert "DELAY" not in dead[0].properties
