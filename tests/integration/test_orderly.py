"""Ordered messages against a real NameServer and broker: order topics in routes, broker
queue locks, and orderly consumption through a rebalance (a member joins, another leaves).

The main scenario counts, per business key, every delivery that is not the next one in
send order (a gap, a step back or a repeat): that count must be 0. It also records which
members had a batch of each queue in their listener at the same moment: never two.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from orbitmq.client import (
    ConsumeOrderlyStatus,
    Message,
    MessageExt,
    MessageQueue,
    MQAdmin,
    Producer,
    PullConsumer,
    PullStatus,
    PushConsumer,
    select_by_hash,
)
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from tests.integration.conftest import Cluster
from tests.integration.scenario import wait_for
from tests.processes import (
    ServerProcess,
    broker_properties,
    free_port,
    start_broker,
    write_properties,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

QUEUES = 4


def start_order_namesrv(workdir: Path) -> tuple[ServerProcess, str]:
    """A NameServer with orderMessageEnable=true (routes carry orderTopicConf)."""
    port = free_port()
    config = write_properties(
        workdir / "namesrv.properties",
        {
            "listenPort": port,
            "kvConfigPath": workdir / "namesrv" / "kvConfig.json",
            "orderMessageEnable": "true",
        },
    )
    proc = ServerProcess(
        [sys.executable, "-m", "orbitmq", "namesrv", "-c", str(config)],
        "The Name Server boot success",
        f"namesrv:{port}",
    )
    proc.wait_booted()
    return proc, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("orderly")
    namesrv, namesrv_addr = start_order_namesrv(workdir)
    try:
        props = broker_properties(workdir, namesrv_addr)
        broker = start_broker(workdir, props)
    except BaseException:
        namesrv.stop()
        raise
    running = Cluster(workdir, namesrv, namesrv_addr, broker, props)
    try:
        yield running
    finally:
        running.stop()


def broker_name(cluster: Cluster) -> str:
    return str(cluster.broker_props["brokerName"])


async def create_order_topic(cluster: Cluster, topic: str, queues: int = QUEUES) -> None:
    """What `mqadmin updateTopic -b ADDR -t TOPIC -o true` does: the topic on the broker
    with order=true, and `brokerName:queues` under ORDER_TOPIC_CONFIG on the NameServer."""
    async with MQAdmin(cluster.namesrv_addr) as admin:
        await admin.create_topic(cluster.broker_addr, topic, queues, queues, order=True)
        await admin.invoke_namesrv(
            RequestCode.PUT_KV_CONFIG,
            {
                "namespace": "ORDER_TOPIC_CONFIG",
                "key": topic,
                "value": f"{broker_name(cluster)}:{queues}",
            },
        )

        async def routed() -> bool:
            try:
                route = await admin.topic_route(topic)
            except Exception:
                return False
            return bool(route.queue_datas) and route.order_topic_conf is not None

        deadline = time.monotonic() + 15
        while not await routed():
            assert time.monotonic() < deadline, f"no order route for {topic}"
            await asyncio.sleep(0.1)


@dataclass
class OrderLedger:
    """Every delivery of every member, in the order the listeners saw them."""

    deliveries: list[tuple[str, str, int, int]] = field(default_factory=list)
    busy: dict[int, str] = field(default_factory=dict)  # queue id -> member in the listener
    overlaps: list[tuple[int, str, str]] = field(default_factory=list)

    def listener(self, member: str, delay: float = 0.002):  # type: ignore[no-untyped-def]
        async def on_messages(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
            queue_id = msgs[0].queue_id
            other = self.busy.get(queue_id)
            if other is not None:
                self.overlaps.append((queue_id, other, member))
            self.busy[queue_id] = member
            try:
                for msg in msgs:
                    key, seq = msg.body.decode().split(":")
                    self.deliveries.append((member, key, int(seq), queue_id))
                await asyncio.sleep(delay)
            finally:
                self.busy.pop(queue_id, None)
            return ConsumeOrderlyStatus.SUCCESS

        return on_messages

    def violations(self) -> tuple[int, int]:
        """(deliveries out of per-key order, deliveries repeated)."""
        last: dict[str, int] = {}
        seen: set[tuple[str, int]] = set()
        out_of_order = repeats = 0
        for _member, key, seq, _queue in self.deliveries:
            if (key, seq) in seen:
                repeats += 1
            seen.add((key, seq))
            if seq != last.get(key, -1) + 1:
                out_of_order += 1
            last[key] = max(seq, last.get(key, -1))
        return out_of_order, repeats

    def distinct(self) -> int:
        return len({(key, seq) for _, key, seq, _ in self.deliveries})


async def start_member(
    cluster: Cluster, group: str, topic: str, name: str, ledger: OrderLedger
) -> PushConsumer:
    consumer = PushConsumer(
        group,
        cluster.namesrv_addr,
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        instance_name=name,
    )
    consumer.subscribe(topic)
    consumer.register_message_listener(ledger.listener(name), orderly=True)
    await consumer.start()
    return consumer


def owned(consumer: PushConsumer, topic: str) -> set[MessageQueue]:
    return {mq for mq in consumer.owned_queues if mq.topic == topic}


async def test_order_topic_keeps_its_queue_layout_in_routes(cluster: Cluster) -> None:
    topic = "OrderLayout"
    await create_order_topic(cluster, topic)
    async with MQAdmin(cluster.namesrv_addr) as admin:
        route = await admin.topic_route(topic)
        config = await admin.get_all_topic_config(cluster.broker_addr)
    assert route.order_topic_conf == f"{broker_name(cluster)}:{QUEUES}"
    assert config["topicConfigTable"][topic]["order"] is True
    async with Producer("PG_LAYOUT", cluster.namesrv_addr) as producer:
        queues = await producer.fetch_publish_queues(topic)
        assert queues == [MessageQueue(topic, broker_name(cluster), i) for i in range(QUEUES)]
        results = [
            await producer.send_orderly(Message(topic, f"{i}".encode()), select_by_hash, "k-7")
            for i in range(5)
        ]
    assert len({r.message_queue for r in results}) == 1
    assert [r.queue_offset for r in results] == list(range(5))


async def test_locks_belong_to_group_members_only(cluster: Cluster) -> None:
    topic = "OrderLocks"
    await create_order_topic(cluster, topic)
    ledger = OrderLedger()
    member = await start_member(cluster, "CG_LOCKS", topic, "member-1", ledger)
    client = RemotingClient()
    try:
        await wait_for(lambda: len(owned(member, topic)) == QUEUES, 20, "queues not taken")
        mq_set = [
            {"brokerName": broker_name(cluster), "queueId": i, "topic": topic}
            for i in range(QUEUES)
        ]

        async def lock(client_id: str, group: str = "CG_LOCKS") -> list[int]:
            body = orjson.dumps({"clientId": client_id, "consumerGroup": group, "mqSet": mq_set})
            response = await client.invoke(
                cluster.broker_addr,
                RemotingCommand.request(RequestCode.LOCK_BATCH_MQ, {}, body),
                5.0,
            )
            assert response.code == ResponseCode.SUCCESS
            return sorted(q["queueId"] for q in orjson.loads(response.body)["lockOKMQSet"])

        assert await lock(member.client_id) == list(range(QUEUES))  # its own: a renewal
        assert await lock("127.0.0.1@intruder") == []  # not a member of the group
        assert await lock("127.0.0.1@intruder", "CG_NOBODY") == []
    finally:
        await client.aclose()
        await member.shutdown()


async def test_order_per_key_survives_members_joining_and_leaving(cluster: Cluster) -> None:
    topic, group = "OrderStream", "CG_ORDER"
    await create_order_topic(cluster, topic)
    ledger = OrderLedger()
    a = await start_member(cluster, group, topic, "member-a", ledger)
    b = await start_member(cluster, group, topic, "member-b", ledger)
    members = {"member-a": a, "member-b": b}
    try:
        await wait_for(
            lambda: (
                len(owned(a, topic)) + len(owned(b, topic)) == QUEUES
                and not owned(a, topic) & owned(b, topic)
            ),
            20,
            "the first two members never split the queues",
        )
        producers = 3
        keys_per_producer = 5
        per_key = 36
        progress = [0]

        async def produce(index: int) -> None:
            keys = [f"p{index}k{k}" for k in range(keys_per_producer)]
            async with Producer(f"PG_ORDER_{index}", cluster.namesrv_addr) as producer:
                for seq in range(per_key):
                    for key in keys:
                        message = Message(topic, f"{key}:{seq}".encode(), keys=key)
                        await producer.send_orderly(message, select_by_hash, key)
                    progress[0] += 1
                    await asyncio.sleep(0.08)

        sending = asyncio.gather(*(produce(i) for i in range(producers)))
        # A third member joins a third of the way in ...
        await wait_for(lambda: progress[0] >= producers * per_key // 3, 30, "no progress")
        c = await start_member(cluster, group, topic, "member-c", ledger)
        members["member-c"] = c
        await wait_for(
            lambda: owned(c, topic) and sum(len(owned(m, topic)) for m in members.values()) == 4,
            20,
            "the joining member never got queues",
        )
        # ... and the first one leaves two thirds of the way in.
        await wait_for(lambda: progress[0] >= producers * per_key * 2 // 3, 30, "no progress")
        await a.shutdown()
        del members["member-a"]
        await sending
        total = producers * keys_per_producer * per_key
        await wait_for(lambda: ledger.distinct() == total, 40, "messages went missing")
        await asyncio.sleep(0.5)  # anything delivered twice would show up now
        out_of_order, repeats = ledger.violations()
        by_member: dict[str, int] = defaultdict(int)
        for member, *_ in ledger.deliveries:
            by_member[member] += 1
        print(
            f"orderly: {len(ledger.deliveries)} deliveries of {total} messages, "
            f"per member {dict(by_member)}, order violations {out_of_order}, "
            f"repeats {repeats}, overlaps {len(ledger.overlaps)}"
        )
        assert set(by_member) == {"member-a", "member-b", "member-c"}
        assert ledger.overlaps == []
        assert out_of_order == 0
        assert repeats == 0
    finally:
        for consumer in members.values():
            await consumer.shutdown()


async def test_suspended_queue_retries_in_place_then_dead_letters(cluster: Cluster) -> None:
    topic, group = "OrderRetry", "CG_ORDER_RETRY"
    await create_order_topic(cluster, topic, 1)
    calls: list[tuple[str, int]] = []

    async def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        body = msgs[0].body.decode()
        calls.append((body, msgs[0].reconsume_times))
        if body in ("flaky", "poison") and (body == "poison" or msgs[0].reconsume_times < 2):
            return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
        return ConsumeOrderlyStatus.SUCCESS

    consumer = PushConsumer(
        group,
        cluster.namesrv_addr,
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        max_reconsume_times=3,
        suspend_current_queue_time_millis=100,
    )
    consumer.subscribe(topic)
    consumer.register_message_listener(listener, orderly=True)
    async with Producer("PG_ORDER_RETRY", cluster.namesrv_addr) as producer:
        for body in ("first", "flaky", "after-flaky", "poison", "last"):
            await producer.send_orderly(Message(topic, body.encode()), select_by_hash, 0)
    async with consumer:
        await wait_for(lambda: ("last", 0) in calls, 20, "the queue never got past poison")
    bodies = [body for body, _ in calls]
    # flaky: twice suspended, then consumed; nothing after it came first
    assert calls[:4] == [("first", 0), ("flaky", 0), ("flaky", 1), ("flaky", 2)]
    assert bodies[4] == "after-flaky"
    # poison: tried 4 times (reconsume 0..3), then moved to the DLQ, and the queue went on
    assert [t for body, t in calls if body == "poison"] == [0, 1, 2, 3]
    assert bodies[-1] == "last"
    async with PullConsumer("CG_DLQ_READER", cluster.namesrv_addr) as reader:
        dlq = MessageQueue(f"%DLQ%{group}", broker_name(cluster), 0)

        async def dead_lettered() -> list[bytes]:
            try:
                result = await reader.pull(dlq, "*", 0, 32)
            except Exception:
                return []
            return [m.body for m in result.messages] if result.status is PullStatus.FOUND else []

        deadline = time.monotonic() + 15
        while (found := await dead_lettered()) != [b"poison"]:
            assert time.monotonic() < deadline, f"DLQ holds {found}"
            await asyncio.sleep(0.2)
