"""Transactional messages against a real broker that checks often: every second, once a
half message is a second old, at most 3 times (transactionCheckInterval=1000,
transactionTimeOut=1000, transactionCheckMax=3)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orbitmq.client import (
    ConsumeStatus,
    LocalTransactionState,
    Message,
    MessageExt,
    MQAdmin,
    PushConsumer,
    TransactionProducer,
)
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import FLAG_ONEWAY, RemotingCommand
from orbitmq.protocol.frame import FrameDecoder, encode_frame
from orbitmq.protocol.message import decode_offset_msg_id
from orbitmq.remoting.client import RemotingClient
from tests.integration.conftest import Cluster, make_cluster
from tests.integration.scenario import wait_for
from tests.processes import start_broker

pytestmark = pytest.mark.slow

COMMIT = LocalTransactionState.COMMIT_MESSAGE
ROLLBACK = LocalTransactionState.ROLLBACK_MESSAGE
UNKNOW = LocalTransactionState.UNKNOW
FAST_CHECKS = {
    "transactionCheckInterval": 1000,
    "transactionTimeOut": 1000,
    "transactionCheckMax": 3,
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = make_cluster(tmp_path_factory.mktemp("tx"), **FAST_CHECKS)
    try:
        yield running
    finally:
        running.stop()


class Listener:
    """Answers by message body: `execute[body]` first, then `check[body]` when asked."""

    def __init__(
        self,
        execute: dict[bytes, LocalTransactionState],
        check: dict[bytes, LocalTransactionState] | None = None,
    ) -> None:
        self.execute = execute
        self.check = check or {}
        self.executed: list[tuple[Message, Any]] = []
        self.checked: list[MessageExt] = []

    def execute_local_transaction(self, msg: Message, arg: Any) -> LocalTransactionState:
        self.executed.append((msg, arg))
        return self.execute[msg.body]

    async def check_local_transaction(self, msg: MessageExt) -> LocalTransactionState:
        self.checked.append(msg)
        return self.check.get(msg.body, UNKNOW)


class Bodies:
    def __init__(self) -> None:
        self.received: list[MessageExt] = []

    def __call__(self, msgs: list[MessageExt]) -> ConsumeStatus:
        self.received.extend(msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    def bodies(self) -> list[bytes]:
        return [m.body for m in self.received]


def broker_name(cluster: Cluster) -> str:
    return str(cluster.broker_props["brokerName"])


async def create_topic(cluster: Cluster, topic: str) -> None:
    async with MQAdmin(cluster.namesrv_addr) as admin:
        await admin.create_topic(cluster.broker_addr, topic, 1, 1)


async def max_offset(cluster: Cluster, topic: str) -> int:
    """GET_MAX_OFFSET of queue 0, straight from the broker (no route needed)."""
    client = RemotingClient()
    try:
        response = await client.invoke(
            cluster.broker_addr,
            RemotingCommand.request(RequestCode.GET_MAX_OFFSET, {"topic": topic, "queueId": "0"}),
            5.0,
        )
    finally:
        await client.aclose()
    assert response.code == ResponseCode.SUCCESS, response.remark
    return int(response.ext_fields["offset"])


async def start_consumer(cluster: Cluster, group: str, topic: str) -> tuple[PushConsumer, Bodies]:
    bodies = Bodies()
    consumer = PushConsumer(
        group, cluster.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    consumer.subscribe(topic)
    consumer.register_message_listener(bodies)
    await consumer.start()
    return consumer, bodies


async def test_commit_delivers_and_rollback_drops(cluster: Cluster) -> None:
    topic = "TxCommit"
    await create_topic(cluster, topic)
    listener = Listener({b"commit-me": COMMIT, b"roll-me": ROLLBACK, b"marker": COMMIT})
    consumer, bodies = await start_consumer(cluster, "CG_TX_COMMIT", topic)
    try:
        async with TransactionProducer("PG_TX_COMMIT", cluster.namesrv_addr, listener) as producer:
            results = {}
            for body in (b"commit-me", b"roll-me", b"marker"):
                msg = Message(topic, body, tags="TagT", keys=[body.decode()])
                results[body] = await producer.send_message_in_transaction(msg, arg=body)
            await wait_for(lambda: b"marker" in bodies.bodies(), 15, "committed messages missing")
            await asyncio.sleep(1.5)  # a check pass later: still nothing more
    finally:
        await consumer.shutdown()
    assert sorted(bodies.bodies()) == [b"commit-me", b"marker"]
    assert [r.local_transaction_state for r in results.values()] == [COMMIT, ROLLBACK, COMMIT]
    # the listener saw the message with its transaction id, and the argument
    for (msg, arg), result in zip(listener.executed, results.values(), strict=True):
        assert arg == msg.body
        assert msg.properties["UNIQ_KEY"] == result.msg_id == result.transaction_id
    assert listener.checked == []  # resolved at once: never checked
    committed = bodies.received[0]
    result = results[b"commit-me"]
    assert committed.msg_id == result.msg_id
    assert (committed.topic, committed.queue_id, committed.tags) == (topic, 0, "TagT")
    assert committed.sys_flag & 0xC == 0x8  # transaction type COMMIT
    assert committed.prepared_transaction_offset == decode_offset_msg_id(result.offset_msg_id)[2]
    assert committed.properties["PGROUP"] == "PG_TX_COMMIT"
    for internal in ("TRAN_MSG", "REAL_TOPIC", "REAL_QID"):
        assert internal not in committed.properties
    assert await max_offset(cluster, topic) == 2


async def test_unknown_transaction_is_checked_back_and_committed(cluster: Cluster) -> None:
    topic = "TxCheck"
    await create_topic(cluster, topic)
    listener = Listener({b"later": UNKNOW}, {b"later": COMMIT})
    consumer, bodies = await start_consumer(cluster, "CG_TX_CHECK", topic)
    try:
        async with TransactionProducer("PG_TX_CHECK", cluster.namesrv_addr, listener) as producer:
            started = time.monotonic()
            result = await producer.send_message_in_transaction(Message(topic, b"later"))
            assert result.local_transaction_state is UNKNOW
            await wait_for(lambda: bodies.bodies() == [b"later"], 10, "never committed by check")
            took = time.monotonic() - started
            await asyncio.sleep(1.5)  # committed: not checked again
    finally:
        await consumer.shutdown()
    assert 1.0 <= took < 4.0, took
    assert len(listener.checked) == 1
    checked = listener.checked[0]
    assert checked.msg_id == result.msg_id  # the transaction id
    assert (checked.topic, checked.queue_id) == (topic, result.message_queue.queue_id)
    assert bodies.received[0].msg_id == result.msg_id
    assert bodies.bodies() == [b"later"]


async def test_transaction_unknown_after_max_checks_is_discarded(cluster: Cluster) -> None:
    topic = "TxForever"
    await create_topic(cluster, topic)
    listener = Listener({b"limbo": UNKNOW})
    async with TransactionProducer("PG_TX_LIMBO", cluster.namesrv_addr, listener) as producer:
        result = await producer.send_message_in_transaction(Message(topic, b"limbo"))
        deadline = time.monotonic() + 12
        while await max_offset(cluster, "TRANS_CHECK_MAX_TIME_TOPIC") < 1:
            assert time.monotonic() < deadline, f"not discarded; checks {len(listener.checked)}"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.2)  # discarded: no fourth check
    assert len(listener.checked) == 3
    assert {m.msg_id for m in listener.checked} == {result.msg_id}
    assert await max_offset(cluster, topic) == 0  # never visible


# --------------------------------------------------------------------------- bad input


async def send_half(cluster: Cluster, topic: str, group: str, body: bytes) -> tuple[int, int]:
    """A half message sent the raw way; returns (commit log offset, half queue offset)."""
    ext = {
        "a": group,
        "b": topic,
        "c": "TBW102",
        "d": "4",
        "e": "0",
        "f": "4",  # sysFlag PREPARED
        "g": str(int(time.time() * 1000)),
        "h": "0",
        "i": f"TRAN_MSG\x01true\x02PGROUP\x01{group}\x02UNIQ_KEY\x01TX{time.time_ns()}",
    }
    client = RemotingClient()
    try:
        response = await client.invoke(
            cluster.broker_addr,
            RemotingCommand(code=RequestCode.SEND_MESSAGE_V2, ext_fields=ext, body=body),
            5.0,
        )
    finally:
        await client.aclose()
    assert response.code == ResponseCode.SUCCESS, response.remark
    offset = decode_offset_msg_id(response.ext_fields["msgId"])[2]
    return offset, int(response.ext_fields["queueOffset"])


def end_request(
    group: str, commit_log_offset: int, queue_offset: int, kind: int
) -> RemotingCommand:
    return RemotingCommand.request(
        RequestCode.END_TRANSACTION,
        {
            "producerGroup": group,
            "tranStateTableOffset": str(queue_offset),
            "commitLogOffset": str(commit_log_offset),
            "commitOrRollback": str(kind),
            "fromTransactionCheck": "false",
            "msgId": "X",
        },
    )


async def end(cluster: Cluster, group: str, offset: int, queue_offset: int, kind: int) -> Any:
    client = RemotingClient()
    try:
        return await client.invoke(
            cluster.broker_addr, end_request(group, offset, queue_offset, kind), 5.0
        )
    finally:
        await client.aclose()


async def test_end_transaction_bad_input_changes_nothing(cluster: Cluster) -> None:
    topic, group = "TxBad", "PG_TX_BAD"
    await create_topic(cluster, topic)
    offset, queue_offset = await send_half(cluster, topic, group, b"half")
    ops_before = await max_offset(cluster, "RMQ_SYS_TRANS_OP_HALF_TOPIC")

    refused = [
        (group, offset + 1, queue_offset, 8, "no half message"),  # not a record start
        (group, 1 << 40, queue_offset, 8, "no half message"),  # beyond the log
        (group, offset, queue_offset + 7, 8, "state table offset"),
        ("PG_SOMEONE_ELSE", offset, queue_offset, 8, "producer group"),
        (group, offset, queue_offset, 5, "commitOrRollback"),
    ]
    for who, at, qo, kind, says in refused:
        response = await end(cluster, who, at, qo, kind)
        assert response.code != ResponseCode.SUCCESS, (who, at, qo, kind)
        assert says in (response.remark or ""), response.remark
    unknown = await end(cluster, group, offset, queue_offset, 0)  # UNKNOWN: wait for a check
    assert unknown.code == ResponseCode.SUCCESS
    assert await max_offset(cluster, topic) == 0

    committed = await end(cluster, group, offset, queue_offset, 8)
    assert (committed.code, committed.remark) == (ResponseCode.SUCCESS, "committed")
    assert await max_offset(cluster, topic) == 1
    for kind in (8, 12):  # resolved: a second commit or a late rollback changes nothing
        again = await end(cluster, group, offset, queue_offset, kind)
        assert again.code == ResponseCode.SUCCESS
        assert "already resolved" in (again.remark or "")
    assert await max_offset(cluster, topic) == 1
    assert await max_offset(cluster, "RMQ_SYS_TRANS_OP_HALF_TOPIC") == ops_before + 1

    # a one-way END_TRANSACTION is never answered, even when refused
    reader, writer = await asyncio.open_connection(*cluster.broker_addr.split(":"))
    try:
        oneway = end_request(group, 1 << 40, 0, 8)
        oneway.opaque, oneway.flag = 1001, FLAG_ONEWAY
        answered = end_request(group, 1 << 40, 0, 8)
        answered.opaque = 1002
        writer.write(encode_frame(oneway) + encode_frame(answered))
        decoder = FrameDecoder()
        while (frame := decoder.next_frame()) is None:
            decoder.feed(await asyncio.wait_for(reader.read(65536), 5))
        assert frame.opaque == 1002
    finally:
        writer.close()
        await writer.wait_closed()


async def test_transaction_survives_a_broker_crash(tmp_path: Path) -> None:
    """Prepared before a SIGKILL, committed after it: the state is rebuilt from the
    half and op topics (default check interval, so no check interferes)."""
    cluster = await asyncio.to_thread(make_cluster, tmp_path)
    try:
        topic, group = "TxCrash", "PG_TX_CRASH"
        await create_topic(cluster, topic)
        open_tx = await send_half(cluster, topic, group, b"open")
        done_tx = await send_half(cluster, topic, group, b"done")
        response = await end(cluster, group, *done_tx, 8)
        assert response.code == ResponseCode.SUCCESS
        assert await max_offset(cluster, topic) == 1
        cluster.broker.kill()  # no flush, no persisted offsets: rebuilt from the topics
        cluster.broker = await asyncio.to_thread(
            start_broker, cluster.workdir, cluster.broker_props
        )
        response = await end(cluster, group, *done_tx, 8)  # resolved before the crash
        assert "already resolved" in (response.remark or ""), response.remark
        response = await end(cluster, group, *open_tx, 8)
        assert (response.code, response.remark) == (ResponseCode.SUCCESS, "committed")
        assert await max_offset(cluster, topic) == 2
        response = await end(cluster, group, *open_tx, 12)
        assert "already resolved" in (response.remark or "")
    finally:
        await asyncio.to_thread(cluster.stop)
