"""Pure pieces of the broker's SQL92 filter hook, reset-offset bodies and lock bodies."""

from __future__ import annotations

import orjson
import pytest

from orbitmq.broker.handlers.reset_offset import encode_offset_list, encode_offset_table
from orbitmq.broker.message_filter import filter_by_properties, record_properties
from orbitmq.client.consumer.broker_requests import parse_reset_offsets
from orbitmq.client.consumer.locks import lock_body, parse_lock_response
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.message import MessageExt, encode_record
from orbitmq.protocol.sql92 import compile_sql
from orbitmq.store.results import GetMessageResult, GetMessageStatus


def record(props: dict[str, str], born: str = "10.0.0.1", store: str = "10.0.0.2") -> memoryview:
    msg = MessageExt(
        topic="T", body=b"x" * 50, properties=props, born_host=(born, 1), store_host=(store, 2)
    )
    return memoryview(bytes(encode_record(msg)))


@pytest.mark.parametrize(("born", "store"), [("10.0.0.1", "10.0.0.2"), ("::1", "fe80::2")])
def test_record_properties_reads_only_the_properties(born: str, store: str) -> None:
    props = {"TAGS": "TagA", "a": "5", "KEYS": "k1 k2"}
    assert record_properties(record(props, born, store)) == props


def test_record_properties_refuses_a_truncated_record() -> None:
    with pytest.raises(ValueError):
        record_properties(record({"a": "1"})[:60])


def test_filter_keeps_matching_records_and_reports_no_match() -> None:
    buffers = [record({"a": str(i)}) for i in range(6)]
    result = GetMessageResult(GetMessageStatus.FOUND, 6, 0, 6, list(buffers), 6, 0)
    filter_by_properties(result, compile_sql("a >= 4"))
    assert [record_properties(b)["a"] for b in result.buffers] == ["4", "5"]
    assert result.message_count == 2
    assert result.buffer_total_size == sum(len(b) for b in result.buffers)
    assert result.next_begin_offset == 6
    none = GetMessageResult(GetMessageStatus.FOUND, 6, 0, 6, list(buffers), 6, 0)
    filter_by_properties(none, compile_sql("a > 100"))
    assert none.status is GetMessageStatus.NO_MATCHED_MESSAGE and none.message_count == 0


def test_reset_offset_bodies_in_both_forms_decode_on_the_client() -> None:
    table = [(0, 5), (1, 0), (2, 12)]
    java = encode_offset_table("broker-a", "T", table)
    assert java.startswith(b'{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:5,')
    expected = {MessageQueue("T", "broker-a", q): o for q, o in table}
    assert parse_reset_offsets(java) == expected
    cpp = encode_offset_list("broker-a", "T", table)
    assert orjson.loads(cpp)["offsetTable"][2] == {
        "brokerName": "broker-a",
        "offset": 12,
        "queueId": 2,
        "topic": "T",
    }
    assert parse_reset_offsets(cpp) == expected


def test_lock_bodies() -> None:
    mqs = [MessageQueue("T", "b", 1), MessageQueue("T", "b", 0)]
    body = orjson.loads(lock_body("G", "c1", mqs))
    assert body == {
        "clientId": "c1",
        "consumerGroup": "G",
        "mqSet": [
            {"brokerName": "b", "queueId": 1, "topic": "T"},
            {"brokerName": "b", "queueId": 0, "topic": "T"},
        ],
    }
    answer = b'{"lockOKMQSet":[{"brokerName":"b","queueId":0,"topic":"T"}]}'
    assert parse_lock_response(answer) == {MessageQueue("T", "b", 0)}
    assert parse_lock_response(b"") == set()
