"""Delay-level messages against a real broker with the default `messageDelayLevel`.

Accuracy is measured two ways for every delayed message a consumer receives:
  store  = delivered store timestamp - (born timestamp + level delay): the broker's error
  recv   = receive time - (born timestamp + level delay): what an application sees
and printed (run with `-s` to see the table).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from orbitmq.client import (
    ConsumeStatus,
    Message,
    MessageExt,
    MessageQueue,
    MQAdmin,
    Producer,
    PushConsumer,
)
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.fastjson import loads_tolerant
from orbitmq.protocol.message import decode_records
from orbitmq.remoting.client import RemotingClient
from tests.integration.conftest import Cluster, make_cluster
from tests.integration.scenario import wait_for

pytestmark = pytest.mark.slow

SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX"
DEFAULT_DELAYS_MS = {1: 1000, 2: 5000}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = make_cluster(tmp_path_factory.mktemp("delay"))  # default delay levels
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Received:
    at_ms: int
    msg: MessageExt


class Recorder:
    def __init__(self) -> None:
        self.received: list[Received] = []

    def __call__(self, msgs: list[MessageExt]) -> ConsumeStatus:
        now = time.time_ns() // 1_000_000
        self.received.extend(Received(now, m) for m in msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    def bodies(self) -> list[bytes]:
        return [r.msg.body for r in self.received]


async def create_topic(cluster: Cluster, topic: str, queues: int = 2) -> None:
    async with MQAdmin(cluster.namesrv_addr) as admin:
        await admin.create_topic(cluster.broker_addr, topic, queues, queues)


async def start_consumer(cluster: Cluster, group: str, topic: str) -> tuple[PushConsumer, Recorder]:
    """A consumer already long-polling every queue of `topic` (checked with a probe)."""
    recorder = Recorder()
    consumer = PushConsumer(
        group, cluster.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    consumer.subscribe(topic)
    consumer.register_message_listener(recorder)
    await consumer.start()
    await wait_for(
        lambda: sum(q.topic == topic for q in consumer.owned_queues) == 2, 20, "no queues owned"
    )
    async with Producer("PG_DELAY_PROBE", cluster.namesrv_addr) as probe:
        for queue_id in range(2):
            mq = MessageQueue(topic, str(cluster.broker_props["brokerName"]), queue_id)
            await probe.send_to_queue(Message(topic, b"probe"), mq)
    await wait_for(lambda: recorder.bodies().count(b"probe") == 2, 20, "probes not received")
    return consumer, recorder


def accuracy_table(rows: list[tuple[int, list[Received]]]) -> str:
    lines = ["level  delay   n   store err ms (min/mean/max)   recv err ms (min/mean/max)"]
    for level, received in rows:
        delay = DEFAULT_DELAYS_MS[level]
        store = [r.msg.store_timestamp - r.msg.born_timestamp - delay for r in received]
        recv = [r.at_ms - r.msg.born_timestamp - delay for r in received]
        lines.append(
            f"{level:>5} {delay / 1000:>5.0f}s {len(received):>3}   "
            f"{min(store):>5} {statistics.mean(store):>7.1f} {max(store):>5}          "
            f"{min(recv):>5} {statistics.mean(recv):>7.1f} {max(recv):>5}"
        )
    return "\n".join(lines)


async def test_default_levels_1_and_2_are_delivered_on_time(cluster: Cluster) -> None:
    topic = "DelayAccuracy"
    await create_topic(cluster, topic)
    consumer, recorder = await start_consumer(cluster, "CG_DELAY_ACCURACY", topic)
    try:
        async with Producer("PG_DELAY", cluster.namesrv_addr) as producer:
            sent = {}
            for i in range(6):
                level = 1 + i % 2
                msg = Message(
                    topic,
                    f"delayed-{level}-{i}".encode(),
                    tags=f"L{level}",
                    keys=[f"k{i}"],
                    properties={"app": f"v{i}"},
                    delay_time_level=level,
                )
                result = await producer.send(msg)
                sent[msg.body] = (level, result, msg)
                await asyncio.sleep(0.1)
            await wait_for(lambda: len(recorder.received) >= 8, 12, "delayed messages missing")
        delayed = [r for r in recorder.received if r.msg.body != b"probe"]
        assert sorted(r.msg.body for r in delayed) == sorted(sent)
        by_level: dict[int, list[Received]] = {1: [], 2: []}
        for r in delayed:
            level, result, original = sent[r.msg.body]
            by_level[level].append(r)
            msg = r.msg
            # the message as sent: same id, topic, queue, tags, keys, user properties
            assert msg.msg_id == result.msg_id
            assert (msg.topic, msg.queue_id) == (topic, result.message_queue.queue_id)
            assert (msg.tags, msg.keys, msg.properties["app"]) == (
                original.tags,
                original.keys,
                original.properties["app"],
            )
            assert "DELAY" not in msg.properties
            delay = DEFAULT_DELAYS_MS[level]
            store_error = msg.store_timestamp - msg.born_timestamp - delay
            recv_error = r.at_ms - msg.born_timestamp - delay
            assert 0 <= store_error < 1000, (level, store_error)
            assert 0 <= recv_error < 1000, (level, recv_error)
        print("\n" + accuracy_table(sorted(by_level.items())))
    finally:
        await consumer.shutdown()


async def pull_raw(cluster: Cluster, topic: str, queue_id: int) -> list[MessageExt]:
    client = RemotingClient()
    try:
        response = await client.invoke(
            cluster.broker_addr,
            RemotingCommand.request(
                RequestCode.PULL_MESSAGE,
                {
                    "consumerGroup": "CG_DELAY_RAW",
                    "topic": topic,
                    "queueId": str(queue_id),
                    "queueOffset": "0",
                    "maxMsgNums": "32",
                    "sysFlag": "4",
                    "commitOffset": "0",
                    "suspendTimeoutMillis": "0",
                    "subscription": "*",
                    "subVersion": "0",
                },
            ),
            5.0,
        )
    finally:
        await client.aclose()
    if response.code != ResponseCode.SUCCESS:
        return []
    return decode_records(response.body)


async def test_out_of_range_level_is_clamped_and_zero_means_now(cluster: Cluster) -> None:
    topic = "DelayClamp"
    await create_topic(cluster, topic, 1)
    async with Producer("PG_DELAY_CLAMP", cluster.namesrv_addr) as producer:
        far = await producer.send(Message(topic, b"far", delay_time_level=99))
        now = await producer.send(Message(topic, b"now", properties={"DELAY": "0"}))
    # level 99 -> 18 (2 h): parked in SCHEDULE_TOPIC_XXXX queue 17 with DELAY=18
    parked = [m for m in await pull_raw(cluster, SCHEDULE_TOPIC, 17) if m.msg_id == far.msg_id]
    assert len(parked) == 1
    props = parked[0].properties
    assert (props["DELAY"], props["REAL_TOPIC"], props["REAL_QID"]) == ("18", topic, "0")
    # DELAY=0 is no delay: stored in the topic at once; the far one is not there
    stored = await pull_raw(cluster, topic, 0)
    assert [m.msg_id for m in stored] == [now.msg_id]


async def test_bad_delay_property_is_refused_naming_it(cluster: Cluster) -> None:
    client = RemotingClient()
    try:
        response = await client.invoke(
            cluster.broker_addr,
            RemotingCommand(
                code=RequestCode.SEND_MESSAGE_V2,
                ext_fields={
                    "a": "PG_BAD_DELAY",
                    "b": "DelayBad",
                    "c": "TBW102",
                    "d": "4",
                    "e": "0",
                    "f": "0",
                    "g": str(int(time.time() * 1000)),
                    "h": "0",
                    "i": "DELAY\x01soon",
                },
                body=b"x",
            ),
            5.0,
        )
    finally:
        await client.aclose()
    assert response.code == ResponseCode.MESSAGE_ILLEGAL
    assert response.remark is not None and "DELAY" in response.remark


async def test_delayed_messages_survive_a_broker_restart(cluster: Cluster) -> None:
    topic = "DelayRestart"
    await create_topic(cluster, topic, 1)
    async with Producer("PG_DELAY_RESTART", cluster.namesrv_addr) as producer:
        early = await producer.send(Message(topic, b"early", delay_time_level=1))
        late = await producer.send(Message(topic, b"late", delay_time_level=2))
        sent_at = time.monotonic()

    async def stored() -> list[str]:
        return [m.msg_id for m in await pull_raw(cluster, topic, 0)]

    deadline = time.monotonic() + 3
    while await stored() != [early.msg_id]:
        assert time.monotonic() < deadline, "level 1 message not delivered before the restart"
        await asyncio.sleep(0.05)
    await asyncio.to_thread(cluster.restart_broker)  # SIGTERM: progress persisted
    # SIGTERM persisted the progress: all of level 1 delivered, the last of level 2 not
    offsets = loads_tolerant((cluster.store_dir / "config" / "delayOffset.json").read_bytes())
    name = str(cluster.broker_props["brokerName"])
    async with MQAdmin(cluster.namesrv_addr) as admin:
        level_1 = await admin.max_offset(MessageQueue(SCHEDULE_TOPIC, name, 0))
        level_2 = await admin.max_offset(MessageQueue(SCHEDULE_TOPIC, name, 1))
    assert offsets["offsetTable"]["1"] == level_1
    assert offsets["offsetTable"]["2"] == level_2 - 1
    deadline = time.monotonic() + 8
    while (ids := await stored()) != [early.msg_id, late.msg_id]:
        assert len(ids) <= 2 and ids[:1] == [early.msg_id], f"redelivered or lost: {ids}"
        assert time.monotonic() < deadline, "level 2 message not delivered after the restart"
        await asyncio.sleep(0.05)
    assert time.monotonic() - sent_at >= 4.9  # not early: still 5 s after it was sent
