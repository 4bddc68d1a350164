"""Timer messages (RocketMQ 5's arbitrary delivery time) against real processes.

Lateness of each timer message is measured two ways and printed (run with `-s`):
  store = delivered record's store timestamp - the time it asked for: the broker's error
  recv  = when a push consumer got it - the time it asked for: what an application sees
Neither may be negative; with timerPrecisionMs = p both stay under p plus a little.
The restart and failover scenarios count every message by its key: a kill -9 of the
broker must deliver each exactly once, a DLedger failover each at least once.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from orbitmq.client import (
    ConsumeStatus,
    Message,
    MessageExt,
    MessageQueue,
    MQAdmin,
    MQBrokerError,
    Producer,
    PushConsumer,
)
from orbitmq.protocol.codes import ResponseCode
from tests.integration.conftest import Cluster, make_cluster
from tests.integration.dledger_set import running_set, wait_master
from tests.integration.scenario import wait_for
from tests.integration.send_history import read_messages
from tests.processes import start_broker

pytestmark = pytest.mark.slow

QUEUES = 4


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = make_cluster(tmp_path_factory.mktemp("timer"))  # RocketMQ's timer defaults
    try:
        yield running
    finally:
        running.stop()


async def create_topic(namesrv_addr: str, broker_addr: str, topic: str, queues: int) -> None:
    async with MQAdmin(namesrv_addr) as admin:
        await admin.create_topic(broker_addr, topic, queues, queues)


def percentile(values: list[int], share: float) -> int:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def lateness_line(label: str, values: list[int]) -> str:
    return (
        f"{label:<6} n={len(values):<3} min {min(values):>5}  p50 {percentile(values, 0.5):>5}  "
        f"p99 {percentile(values, 0.99):>5}  max {max(values):>5}  "
        f"mean {statistics.mean(values):>7.1f} ms"
    )


async def read_topic(namesrv_addr: str, broker_name: str, topic: str) -> list[MessageExt]:
    read = await read_messages(namesrv_addr, topic, [broker_name], QUEUES)
    return list(read.values())


# --------------------------------------------------------------------------- accuracy


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[int, MessageExt]] = []

    def __call__(self, msgs: list[MessageExt]) -> ConsumeStatus:
        at = now_ms()
        self.received.extend((at, m) for m in msgs)
        return ConsumeStatus.CONSUME_SUCCESS


async def start_receiver(
    namesrv_addr: str, broker_name: str, group: str, topic: str
) -> tuple[PushConsumer, Receiver]:
    """A push consumer already long-polling every queue of `topic` (checked with probes)."""
    receiver = Receiver()
    consumer = PushConsumer(group, namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(topic)
    consumer.register_message_listener(receiver)
    await consumer.start()
    await wait_for(
        lambda: sum(q.topic == topic for q in consumer.owned_queues) == QUEUES, 20, "no queues"
    )
    async with Producer(f"{group}_PROBE", namesrv_addr) as probe:
        for queue_id in range(QUEUES):
            await probe.send_to_queue(
                Message(topic, b"probe"), MessageQueue(topic, broker_name, queue_id)
            )
    await wait_for(lambda: len(receiver.received) == QUEUES, 20, "probes not received")
    receiver.received.clear()
    return consumer, receiver


@pytest.mark.parametrize("precision_ms", [1000, 100])
async def test_timer_messages_arrive_at_their_time(
    cluster: Cluster, tmp_path: Path, precision_ms: int
) -> None:
    """40 messages asking for 1 s .. 8 s ahead, with RocketMQ's default precision (1 s
    slots) and with timerPrecisionMs=100."""
    running = cluster if precision_ms == 1000 else make_cluster(tmp_path, timerPrecisionMs=100)
    topic = f"TimerAccuracy{precision_ms}"
    name = str(running.broker_props["brokerName"])
    try:
        await create_topic(running.namesrv_addr, running.broker_addr, topic, QUEUES)
        consumer, receiver = await start_receiver(
            running.namesrv_addr, name, f"CG_TIMER_{precision_ms}", topic
        )
        try:
            asked: dict[str, int] = {}
            async with Producer(f"PG_TIMER_{precision_ms}", running.namesrv_addr) as producer:
                for i in range(40):
                    at = now_ms() + 1000 + i * 7000 // 39
                    result = await producer.send(
                        Message(topic, f"t{i}".encode(), keys=[f"k{i}"], deliver_time_ms=at)
                    )
                    asked[result.msg_id] = at
            await wait_for(lambda: len(receiver.received) >= 40, 15, "timer messages missing")
        finally:
            await consumer.shutdown()
    finally:
        if running is not cluster:
            running.stop()
    got = {m.msg_id: (at, m) for at, m in receiver.received}
    assert sorted(got) == sorted(asked)  # each once, with the id the send returned
    store_late = [got[i][1].store_timestamp - asked[i] for i in asked]
    recv_late = [got[i][0] - asked[i] for i in asked]
    print(
        f"\ntimer lateness, timerPrecisionMs={precision_ms}, delays 1-8 s\n"
        + lateness_line("store", store_late)
        + "\n"
        + lateness_line("recv", recv_late)
    )
    assert min(store_late) >= 0 and min(recv_late) >= 0, "delivered before its time"
    # Within one slot, plus slack for a slow machine (measured: a few ms, see the table).
    assert max(store_late) < precision_ms + 250
    assert max(recv_late) < precision_ms + 500
    for _at, msg in receiver.received:
        assert (msg.topic, msg.properties["REAL_TOPIC"]) == (topic, topic)
        assert int(msg.properties["TIMER_OUT_MS"]) + precision_ms >= asked[msg.msg_id]


# --------------------------------------------------------------------------- properties


async def test_each_way_of_asking_for_a_time(cluster: Cluster) -> None:
    topic = "TimerVariants"
    name = str(cluster.broker_props["brokerName"])
    await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, QUEUES)
    sent: dict[str, tuple[int, str]] = {}  # key -> (time asked for, msg id)
    async with Producer("PG_TIMER_VARIANTS", cluster.namesrv_addr) as producer:

        async def send(key: str, delay_ms: int, properties: dict[str, str], level: int = 0) -> None:
            at = now_ms() + delay_ms
            result = await producer.send(
                Message(
                    topic,
                    key.encode(),
                    keys=[key],
                    properties={k: v.replace("AT", str(at)) for k, v in properties.items()},
                    delay_time_level=level,
                )
            )
            sent[key] = (at, result.msg_id)

        # A time already past: stored in its topic at once, not parked.
        await send("past", 0, {"TIMER_DELIVER_MS": str(now_ms() - 60_000)})
        at_once: list[MessageExt] = []
        deadline = time.monotonic() + 3
        while not at_once:
            assert time.monotonic() < deadline, "a time already past was not stored at once"
            at_once = await read_topic(cluster.namesrv_addr, name, topic)
        assert [m.body for m in at_once] == [b"past"]
        assert "TIMER_OUT_MS" not in at_once[0].properties

        await send("sec", 2000, {"TIMER_DELAY_SEC": "2"})
        await send("ms", 1500, {"TIMER_DELAY_MS": "1500"})
        await send("ons", 2500, {"__STARTDELIVERTIME": "AT"})  # Aliyun ONS's property
        # A delay level wins over a timer property (which is then dropped).
        await send("level", 1000, {"TIMER_DELAY_SEC": "30"}, level=1)

        with pytest.raises(MQBrokerError) as too_far:
            await producer.send(
                Message(topic, b"far", properties={"TIMER_DELAY_SEC": str(3 * 86_400 + 10)})
            )
        assert too_far.value.code == ResponseCode.MESSAGE_ILLEGAL
        assert "timerMaxDelaySec=259200" in too_far.value.remark
        with pytest.raises(MQBrokerError) as not_a_time:
            await producer.send(Message(topic, b"bad", properties={"TIMER_DELIVER_MS": "soon"}))
        assert not_a_time.value.code == ResponseCode.MESSAGE_ILLEGAL
        assert "TIMER_DELIVER_MS='soon'" in not_a_time.value.remark

    delivered: dict[str, MessageExt] = {}

    async def all_delivered() -> bool:
        delivered.update(
            {m.keys[0]: m for m in await read_topic(cluster.namesrv_addr, name, topic)}
        )
        return len(delivered) == len(sent)

    deadline = time.monotonic() + 8
    while not await all_delivered():
        assert time.monotonic() < deadline, f"delivered only {sorted(delivered)}"
        await asyncio.sleep(0.2)
    for key, (at, msg_id) in sent.items():
        msg = delivered[key]
        assert msg.msg_id == msg_id, key
        assert msg.store_timestamp >= at, f"{key} delivered {at - msg.store_timestamp} ms early"
        assert msg.store_timestamp < max(at, msg.born_timestamp) + 1500, key
    for key in ("sec", "ms", "ons"):
        props = delivered[key].properties
        assert (props["REAL_TOPIC"], props["REAL_QID"]) == (topic, str(delivered[key].queue_id))
        assert {"TIMER_OUT_MS", "TIMER_ENQUEUE_MS", "TIMER_DEQUEUE_MS"} <= props.keys()
    assert "TIMER_DELAY_SEC" not in delivered["level"].properties


# --------------------------------------------------------------------------- kill -9


async def test_timers_survive_kill_9_and_are_delivered_exactly_once(tmp_path: Path) -> None:
    """Two SIGKILLs while timers are pending: the first with the checkpoint written every
    second, the second with it written only at recovery (timerFlushIntervalMs=600000),
    so that every delivery before that kill must be found in the commit log."""
    running = make_cluster(tmp_path)
    topic = "TimerKill"
    name = str(running.broker_props["brokerName"])
    try:
        await create_topic(running.namesrv_addr, running.broker_addr, topic, QUEUES)
        asked: dict[str, int] = {}
        t0 = now_ms()
        async with Producer("PG_TIMER_KILL", running.namesrv_addr) as producer:
            for i in range(60):
                at = t0 + 1000 + i * 8000 // 59
                await producer.send(
                    Message(topic, f"m{i}".encode(), keys=[f"m{i}"], deliver_time_ms=at)
                )
                asked[f"m{i}"] = at
        started = []
        for kill_at, flush_ms in ((t0 + 3000, "1000"), (t0 + 6500, "600000")):
            await asyncio.sleep(max(0.0, (kill_at - now_ms()) / 1000))
            running.broker.kill()
            running.broker_props["timerFlushIntervalMs"] = flush_ms
            running.broker = await asyncio.to_thread(start_broker, tmp_path, running.broker_props)
            started.append(running.broker)

        counts: Counter[str] = Counter()
        deadline = time.monotonic() + 15
        while True:
            read = await read_topic(running.namesrv_addr, name, topic)
            counts = Counter(m.keys[0] for m in read)
            if len(counts) == len(asked) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        early = {
            m.keys[0]: asked[m.keys[0]] - m.store_timestamp
            for m in read
            if m.store_timestamp < asked[m.keys[0]]
        }
    finally:
        running.stop()
    assert not [k for k in asked if k not in counts], "lost"
    assert not {k: n for k, n in counts.items() if n > 1}, "delivered twice"
    assert not early, f"delivered early (ms): {early}"
    print(f"\n{len(asked)} timers, 2 x kill -9: each delivered exactly once")
    for process in started:  # what each restart found (the log line of recovery.py)
        print(*(line for line in process.output if "timers recovered" in line))


# --------------------------------------------------------------------------- DLedger


async def test_a_new_dledger_leader_delivers_the_pending_timers(tmp_path: Path) -> None:
    topic = "TimerRaft"
    with running_set(tmp_path) as (_namesrv, namesrv_addr, dset):
        async with MQAdmin(namesrv_addr) as admin:
            master = await wait_master(admin, dset, 30)
            await admin.create_topic(master.broker_addr, topic, QUEUES, QUEUES)
            asked: dict[str, int] = {}
            t0 = now_ms()
            async with Producer("PG_TIMER_RAFT", namesrv_addr, send_timeout=3.0) as producer:
                for i in range(30):
                    at = t0 + 2000 + i * 5000 // 29
                    await producer.send(
                        Message(topic, f"r{i}".encode(), keys=[f"r{i}"], deliver_time_ms=at)
                    )
                    asked[f"r{i}"] = at
            await asyncio.sleep(max(0.0, (t0 + 3500 - now_ms()) / 1000))
            dset.kill(master)  # some timers delivered, most pending
            killed = now_ms()
            new_master = await wait_master(admin, dset, 20, exclude=master.self_id)
            print(f"\nnew leader {new_master.self_id} registered {now_ms() - killed} ms after kill")

        counts: Counter[str] = Counter()
        deadline = time.monotonic() + 20
        while True:
            read = await read_topic(namesrv_addr, dset.name, topic)
            counts = Counter(m.keys[0] for m in read)
            if len(counts) == len(asked) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        early = [m.keys[0] for m in read if m.store_timestamp < asked[m.keys[0]]]
        assert not [k for k in asked if k not in counts], f"lost\n{dset.logs()}"
        assert not early, f"delivered early: {early}"
        twice = sum(1 for n in counts.values() if n > 1)
        print(f"{len(asked)} timers across a leader kill: all delivered, {twice} twice")
        assert new_master.process is not None  # what it recovered (recovery.py's log line)
        print(*(line for line in new_master.process.output if "timers recovered" in line))
