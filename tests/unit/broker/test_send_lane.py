"""The send lane against the general send path: same records, same answers, same order.

Each test starts a real BrokerController (no NameServer) and feeds SEND frames, as a
pipelining client's bytes arrive, to a RemotingConnection whose transport keeps what
the broker writes back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from orbitmq.broker.broker import BrokerController
from orbitmq.client.message import Message, create_uniq_id
from orbitmq.client.route import MessageQueue
from orbitmq.client.send_codec import batch_request, single_request
from orbitmq.protocol.codes import ResponseCode
from orbitmq.protocol.command import FLAG_ONEWAY
from orbitmq.protocol.frame import encode_frame
from orbitmq.protocol.message import MessageExt, decode_record
from orbitmq.store.results import GetMessageStatus
from tests.unit.inprocess import broker_config

from .wire import connect

TOPIC = "LaneTopic"
QUEUES = 4


async def _broker(tmp: Path, name: str, **overrides: object) -> BrokerController:
    broker = BrokerController(
        broker_config(tmp, "", store_path_root_dir=str(tmp / name), **overrides)
    )
    await broker.start()
    broker.topic_config_manager.create_in_send(TOPIC, "TBW102", QUEUES)
    return broker


@pytest.fixture
async def brokers(tmp_path: Path) -> AsyncIterator[tuple[BrokerController, BrokerController]]:
    """A broker with the lane, and one whose connections all go the general way."""
    lane = await _broker(tmp_path, "lane")
    general = await _broker(tmp_path, "general")
    general.dispatcher.lane = None
    yield lane, general
    await lane.aclose()
    await general.aclose()


def _send(opaque: int, queue_id: int, message: Message, *, oneway: bool = False) -> bytes:
    mq = MessageQueue(message.topic, "broker-a", queue_id)
    request = single_request("lane-group", mq, message, create_uniq_id(), 4096)
    request.opaque = opaque
    if oneway:
        request.flag |= FLAG_ONEWAY
    return encode_frame(request)


def _messages(count: int) -> list[Message]:
    return [
        Message(TOPIC, f"body-{i}".encode() * 10, tags=f"Tag{i % 3}", keys=f"key-{i} k{i}")
        for i in range(count)
    ]


async def _settle(broker: BrokerController) -> None:
    store = broker.message_store
    await store.wait_dispatched(store.get_commit_log_max_offset())
    await asyncio.sleep(0.01)  # the connection's flush of the answers


def _stored(broker: BrokerController, queue_id: int) -> list[MessageExt]:
    result = broker.message_store.get_message(TOPIC, queue_id, 0, 64)
    try:
        return [decode_record(buffer) for buffer in result.buffers]
    finally:
        result.release()


def _comparable(msg: MessageExt) -> tuple[object, ...]:
    props = dict(msg.properties)
    props.pop("UNIQ_KEY")
    return (msg.topic, msg.body, props, msg.queue_id, msg.queue_offset, msg.flag, msg.sys_flag)


async def test_plain_sends_store_what_the_general_path_stores(
    brokers: tuple[BrokerController, BrokerController],
) -> None:
    frames = [_send(i + 1, i % QUEUES, m) for i, m in enumerate(_messages(40))]
    answers = []
    for broker in brokers:
        connection, transport = connect(broker)
        connection.data_received(b"".join(frames))
        await _settle(broker)
        answers.append(transport.responses())
    lane, general = brokers
    for queue_id in range(QUEUES):
        stored = _stored(lane, queue_id)
        assert len(stored) == 10
        assert [_comparable(m) for m in stored] == [
            _comparable(m) for m in _stored(general, queue_id)
        ]
        assert all(m.properties["CLUSTER"] == lane.config.broker_cluster_name for m in stored)
    lane_answers, general_answers = answers
    assert lane_answers.keys() == general_answers.keys() == set(range(1, 41))
    for opaque, answer in lane_answers.items():
        expected = general_answers[opaque]
        assert (answer.code, answer.remark, answer.flag) == (ResponseCode.SUCCESS, None, 1)
        assert answer.ext_fields.keys() == expected.ext_fields.keys()
        for name in ("queueId", "queueOffset", "MSG_REGION", "TRACE_ON"):
            assert answer.ext_fields[name] == expected.ext_fields[name]
        # The offset message id names this broker and the record's commit-log offset.
        stored = lane.message_store.look_message_by_offset(int(answer.ext_fields["msgId"][16:], 16))
        assert stored is not None and stored.queue_offset == int(answer.ext_fields["queueOffset"])


async def test_keys_are_indexed_and_tags_coded(
    brokers: tuple[BrokerController, BrokerController],
) -> None:
    lane = brokers[0]
    connection, _ = connect(lane)
    messages = _messages(6)
    connection.data_received(b"".join(_send(i + 1, 0, m) for i, m in enumerate(messages)))
    await _settle(lane)
    store = lane.message_store
    for i in range(6):
        for key in (f"key-{i}", f"k{i}"):
            found = store.query_message(TOPIC, key, 32, 0, 2**62)
            try:
                assert [decode_record(b).body for b in found.buffers] == [messages[i].body]
            finally:
                found.release()
    tag1 = store.get_message(
        TOPIC, 0, 0, 32, message_filter=lambda code: code == _java_hash("Tag1")
    )
    try:
        assert [decode_record(b).tags for b in tag1.buffers] == ["Tag1", "Tag1"]
    finally:
        tag1.release()


def _java_hash(text: str) -> int:
    h = 0
    for ch in text:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


async def test_other_frames_keep_the_arrival_order(
    brokers: tuple[BrokerController, BrokerController],
) -> None:
    """A batch (the general way) between plain sends lands between them in the log."""
    lane = brokers[0]
    connection, transport = connect(lane)
    mq = MessageQueue(TOPIC, "broker-a", 1)
    pair = [Message(TOPIC, b"batched-0"), Message(TOPIC, b"batched-1")]
    batch = batch_request("lane-group", mq, pair, [create_uniq_id(), create_uniq_id()])
    batch.opaque = 100
    frames = (
        _send(1, 1, Message(TOPIC, b"first"))
        + encode_frame(batch)
        + _send(2, 1, Message(TOPIC, b"last"))
    )
    connection.data_received(frames)
    await _settle(lane)
    assert [m.body for m in _stored(lane, 1)] == [b"first", b"batched-0", b"batched-1", b"last"]
    assert set(transport.responses()) == {1, 2, 100}


async def test_sends_the_lane_does_not_take_are_answered_the_general_way(
    brokers: tuple[BrokerController, BrokerController],
) -> None:
    lane = brokers[0]
    connection, transport = connect(lane)
    frames = b"".join(
        (
            _send(1, 0, Message(TOPIC, b"delayed", delay_time_level=2)),
            _send(2, 0, Message("NoSuchTopic", b"x")),
            _send(3, QUEUES + 3, Message(TOPIC, b"bad queue")),
            _send(4, 0, Message(TOPIC, b"plain")),
        )
    )
    connection.data_received(frames)
    await _settle(lane)
    answers = transport.responses()
    assert answers[1].code == ResponseCode.SUCCESS
    # autoCreateTopicEnable: the general way creates the topic from TBW102
    assert answers[2].code == ResponseCode.SUCCESS
    assert lane.topic_config_manager.get("NoSuchTopic") is not None
    assert answers[3].code == ResponseCode.MESSAGE_ILLEGAL
    assert answers[4].code == ResponseCode.SUCCESS
    # The delayed message waits in SCHEDULE_TOPIC_XXXX, not in the topic.
    assert [m.body for m in _stored(lane, 0)] == [b"plain"]


async def test_oneway_sends_are_stored_without_an_answer(
    brokers: tuple[BrokerController, BrokerController],
) -> None:
    lane = brokers[0]
    connection, transport = connect(lane)
    connection.data_received(
        _send(1, 2, Message(TOPIC, b"oneway"), oneway=True) + _send(2, 2, Message(TOPIC, b"two"))
    )
    await _settle(lane)
    assert set(transport.responses()) == {2}
    assert [m.body for m in _stored(lane, 2)] == [b"oneway", b"two"]


async def test_a_slave_refuses_through_the_general_way(tmp_path: Path) -> None:
    slave = await _broker(tmp_path, "slave", broker_role="SLAVE", broker_id=1)
    try:
        connection, transport = connect(slave)
        connection.data_received(_send(1, 0, Message(TOPIC, b"x")))
        await asyncio.sleep(0.01)
        answer = transport.responses()[1]
        assert answer.code == ResponseCode.SERVICE_NOT_AVAILABLE
        assert "slave" in (answer.remark or "")
    finally:
        await slave.aclose()


async def test_sync_flush_answers_after_the_group_commit(tmp_path: Path) -> None:
    synced: list[int] = []
    broker = await _broker(tmp_path, "sync", flush_disk_type="SYNC_FLUSH")
    try:
        flusher = broker.message_store._flusher
        assert flusher is not None
        real_sync = flusher.sync

        def sync(files: object) -> None:
            synced.append(len(transport.responses()))
            real_sync(files)  # type: ignore[arg-type]

        flusher.sync = sync  # type: ignore[method-assign]
        connection, transport = connect(broker)
        frames = [_send(i + 1, 0, m) for i, m in enumerate(_messages(8))]
        connection.data_received(b"".join(frames))
        await _settle(broker)
        for _ in range(100):
            if transport.decoder.buffered:
                break
            await asyncio.sleep(0.01)
        answers = transport.responses()
        assert synced and synced[0] == 0  # nothing was answered before the fsync
        assert sorted(answers) == list(range(1, 9))
        assert {a.code for a in answers.values()} == {ResponseCode.SUCCESS}
    finally:
        await broker.aclose()


async def test_records_written_while_reput_is_behind_are_dispatched_by_reput(
    brokers: tuple[BrokerController, BrokerController],
) -> None:
    """A general-path append wakes reput but does not dispatch; lane sends right after it
    leave their consume-queue units to reput, which must still write them in order."""
    lane = brokers[0]
    connection, _ = connect(lane)
    mq = MessageQueue(TOPIC, "broker-a", 3)
    batch = batch_request("lane-group", mq, [Message(TOPIC, b"b0")], [create_uniq_id()])
    batch.opaque = 50
    sends = [_send(i + 1, 3, Message(TOPIC, f"m{i}".encode())) for i in range(5)]
    connection.data_received(encode_frame(batch) + b"".join(sends))
    await _settle(lane)
    stored = _stored(lane, 3)
    assert [m.body for m in stored] == [b"b0", b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert [m.queue_offset for m in stored] == list(range(6))
    result = lane.message_store.get_message(TOPIC, 3, 6, 8)
    assert result.status is GetMessageStatus.OFFSET_OVERFLOW_ONE
    result.release()


def test_answer_template_is_valid_json() -> None:
    from orbitmq.broker import send_lane

    header = send_lane._ANSWER % (0, "7F000001000027", 12, 3, 4, 5, "null")
    parsed = orjson.loads(header)
    assert parsed["extFields"]["msgId"] == "7F000001000027" + f"{12:016X}"
    assert parsed["remark"] is None and parsed["flag"] == 1
