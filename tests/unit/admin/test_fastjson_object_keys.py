"""fastjson's object map keys (remoting-protocol.md §1.10): reading and writing them."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitmq.protocol.fastjson import ObjectKey, dumps, loads_tolerant

# A ConsumeStats body as a Java 4.9 broker writes it (fastjson, sorted fields).
JAVA_CONSUME_STATS = (
    b'{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:'
    b'{"brokerOffset":5,"consumerOffset":3,"lastTimestamp":1700000000000},'
    b'{"brokerName":"broker-a","queueId":1,"topic":"T"}:{"brokerOffset":6,"consumerOffset":6,'
    b'"lastTimestamp":0}}}'
)


def mq(queue_id: int, topic: str = "T") -> ObjectKey:
    return ObjectKey.of({"topic": topic, "brokerName": "broker-a", "queueId": queue_id})


def test_object_keys_are_read_as_object_keys() -> None:
    data = loads_tolerant(JAVA_CONSUME_STATS)
    assert data["consumeTps"] == 1.5
    assert list(data["offsetTable"]) == [mq(0), mq(1)]
    assert data["offsetTable"][mq(0)] == {
        "brokerOffset": 5,
        "consumerOffset": 3,
        "lastTimestamp": 1700000000000,
    }
    assert mq(0).as_dict() == {"brokerName": "broker-a", "queueId": 0, "topic": "T"}
    assert mq(0).get("queueId") == 0 and mq(0).get("nope", "x") == "x"


def test_written_form_is_byte_for_byte_fastjsons() -> None:
    assert dumps(loads_tolerant(JAVA_CONSUME_STATS)) == JAVA_CONSUME_STATS


def test_mixed_dialect_whitespace_and_strings_left_alone() -> None:
    text = ' { "a" : { 0 : "x:{y}" } , "b" : [ { {"k" : 1} : null } ] , "c" : "\\"{0:1}" } '
    assert loads_tolerant(text) == {
        "a": {"0": "x:{y}"},
        "b": [{ObjectKey.of({"k": 1}): None}],
        "c": '"{0:1}',
    }


@pytest.mark.parametrize("bad", [b"{bad", b"{{}:1", b'{"a":1}x', b"[1,]", b"", b"{1:}"])
def test_not_json_raises_the_original_error(bad: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        loads_tolerant(bad)


keys = st.builds(
    lambda topic, broker, queue: ObjectKey.of(
        {"topic": topic, "brokerName": broker, "queueId": queue}
    ),
    st.text(max_size=8),
    st.text(max_size=8),
    st.integers(0, 1000),
)
values = st.dictionaries(st.sampled_from(["brokerOffset", "consumerOffset"]), st.integers(0, 2**40))


@given(st.dictionaries(keys, values, max_size=6), st.floats(0, 1e6))
def test_round_trip(table: dict[ObjectKey, dict[str, int]], tps: float) -> None:
    body = {"consumeTps": tps, "offsetTable": table}
    assert loads_tolerant(dumps(body)) == body
