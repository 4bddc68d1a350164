"""Topic message types: a topic's and a message's type, what a topic accepts, and the
send-time check on both 4.x send paths (the send lane and the general handler) of a real
in-process broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orbitmq.broker.broker import BrokerController
from orbitmq.broker.errors import MessageTypeMismatchError
from orbitmq.broker.message_type import (
    TopicMessageType,
    accept_message_types,
    accepts,
    check_message_type,
    message_type_of,
    topic_message_type,
)
from orbitmq.broker.topic_attributes import parse_attributes
from orbitmq.broker.topic_config import TopicConfig
from orbitmq.client.message import Message, create_uniq_id
from orbitmq.client.route import MessageQueue
from orbitmq.client.send_codec import batch_request, single_request
from orbitmq.protocol.codes import ResponseCode
from orbitmq.protocol.frame import encode_frame
from orbitmq.protocol.message import SysFlag
from tests.unit.inprocess import broker_config

from .wire import connect

T = TopicMessageType


def typed(message_type: str | None) -> TopicConfig:
    attributes = {} if message_type is None else {"message.type": message_type}
    return TopicConfig("T", 4, 4, attributes=attributes)


def test_topic_message_type() -> None:
    assert topic_message_type(None) is T.UNSPECIFIED
    assert topic_message_type(typed(None)) is T.NORMAL
    assert topic_message_type(typed("FIFO")) is T.FIFO
    assert topic_message_type(typed("LITE")) is T.UNSPECIFIED  # unknown to this broker


@pytest.mark.parametrize(
    ("properties", "sys_flag", "expected"),
    [
        ({}, 0, T.NORMAL),
        ({"TRAN_MSG": "true", "__SHARDINGKEY": "g"}, 0, T.TRANSACTION),
        ({}, SysFlag.TRANSACTION_PREPARED, T.TRANSACTION),
        ({"TRAN_MSG": "false"}, SysFlag.TRANSACTION_COMMIT, T.NORMAL),
        ({"DELAY": "3", "__SHARDINGKEY": "g"}, 0, T.DELAY),
        ({"TIMER_DELIVER_MS": "1"}, 0, T.DELAY),
        ({"TIMER_DELAY_SEC": "1"}, 0, T.DELAY),
        ({"TIMER_DELAY_MS": "1"}, 0, T.DELAY),
        ({"__STARTDELIVERTIME": "1"}, 0, T.NORMAL),  # not parseFromMessageProperty's
        ({"__SHARDINGKEY": "g"}, 0, T.FIFO),
    ],
)
def test_message_type_of(properties: dict[str, str], sys_flag: int, expected: T) -> None:
    assert message_type_of(properties, sys_flag) is expected


def test_what_a_topic_accepts() -> None:
    sendable = (T.NORMAL, T.FIFO, T.DELAY, T.TRANSACTION)
    for message in sendable:
        assert accepts(T.MIXED, message)
        assert [t for t in sendable if accepts(t, message)] == [message]
        assert not accepts(T.UNSPECIFIED, message)
    assert not accepts(T.MIXED, T.UNSPECIFIED)
    assert accept_message_types(T.MIXED) == sendable
    assert accept_message_types(T.FIFO) == (T.FIFO,)
    assert accept_message_types(T.UNSPECIFIED) == (T.UNSPECIFIED,)


def test_check_message_type_words_the_refusal_as_rocketmq() -> None:
    with pytest.raises(MessageTypeMismatchError) as refused:
        check_message_type("T", typed("FIFO"), {})
    assert str(refused.value) == (
        "TopicMessageType validate failed, the expected type is FIFO, but actual type is NORMAL"
    )
    assert refused.value.response_code == ResponseCode.MESSAGE_ILLEGAL
    check_message_type("T", typed("FIFO"), {"__SHARDINGKEY": "g"})
    # Retry and DLQ topics, and messages a proxy forwarded, are not checked.
    check_message_type("%RETRY%G", typed("FIFO"), {})
    check_message_type("%DLQ%G", typed("FIFO"), {})
    check_message_type("T", typed("FIFO"), {"TRANSFER_FLAG": "true"})


# The 4.x send paths -------------------------------------------------------------------
@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[BrokerController]:
    broker = BrokerController(broker_config(tmp_path, "", enable_topic_message_type_check=True))
    await broker.start()
    topics = broker.topic_config_manager
    for name, text in (
        ("FifoT", "+message.type=FIFO"),
        ("NormalT", ""),
        ("MixedT", "+message.type=MIXED"),
    ):
        topics.create_or_update(TopicConfig(name, 2, 2), parse_attributes(text))
    yield broker
    await broker.aclose()


def _frame(opaque: int, message: Message) -> bytes:
    request = single_request(
        "type-group", MessageQueue(message.topic, "broker-a", 0), message, create_uniq_id(), 4096
    )
    request.opaque = opaque
    return encode_frame(request)


def _batch_frame(opaque: int, topic: str) -> bytes:
    mq = MessageQueue(topic, "broker-a", 0)
    pair = [Message(topic, b"b0"), Message(topic, b"b1")]
    request = batch_request("type-group", mq, pair, [create_uniq_id(), create_uniq_id()])
    request.opaque = opaque
    return encode_frame(request)


async def _answers(broker: BrokerController, frames: bytes) -> dict[int, tuple[int, str | None]]:
    connection, transport = connect(broker)
    connection.data_received(frames)
    store = broker.message_store
    await store.wait_dispatched(store.get_commit_log_max_offset())
    for _ in range(100):  # answers of the general way's tasks
        answers = transport.responses()
        if answers:
            return {o: (a.code, a.remark) for o, a in answers.items()}
        await asyncio.sleep(0.01)
    raise AssertionError("no answer")


FIFO = {"__SHARDINGKEY": "order-1"}


async def test_sends_of_another_type_are_refused_on_both_paths(broker: BrokerController) -> None:
    frames = b"".join(
        (
            _frame(1, Message("FifoT", b"normal")),  # a plain send: the lane's
            _frame(2, Message("FifoT", b"fifo", properties=FIFO)),
            _frame(3, Message("NormalT", b"fifo", properties=FIFO)),
            _frame(4, Message("NormalT", b"delayed", delay_time_level=2)),  # general way
            _frame(5, Message("NormalT", b"normal")),
            _frame(6, Message("MixedT", b"fifo", properties=FIFO)),
            _frame(7, Message("MixedT", b"delayed", delay_time_level=2)),
            _batch_frame(8, "FifoT"),
        )
    )
    answers = await _answers(broker, frames)
    refused = "TopicMessageType validate failed, the expected type is {}, but actual type is {}"
    assert answers == {
        1: (ResponseCode.MESSAGE_ILLEGAL, refused.format("FIFO", "NORMAL")),
        2: (ResponseCode.SUCCESS, None),
        3: (ResponseCode.MESSAGE_ILLEGAL, refused.format("NORMAL", "FIFO")),
        4: (ResponseCode.MESSAGE_ILLEGAL, refused.format("NORMAL", "DELAY")),
        5: (ResponseCode.SUCCESS, None),
        6: (ResponseCode.SUCCESS, None),
        7: (ResponseCode.SUCCESS, None),
        8: (ResponseCode.MESSAGE_ILLEGAL, refused.format("FIFO", "NORMAL")),
    }


async def test_without_the_check_every_type_is_stored(broker: BrokerController) -> None:
    broker.config.enable_topic_message_type_check = False  # as updateBrokerConfig sets it
    frames = _frame(1, Message("FifoT", b"normal")) + _frame(
        2, Message("NormalT", b"fifo", properties=FIFO)
    )
    answers = await _answers(broker, frames)
    assert answers == {1: (ResponseCode.SUCCESS, None), 2: (ResponseCode.SUCCESS, None)}
