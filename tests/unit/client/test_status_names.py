"""Statuses print their RocketMQ names, as every RocketMQ client prints them."""

from __future__ import annotations

import enum

import pytest

from orbitmq.client import (
    ConsumeOrderlyStatus,
    ConsumeStatus,
    LocalTransactionState,
    MessageQueue,
    PullStatus,
    SendResult,
    SendStatus,
)

STATUSES: list[enum.Enum] = [
    *SendStatus,
    *PullStatus,
    *ConsumeStatus,
    *ConsumeOrderlyStatus,
    *LocalTransactionState,
]


@pytest.mark.parametrize("status", STATUSES, ids=lambda s: s.name)
def test_str_and_format_give_the_name(status: enum.Enum) -> None:
    assert str(status) == status.name
    assert f"{status}" == status.name
    assert format(status, ">40") == status.name.rjust(40)
    assert "%s" % status == status.name  # noqa: UP031  (what logging does)


def test_the_readme_line_prints_send_ok() -> None:
    assert f"{SendStatus.SEND_OK} C0A8" == "SEND_OK C0A8"
    assert [str(s) for s in SendStatus] == [
        "SEND_OK",
        "FLUSH_DISK_TIMEOUT",
        "FLUSH_SLAVE_TIMEOUT",
        "SLAVE_NOT_AVAILABLE",
    ]


def test_send_status_keeps_java_ordinals() -> None:
    assert SendStatus.SEND_OK == 0
    assert SendStatus(3) is SendStatus.SLAVE_NOT_AVAILABLE
    assert int(SendStatus.FLUSH_SLAVE_TIMEOUT) == 2


def test_string_statuses_keep_their_values() -> None:
    assert PullStatus("NO_NEW_MSG") is PullStatus.NO_NEW_MSG
    assert ConsumeStatus.RECONSUME_LATER.value == "RECONSUME_LATER"
    assert LocalTransactionState("UNKNOW") is LocalTransactionState.UNKNOW


def test_send_result_prints_as_java_does() -> None:
    mq = MessageQueue("Orders", "broker-a", 2)
    result = SendResult(SendStatus.SEND_OK, "C0A8", "7F00", mq, 41)
    assert str(mq) == "MessageQueue [topic=Orders, brokerName=broker-a, queueId=2]"
    assert str(result) == (
        "SendResult [sendStatus=SEND_OK, msgId=C0A8, offsetMsgId=7F00, messageQueue="
        "MessageQueue [topic=Orders, brokerName=broker-a, queueId=2], queueOffset=41]"
    )
