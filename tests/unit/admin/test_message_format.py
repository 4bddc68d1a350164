"""consumeMessage's per-message line and the -s/-e timestamp forms."""

from __future__ import annotations

import datetime as dt

import pytest

from orbitmq.admin.message_format import (
    consume_message_line,
    message_ext_str,
    message_queue_str,
    parse_timestamp,
)
from orbitmq.protocol.message import MessageExt


def sample() -> MessageExt:
    return MessageExt(
        topic="TopicTest",
        body=b"Hi\xff",
        properties={"TAGS": "TagA", "UNIQ_KEY": "AC110001000078308DB1725A1C3A0000"},
        queue_id=2,
        queue_offset=7,
        commit_log_offset=1234,
        born_timestamp=1_700_000_000_000,
        born_host=("10.0.0.9", 50000),
        store_timestamp=1_700_000_000_005,
        store_host=("127.0.0.1", 10911),
        body_crc=42,
        store_size=200,
    )


def test_message_queue_str() -> None:
    assert message_queue_str("T", "b", 3) == "MessageQueue [topic=T, brokerName=b, queueId=3]"


def test_message_ext_str_follows_java_to_string() -> None:
    msg = sample()
    text = message_ext_str(msg, "broker-a")
    assert text.startswith(
        "MessageExt [brokerName=broker-a, queueId=2, storeSize=200, queueOffset=7, "
    )
    assert "bornHost=/10.0.0.9:50000" in text
    assert "storeHost=/127.0.0.1:10911" in text
    assert f"msgId={msg.offset_msg_id}, commitLogOffset=1234, bodyCRC=42" in text
    assert "properties={TAGS=TagA, UNIQ_KEY=AC110001000078308DB1725A1C3A0000}" in text
    assert "body=[72, 105, -1]" in text  # Java bytes are signed
    assert text.endswith("transactionId='null'}]")
    assert "brokerName=null" in message_ext_str(msg)


def test_consume_message_line_uses_uniq_key_and_body() -> None:
    line = consume_message_line(sample(), "broker-a")
    assert line.startswith("MSGID: AC110001000078308DB1725A1C3A0000 MessageExt [")
    assert line.endswith(" BODY: Hi\ufffd")


def test_consume_message_line_without_uniq_key_uses_offset_id() -> None:
    msg = sample()
    msg.properties.pop("UNIQ_KEY")
    assert consume_message_line(msg).startswith(f"MSGID: {msg.offset_msg_id} ")


def test_parse_timestamp_forms() -> None:
    assert parse_timestamp(" 1700000000123 ") == 1_700_000_000_123
    local = dt.datetime(2024, 3, 5, 6, 7, 8, 9000)
    assert parse_timestamp("2024-03-05#06:07:08:009") == int(local.timestamp() * 1000)
    with pytest.raises(ValueError, match="yyyy-MM-dd#HH:mm:ss:SSS"):
        parse_timestamp("yesterday")
