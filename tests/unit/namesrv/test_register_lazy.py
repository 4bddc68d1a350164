"""A REGISTER_BROKER body is decoded as far as the NameServer needs: its DataVersion
always, its topic configs only when that version is new to the NameServer."""

from __future__ import annotations

import struct
import zlib

import orjson
import pytest

from orbitmq.namesrv import codec
from orbitmq.namesrv.errors import BodyDecodeError
from orbitmq.namesrv.route_data import DataVersion, TopicConfig
from orbitmq.protocol.codes import RequestCode, ResponseCode
from tests.unit.namesrv.test_handlers import MASTER, Harness


def compressed(counter: int, lines: list[bytes], filters: bytes = b'["f:1"]') -> bytes:
    """RegisterBrokerBody.encode(true)."""
    version = b'{"counter":%d,"timestamp":5}' % counter
    out = [struct.pack(">i", len(version)), version, struct.pack(">i", len(lines))]
    for line in lines:
        out += [struct.pack(">i", len(line)), line]
    out += [struct.pack(">i", len(filters)), filters]
    return zlib.compress(b"".join(out))


def test_view_reads_the_version_first_and_the_rest_on_demand() -> None:
    view = codec.open_register_body(
        compressed(3, [b"T1 4 4 6 SINGLE_TAG", b"T2 x"]), compressed=True, version=409
    )
    assert view.data_version == DataVersion(5, 3)
    with pytest.raises(BodyDecodeError):
        view.topic_configs()  # the bad line is found only when the topics are read


def test_view_filter_list_follows_the_topics() -> None:
    view = codec.open_register_body(
        compressed(1, [b"T1 4 4 6 SINGLE_TAG"]), compressed=True, version=409
    )
    assert view.filter_server_list() == ["f:1"]
    assert view.topic_configs() == {"T1": TopicConfig("T1", 4, 4, 6)}
    assert view.filter_server_list() == ["f:1"]


def test_unchanged_registration_leaves_topics_undecoded(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[str] = []
    real = codec._topic_config_line

    def counting(line: str) -> TopicConfig:
        decoded.append(line)
        return real(line)

    monkeypatch.setattr(codec, "_topic_config_line", counting)
    h = Harness()
    lines = [b"T%d 8 8 6 SINGLE_TAG" % i for i in range(50)]

    def register(counter: int) -> int:
        body = compressed(counter, lines)
        response = h.call(
            RequestCode.REGISTER_BROKER, body, brokerName="broker-a", brokerAddr=MASTER,
            clusterName="DefaultCluster", haServerAddr="x:1", brokerId="0", compressed="true",
        )  # fmt: skip
        assert response.code == ResponseCode.SUCCESS
        return len(decoded)

    assert register(1) == 50  # first: every topic is written
    assert register(1) == 50  # unchanged: none decoded
    assert register(2) == 100  # a new version: decoded and written again
    assert len(h.table.topic_queue_table) == 50


def json_body(counter: int, topics: int) -> bytes:
    """As Java (fastjson) and OrbitMQ brokers write it: sorted keys, no spaces."""
    table = {
        f"T{i}": {"perm": 6, "readQueueNums": 8, "topicName": f"T{i}", "writeQueueNums": 8}
        for i in range(topics)
    }
    version = {"counter": counter, "timestamp": 5}
    wrapper = {"dataVersion": version, "topicConfigTable": table}
    return orjson.dumps({"filterServerList": [], "topicConfigSerializeWrapper": wrapper})


def test_json_body_version_is_read_off_its_start(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[int] = []
    real = codec.loads_tolerant

    def recording(data: bytes | str) -> object:
        parsed.append(len(data))
        return real(data)

    monkeypatch.setattr(codec, "loads_tolerant", recording)
    body = json_body(4, 100)
    view = codec.open_register_body(body, compressed=False, version=409)
    assert view.data_version == DataVersion(5, 4)
    assert max(parsed) < 100  # just the DataVersion object
    assert len(view.topic_configs()) == 100 and max(parsed) == len(body)


def test_json_body_in_another_key_order_is_parsed_whole() -> None:
    doc = orjson.loads(json_body(4, 3))
    reordered = orjson.dumps({k: doc[k] for k in reversed(list(doc))})
    view = codec.open_register_body(reordered, compressed=False, version=409)
    assert view.data_version == DataVersion(5, 4) and len(view.topic_configs()) == 3
    with pytest.raises(BodyDecodeError):
        codec.open_register_body(b'{"topicConfigSerializeWrapper":', compressed=False, version=409)
