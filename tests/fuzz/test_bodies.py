"""JSON request and response bodies: fastjson's dialect, routes, REGISTER_BROKER, the
wrappers a slave reads, and the bodies broker handlers parse."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import targets
from tests.fuzz.budget import FUZZ
from tests.fuzz.strategies import I32, deep_nesting, json_documents, mutated

_ROUTE_KEYS = [
    "brokerDatas",
    "queueDatas",
    "brokerAddrs",
    "brokerName",
    "cluster",
    "perm",
    "readQueueNums",
    "writeQueueNums",
    "topicSysFlag",
    "orderTopicConf",
    "0",
    "1",
]
_REGISTER_KEYS = [
    "filterServerList",
    "topicConfigSerializeWrapper",
    "dataVersion",
    "topicConfigTable",
    "counter",
    "timestamp",
    "stateVersion",
    "topicName",
    "perm",
    "readQueueNums",
    "writeQueueNums",
    "topicSysFlag",
    "T",
]
_SLAVE_KEYS = [
    "dataVersion",
    "topicConfigTable",
    "subscriptionGroupTable",
    "offsetTable",
    "counter",
    "timestamp",
    "T",
    "g",
    "T@g",
    "0",
    "readQueueNums",
    "retryQueueNums",
    "perm",
]
_BROKER_KEYS = [
    "clientID",
    "clientId",
    "consumerGroup",
    "mqSet",
    "topic",
    "brokerName",
    "queueId",
    "consumerDataSet",
    "producerDataSet",
    "groupName",
    "subscriptionDataSet",
    "subString",
    "expressionType",
    "tagsSet",
    "subVersion",
    "messageModel",
    "consumeType",
    "consumeFromWhere",
    "subscriptionData",
    "classFilterMode",
]
_nested = st.one_of(
    deep_nesting(b"[", b"]"),
    deep_nesting(b'{"a":', b"}", b"1"),
    deep_nesting(b"{0:", b"}", b"1"),  # not orjson's: the fallback parser recurses
    deep_nesting(b"{{", b":1}", b'"a":1}').map(lambda d: b"{" + d[1:]),
)


@st.composite
def _compressed_register(draw: st.DrawFn) -> bytes:
    def chunk(data: bytes) -> bytes:
        return I32.pack(len(data)) + data

    lines = draw(st.lists(st.sampled_from([b"T 4 4 6 SINGLE_TAG", b"x", b"\xff 1 2 3 4"])))
    inner = chunk(draw(json_documents(["counter", "timestamp"])))
    inner += I32.pack(draw(st.sampled_from([len(lines), -1, 2**31 - 1])))
    inner += b"".join(chunk(line) for line in lines)
    inner += chunk(draw(st.sampled_from([b"[]", b"{}", b"7", b'["a"]', b"\xff"])))
    return b"\x03" + zlib.compress(draw(mutated(st.just(inner), max_mutations=2)))


@FUZZ
@given(st.one_of(st.binary(max_size=100), json_documents(_ROUTE_KEYS), _nested))
def test_fastjson(data: bytes) -> None:
    targets.fastjson(data)


@FUZZ
@given(st.one_of(st.binary(max_size=100), json_documents(_ROUTE_KEYS)))
def test_route(data: bytes) -> None:
    targets.route(data)


@FUZZ
@given(
    st.one_of(
        st.tuples(st.integers(0, 3), json_documents(_REGISTER_KEYS)).map(
            lambda t: bytes([t[0]]) + t[1]
        ),
        _compressed_register(),
        st.binary(max_size=100),
    )
)
def test_namesrv_register(data: bytes) -> None:
    targets.namesrv_register(data)


@FUZZ
@given(st.one_of(json_documents(_SLAVE_KEYS), st.binary(max_size=50)))
def test_slave_sync(data: bytes) -> None:
    targets.slave_sync(data)


@FUZZ
@given(st.one_of(json_documents(_BROKER_KEYS), st.binary(max_size=50), _nested))
def test_broker_bodies(data: bytes) -> None:
    targets.broker_bodies(data)
