import zlib

import pytest

from orbitmq.client.consumer.pull_codec import (
    FLAG_COMMIT_OFFSET,
    FLAG_SUBSCRIPTION,
    FLAG_SUSPEND,
    PullStatus,
    parse_pull_response,
    pull_ext,
    pull_sys_flag,
)
from orbitmq.client.errors import MQClientError, SubscriptionNotExistError
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.command import FLAG_RESPONSE, RemotingCommand
from orbitmq.protocol.message import MessageExt, encode_record
from orbitmq.protocol.subscription import parse_subscription

MQ = MessageQueue("T", "broker-a", 2)


def record(offset: int, tags: str | None, body: bytes = b"b", sys_flag: int = 0) -> bytes:
    props = {"TAGS": tags} if tags else {}
    msg = MessageExt("T", body, props, queue_id=2, queue_offset=offset, sys_flag=sys_flag)
    return bytes(encode_record(msg))


def response(code: int, body: bytes = b"", **ext: str) -> RemotingCommand:
    fields = {"nextBeginOffset": "3", "minOffset": "0", "maxOffset": "9", **ext}
    return RemotingCommand(code=code, flag=FLAG_RESPONSE, ext_fields=fields, body=body)


def test_sys_flags() -> None:
    assert pull_sys_flag(False, True, True) == 6
    assert pull_sys_flag(True, True, True) == 7
    assert pull_sys_flag(False, False, True) == FLAG_SUBSCRIPTION == 4
    assert FLAG_COMMIT_OFFSET | FLAG_SUSPEND == 3


def test_pull_ext() -> None:
    sub = parse_subscription("T", "TagA || TagB", 1234)
    assert pull_ext("G", MQ, 5, 32, 7, 5, 15000, sub) == {
        "consumerGroup": "G",
        "topic": "T",
        "queueId": "2",
        "queueOffset": "5",
        "maxMsgNums": "32",
        "sysFlag": "7",
        "commitOffset": "5",
        "suspendTimeoutMillis": "15000",
        "subscription": "TagA || TagB",
        "subVersion": "1234",
        "expressionType": "TAG",
        "bname": "broker-a",
    }


def test_found_filters_exact_tags_and_inflates() -> None:
    big = b"z" * 5000
    body = (
        record(0, "TagA")
        + record(1, "TagC")
        + record(2, "TagB", zlib.compress(big, 5), sys_flag=1)
        + record(3, None)
    )
    sub = parse_subscription("T", "TagA || TagB", 1)
    result = parse_pull_response(
        response(0, body, nextBeginOffset="4", suggestWhichBrokerId="1"), sub
    )
    assert result.status is PullStatus.FOUND
    assert [m.queue_offset for m in result.messages] == [0, 2]
    assert result.messages[1].body == big
    assert result.messages[1].sys_flag & 1 == 0
    assert (result.next_begin_offset, result.min_offset, result.max_offset) == (4, 0, 9)
    assert result.suggest_which_broker_id == 1


def test_found_without_subscription_keeps_everything() -> None:
    result = parse_pull_response(response(0, record(0, None) + record(1, "X")), None)
    assert len(result.messages) == 2


@pytest.mark.parametrize(
    ("code", "status"),
    [(19, PullStatus.NO_NEW_MSG), (20, PullStatus.NO_MATCHED_MSG), (21, PullStatus.OFFSET_ILLEGAL)],
)
def test_other_statuses(code: int, status: PullStatus) -> None:
    result = parse_pull_response(response(code), parse_subscription("T", "*", 0))
    assert result.status is status
    assert result.messages == []
    assert result.next_begin_offset == 3


def test_error_codes_and_bad_bodies() -> None:
    with pytest.raises(SubscriptionNotExistError):
        parse_pull_response(response(24), None)
    with pytest.raises(MQClientError):
        parse_pull_response(RemotingCommand(code=19, flag=FLAG_RESPONSE, ext_fields={}), None)
    with pytest.raises(MQClientError):
        parse_pull_response(response(0, b"\x00\x00\x00\x10garbage"), None)
