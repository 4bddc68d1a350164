"""Every feature that works on a classic master works on a DLedger leader.

One three-member DLedger set (real broker processes) serves the whole module; each test
finds the leader through the NameServer, as clients do, and checks one feature there:
tags and keys (with mqadmin queryMsgByKey / queryMsgById), delay levels, retry and the
DLQ, transactions resolved by check-back, orderly consumption, batch sends, SQL92
filtering and mqadmin's clusterList / topicStatus / consumerProgress. The timing knobs are
as short as in the classic tests (test_retry_dlq.py, test_transaction.py). A last test,
on a set of its own, kills the leader while a delayed message waits: the new master's
schedule service delivers it, once, from the delay offsets it copied from the old one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orbitmq.client import (
    ConsumeStatus,
    LocalTransactionState,
    Message,
    MessageExt,
    MessageListener,
    MessageListenerOrderly,
    MessageQueue,
    MessageSelector,
    MQAdmin,
    MQClientError,
    Producer,
    PullConsumer,
    PullStatus,
    PushConsumer,
    TransactionProducer,
    select_by_hash,
)
from orbitmq.client.errors import TopicNotExistError
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import decode_records
from orbitmq.remoting.client import RemotingClient
from tests.integration.dledger_set import DLedgerSet, Member, max_offsets, wait_master
from tests.integration.scenario import raw_pull_ext, wait_for
from tests.integration.test_mqadmin import ok, run_admin
from tests.integration.test_orderly import OrderLedger
from tests.integration.test_sql_filter import SELECTOR, expected, message
from tests.integration.test_transaction import Bodies, Listener
from tests.processes import ServerProcess, start_namesrv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

COMMIT = LocalTransactionState.COMMIT_MESSAGE
ROLLBACK = LocalTransactionState.ROLLBACK_MESSAGE
UNKNOW = LocalTransactionState.UNKNOW
# Level 1 = 1 s and level 2 = 2 s for the delay test; a send-back waits level
# 3 + reconsumeTimes, so retries come 1 s apart.
LEVELS = "1s 2s 1s 1s 1s 1s"
DELAYS_MS = {1: 1000, 2: 2000}
FAST = {
    "messageDelayLevel": LEVELS,
    "transactionCheckInterval": 1000,
    "transactionTimeOut": 1000,
    "transactionCheckMax": 3,
    "enablePropertyFilter": "true",
}


@dataclass
class RaftCluster:
    namesrv: ServerProcess
    namesrv_addr: str
    dset: DLedgerSet

    async def leader(self) -> Member:
        async with MQAdmin(self.namesrv_addr) as admin:
            return await wait_master(admin, self.dset, 30)


def start_raft_cluster(workdir: Path, **overrides: object) -> RaftCluster:
    namesrv, namesrv_addr = start_namesrv(workdir)
    dset = DLedgerSet(workdir, namesrv_addr, overrides=overrides)
    try:
        dset.start_all()
    except BaseException:
        dset.stop_all()
        namesrv.stop()
        raise
    return RaftCluster(namesrv, namesrv_addr, dset)


def stop_raft_cluster(running: RaftCluster) -> None:
    running.dset.stop_all()
    running.namesrv.stop()


@pytest.fixture(scope="module")
def raft(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RaftCluster]:
    running = start_raft_cluster(tmp_path_factory.mktemp("raft-features"), **FAST)
    try:
        yield running
    finally:
        stop_raft_cluster(running)


def mqadmin(raft: RaftCluster, *args: str) -> str:
    return ok(run_admin(*args, "-n", raft.namesrv_addr))


async def routed_queues(admin: MQAdmin, topic: str, timeout: float = 15) -> int:
    """The read queue count of `topic` once the NameServer routes it (topics are routed
    at the broker's next registration, DLQ and retry topics after their first use)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            queue_datas = (await admin.topic_route(topic)).queue_datas
        except (MQClientError, TopicNotExistError):
            queue_datas = []
        if queue_datas:
            return queue_datas[0].read_queue_nums
        assert time.monotonic() < deadline, f"no route for {topic}"
        await asyncio.sleep(0.1)


async def create_topic(raft: RaftCluster, topic: str, queues: int) -> Member:
    """`topic` on the leader, once routed; returns the leader."""
    leader = await raft.leader()
    async with MQAdmin(raft.namesrv_addr) as admin:
        await admin.create_topic(leader.broker_addr, topic, queues, queues)
        await routed_queues(admin, topic)
    return leader


async def read_queue(
    raft: RaftCluster, topic: str, queue_id: int, expression: str | MessageSelector = "*"
) -> list[MessageExt]:
    """Everything of one queue from offset 0, through the route (so from the master)."""
    async with PullConsumer(f"CG_READ_{time.time_ns()}", raft.namesrv_addr) as consumer:
        mq = MessageQueue(topic, raft.dset.name, queue_id)
        found: list[MessageExt] = []
        offset = 0
        while True:
            result = await consumer.pull(mq, expression, offset, 32)
            found += result.messages
            if result.status is not PullStatus.FOUND:
                return found
            offset = result.next_begin_offset


async def read_topic(raft: RaftCluster, topic: str) -> list[MessageExt]:
    async with MQAdmin(raft.namesrv_addr) as admin:
        queues = await routed_queues(admin, topic, 10)
    found: list[MessageExt] = []
    for queue_id in range(queues):
        found += await read_queue(raft, topic, queue_id)
    return found


async def push_consumer(
    raft: RaftCluster,
    group: str,
    topic: str,
    listener: MessageListener | MessageListenerOrderly,
    *,
    orderly: bool = False,
    max_reconsume_times: int = -1,
) -> PushConsumer:
    consumer = PushConsumer(
        group,
        raft.namesrv_addr,
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        max_reconsume_times=max_reconsume_times,
    )
    consumer.subscribe(topic)
    consumer.register_message_listener(listener, orderly=orderly)
    await consumer.start()
    return consumer


async def followers_caught_up(raft: RaftCluster, leader: Member, topic: str, queues: int) -> None:
    """Every follower serves the leader's queue ends of `topic`."""
    client = RemotingClient()
    try:
        want = await max_offsets(client, leader.broker_addr, topic, queues)
        for member in raft.dset.members:
            deadline = time.monotonic() + 5
            while await max_offsets(client, member.broker_addr, topic, queues) != want:
                assert time.monotonic() < deadline, f"{member.self_id} lags on {topic}"
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- tests


async def test_tags_keys_and_message_queries(raft: RaftCluster) -> None:
    topic = "RaftTags"
    leader = await create_topic(raft, topic, 2)
    sent = {}
    async with Producer("PG_RAFT_TAGS", raft.namesrv_addr) as producer:
        for i in range(8):
            tag = "TagA" if i % 2 == 0 else "TagB"
            msg = Message(topic, f"t{i}".encode(), tags=tag, keys=[f"RK{i}", "RCommon"])
            sent[f"t{i}"] = await producer.send(msg)
    tag_a: list[MessageExt] = []
    for queue_id in range(2):
        tag_a += await read_queue(raft, topic, queue_id, "TagA")
    assert sorted(m.body for m in tag_a) == sorted(f"t{i}".encode() for i in range(0, 8, 2))
    assert {m.tags for m in tag_a} == {"TagA"}

    lines = mqadmin(raft, "queryMsgByKey", "-t", topic, "-k", "RK3").splitlines()
    assert lines[0].split() == ["#Message", "ID", "#QID", "#Offset"]
    third = sent["t3"]
    assert [line.split() for line in lines[1:]] == [
        [third.msg_id, str(third.message_queue.queue_id), str(third.queue_offset)]
    ]
    common = mqadmin(raft, "queryMsgByKey", "-t", topic, "-k", "RCommon").splitlines()[1:]
    assert sorted(line.split()[0] for line in common) == sorted(r.msg_id for r in sent.values())

    out = mqadmin(raft, "queryMsgById", "-i", third.offset_msg_id)
    detail = dict(re.findall(r"^(\S[^:]*:) +(.*)$", out, re.MULTILINE))
    assert detail["OffsetID:"] == third.offset_msg_id
    assert (detail["Topic:"], detail["Tags:"], detail["Keys:"]) == (
        topic,
        "[TagB]",
        "[RK3 RCommon]",
    )
    assert detail["Store Host:"] == leader.broker_addr  # the offset id names the leader
    assert Path(detail["Message Body Path:"]).read_bytes() == b"t3"


async def test_delay_levels_deliver_after_their_delay(raft: RaftCluster) -> None:
    topic = "RaftDelay"
    await create_topic(raft, topic, 2)
    received: list[tuple[int, MessageExt]] = []

    def record(msgs: list[MessageExt]) -> ConsumeStatus:
        now = time.time_ns() // 1_000_000
        received.extend((now, m) for m in msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    consumer = await push_consumer(raft, "CG_RAFT_DELAY", topic, record)
    try:
        async with Producer("PG_RAFT_DELAY", raft.namesrv_addr) as producer:
            sent = {}
            for i in range(4):
                level = 1 + i % 2
                msg = Message(topic, f"d{level}-{i}".encode(), delay_time_level=level)
                sent[msg.body] = (level, await producer.send(msg))
        await wait_for(lambda: len(received) >= 4, 15, f"only {len(received)} delivered")
        await asyncio.sleep(0.5)
    finally:
        await consumer.shutdown()
    assert sorted(m.body for _, m in received) == sorted(sent)
    errors = []
    for at_ms, msg in received:
        level, result = sent[msg.body]
        assert msg.msg_id == result.msg_id and "DELAY" not in msg.properties
        delay = DELAYS_MS[level]
        store_error = msg.store_timestamp - msg.born_timestamp - delay
        recv_error = at_ms - msg.born_timestamp - delay
        errors.append((level, store_error, recv_error))
        # Never before its delay; on time within the classic test's margin plus a
        # Raft round.
        assert 0 <= store_error < 1500, (level, store_error)
        assert 0 <= recv_error < 1500, (level, recv_error)
    print(f"\ndelay errors on the leader (level, store ms, receive ms): {sorted(errors)}")


async def test_retry_then_dead_letter_queue(raft: RaftCluster) -> None:
    topic, group = "RaftRetry", "CG_RAFT_RETRY"
    await create_topic(raft, topic, 1)
    deliveries: list[tuple[float, MessageExt]] = []

    def always_fail(msgs: list[MessageExt]) -> ConsumeStatus:
        deliveries.extend((time.monotonic(), m) for m in msgs)
        return ConsumeStatus.RECONSUME_LATER

    consumer = await push_consumer(raft, group, topic, always_fail, max_reconsume_times=2)
    try:
        async with Producer("PG_RAFT_RETRY", raft.namesrv_addr) as producer:
            sent = await producer.send(Message(topic, b"hopeless", keys=["k-hopeless"]))
        await wait_for(lambda: len(deliveries) >= 3, 20, f"{len(deliveries)} deliveries")
        dead: list[MessageExt] = []
        deadline = time.monotonic() + 15
        while not dead:
            assert time.monotonic() < deadline, "nothing reached the DLQ"
            dead = await read_topic(raft, f"%DLQ%{group}")
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # dead-lettered: not delivered again
    finally:
        await consumer.shutdown()
    assert [m.reconsume_times for _, m in deliveries] == [0, 1, 2]
    assert {m.msg_id for _, m in deliveries} == {sent.msg_id}
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(deliveries)]
    assert all(0.95 <= gap < 3.0 for gap in gaps), gaps  # levels 3 and 4: 1 s each
    assert [m.msg_id for m in dead] == [sent.msg_id]
    assert dead[0].reconsume_times == 3 and dead[0].properties["RETRY_TOPIC"] == topic
    assert dead[0].keys == ["k-hopeless"]


async def test_transactions_resolved_by_check_back(raft: RaftCluster) -> None:
    topic = "RaftTx"
    await create_topic(raft, topic, 1)
    listener = Listener(
        {b"now": COMMIT, b"never": ROLLBACK, b"later": UNKNOW, b"never-later": UNKNOW},
        {b"later": COMMIT, b"never-later": ROLLBACK},
    )
    bodies = Bodies()
    consumer = await push_consumer(raft, "CG_RAFT_TX", topic, bodies)
    try:
        async with TransactionProducer("PG_RAFT_TX", raft.namesrv_addr, listener) as producer:
            started = time.monotonic()
            results = {
                body: await producer.send_message_in_transaction(Message(topic, body))
                for body in (b"now", b"never", b"later", b"never-later")
            }
            await wait_for(lambda: b"later" in bodies.bodies(), 10, "never committed by check")
            took = time.monotonic() - started
            # Both open ones were checked; a check pass later nothing else shows up.
            await wait_for(lambda: len(listener.checked) >= 2, 10, "not checked back")
            await asyncio.sleep(1.5)
    finally:
        await consumer.shutdown()
    assert sorted(bodies.bodies()) == [b"later", b"now"]
    assert 1.0 <= took < 6.0, took
    assert sorted(m.body for m in listener.checked) == [b"later", b"never-later"]
    later = next(m for m in bodies.received if m.body == b"later")
    assert later.msg_id == results[b"later"].msg_id
    assert later.sys_flag & 0xC == 0x8  # committed
    client = RemotingClient()
    try:
        leader = await raft.leader()
        response = await client.invoke(
            leader.broker_addr,
            RemotingCommand.request(RequestCode.GET_MAX_OFFSET, {"topic": topic, "queueId": "0"}),
            5.0,
        )
    finally:
        await client.aclose()
    assert response.ext_fields["offset"] == "2"  # the rolled-back ones were never stored


async def test_orderly_consumption_keeps_per_queue_order(raft: RaftCluster) -> None:
    topic, group = "RaftOrder", "CG_RAFT_ORDER"
    await create_topic(raft, topic, 4)
    ledger = OrderLedger()
    keys, per_key = [f"ok{k}" for k in range(6)], 25
    consumer = await push_consumer(raft, group, topic, ledger.listener("one"), orderly=True)
    try:
        async with Producer("PG_RAFT_ORDER", raft.namesrv_addr) as producer:
            queue_of = {}
            for seq in range(per_key):
                for key in keys:
                    msg = Message(topic, f"{key}:{seq}".encode(), keys=key)
                    result = await producer.send_orderly(msg, select_by_hash, key)
                    queue_of.setdefault(key, set()).add(result.message_queue.queue_id)
        total = len(keys) * per_key
        await wait_for(lambda: ledger.distinct() == total, 30, "messages went missing")
        await asyncio.sleep(0.5)
    finally:
        await consumer.shutdown()
    assert all(len(queues) == 1 for queues in queue_of.values()), queue_of
    assert ledger.violations() == (0, 0)
    assert ledger.overlaps == []


async def test_batch_send_is_one_replicated_run(raft: RaftCluster) -> None:
    topic = "RaftBatch"
    leader = await create_topic(raft, topic, 2)
    batch = [Message(topic, f"b{i}".encode(), keys=[f"BK{i}"]) for i in range(16)]
    async with Producer("PG_RAFT_BATCH", raft.namesrv_addr) as producer:
        result = await producer.send_batch(batch)
    queue_id = result.message_queue.queue_id
    stored = await read_queue(raft, topic, queue_id)
    assert [m.body for m in stored] == [m.body for m in batch]
    assert [m.queue_offset for m in stored] == list(range(16))
    assert ",".join(m.msg_id for m in stored) == result.msg_id
    await followers_caught_up(raft, leader, topic, 2)


async def test_sql92_filter(raft: RaftCluster) -> None:
    topic = "RaftSql"
    leader = await create_topic(raft, topic, 2)
    async with Producer("PG_RAFT_SQL", raft.namesrv_addr) as producer:
        for i in range(40):
            await producer.send(message(topic, i))
    want = sorted(f"m{i}".encode() for i in range(40) if expected(i))
    got: list[MessageExt] = []
    for queue_id in range(2):
        got += await read_queue(raft, topic, queue_id, MessageSelector.by_sql(SELECTOR))
    assert sorted(m.body for m in got) == want
    # The leader itself filtered: a raw pull there returns matching records only.
    client = RemotingClient()
    try:
        raw: list[MessageExt] = []
        for queue_id in range(2):
            response = await client.invoke(
                leader.broker_addr,
                RemotingCommand.request(
                    RequestCode.PULL_MESSAGE,
                    raw_pull_ext("CG_RAFT_SQL_RAW", topic, queue_id, SELECTOR, "SQL92"),
                ),
                5.0,
            )
            assert response.code == ResponseCode.SUCCESS, response.remark
            raw += decode_records(response.body)
    finally:
        await client.aclose()
    assert sorted(m.body for m in raw) == want


async def test_mqadmin_cluster_list_topic_status_and_consumer_progress(raft: RaftCluster) -> None:
    topic, group = "RaftAdmin", "CG_RAFT_ADMIN"
    leader = await create_topic(raft, topic, 2)
    rows = [
        line.split()
        for line in mqadmin(raft, "clusterList").splitlines()[1:]
        if raft.dset.name in line
    ]
    ids = {row[3]: row[2] for row in rows}
    want_ids = {m.broker_addr: str(int(m.self_id[1:]) + 1) for m in raft.dset.members}
    want_ids[leader.broker_addr] = "0"
    assert ids == want_ids, rows  # the leader as id 0 and two followers
    assert {row[0] for row in rows} == {"RaftCluster"}

    async with Producer("PG_RAFT_ADMIN", raft.namesrv_addr) as producer:
        for i in range(10):
            await producer.send(Message(topic, f"a{i}".encode()))
    lines = mqadmin(raft, "topicStatus", "-t", topic).splitlines()
    status = [line.split() for line in lines[1:]]
    assert [r[0] for r in status] == [raft.dset.name] * 2
    assert sum(int(r[3]) for r in status) == 10
    as_json = json.loads(mqadmin(raft, "topicStatus", "-t", topic, "--json"))
    assert sum(q["maxOffset"] for q in as_json) == 10

    consumed: list[MessageExt] = []

    def take(msgs: list[MessageExt]) -> ConsumeStatus:
        consumed.extend(msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    consumer = await push_consumer(raft, group, topic, take)
    try:
        await wait_for(lambda: len(consumed) >= 10, 15, "not consumed")

        def diff_total() -> int | None:
            result = run_admin("consumerProgress", "-g", group, "--json", "-n", raft.namesrv_addr)
            return json.loads(result.stdout)["diffTotal"] if result.returncode == 0 else None

        deadline = time.monotonic() + 20
        while await asyncio.to_thread(diff_total) != 0:
            assert time.monotonic() < deadline, "consumer progress never reached the end"
            await asyncio.sleep(0.5)
        progress = await asyncio.to_thread(mqadmin, raft, "consumerProgress", "-g", group)
    finally:
        await consumer.shutdown()
    lines = progress.splitlines()
    rows = [line.split() for line in lines[1:] if line.startswith(topic)]
    assert [r[1:3] for r in rows] == [[raft.dset.name, str(q)] for q in range(2)]
    assert sum(int(r[3]) for r in rows) == 10  # broker offsets
    assert [r[3] for r in rows] == [r[4] for r in rows]  # consumer offsets at the end
    assert lines[-1] == "Diff Total: 0"


@pytest.fixture
def delay_raft(tmp_path: Path) -> Iterator[RaftCluster]:
    # Level 1 is short enough to be delivered (and its progress copied) before the kill,
    # level 2 long enough to outlast the failover.
    running = start_raft_cluster(tmp_path, messageDelayLevel="1s 8s")
    try:
        yield running
    finally:
        stop_raft_cluster(running)


async def test_delayed_message_is_delivered_by_the_new_master(delay_raft: RaftCluster) -> None:
    raft = delay_raft
    topic = "RaftDelayFailover"
    old = await create_topic(raft, topic, 1)
    async with Producer("PG_RAFT_DELAY_FO", raft.namesrv_addr, send_timeout=5.0) as producer:
        early = await producer.send(Message(topic, b"early", delay_time_level=1))
        late = await producer.send(Message(topic, b"late", delay_time_level=2))
    sent_at = time.monotonic()
    await wait_for_stored(raft, old, topic, 1, 5)
    # Slave sync copies delay offsets (and topics) every second: give it two rounds.
    await asyncio.sleep(2.5)
    assert time.monotonic() - sent_at < 6.0, "too slow to kill the leader before the delay"
    raft.dset.kill(old)
    async with MQAdmin(raft.namesrv_addr) as admin:
        new = await wait_master(admin, raft.dset, 15, exclude=old.self_id)
    await wait_for_stored(raft, new, topic, 2, 15)
    stored = await read_queue(raft, topic, 0)
    assert [m.msg_id for m in stored] == [early.msg_id, late.msg_id]  # each once
    # Stored (by the new master: the old one is dead) only once its delay was over.
    assert stored[1].store_timestamp - stored[1].born_timestamp >= 8000


async def wait_for_stored(
    raft: RaftCluster, member: Member, topic: str, count: int, timeout: float
) -> None:
    client = RemotingClient()
    try:
        deadline = time.monotonic() + timeout
        while (await max_offsets(client, member.broker_addr, topic, 1))[0] < count:
            assert time.monotonic() < deadline, f"{member.self_id}: fewer than {count} in {topic}"
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()
