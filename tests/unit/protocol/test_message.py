from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.message import (
    BatchEntry,
    MessageExt,
    create_offset_msg_id,
    decode_batch,
    decode_offset_msg_id,
    decode_properties,
    decode_record,
    decode_records,
    encode_batch,
    encode_properties,
    encode_record,
    java_hash,
)
from orbitmq.protocol.subscription import parse_subscription, subscription_from_json

FIXTURES = Path(__file__).parents[2] / "fixtures"


def spec_example() -> bytes:
    lines = (FIXTURES / "record_spec_example.hex").read_text().splitlines()
    return bytes.fromhex("".join(line for line in lines if not line.startswith("#")))


def test_record_matches_spec_golden_bytes() -> None:
    message = MessageExt(
        topic="T",
        body=b"hi",
        properties={"TAGS": "a"},
        born_timestamp=1700000000000,
        born_host=("127.0.0.1", 40000),
        store_timestamp=1700000000001,
        store_host=("127.0.0.1", 10911),
    )
    assert bytes(encode_record(message)) == spec_example()
    decoded = decode_record(spec_example(), check_crc=True)
    assert decoded.tags == "a"
    assert decoded.store_host == ("127.0.0.1", 10911)
    assert decoded.store_size == 100


def test_ipv6_hosts_round_trip() -> None:
    message = MessageExt(topic="T", body=b"x", born_host=("::1", 5), store_host=("::1", 6))
    decoded = decode_record(encode_record(message))
    assert decoded.born_host == ("::1", 5)
    assert decoded.sys_flag & 0x30 == 0x30
    assert decoded.store_size == 91 + 1 + 1 + 24


def test_truncated_record_raises() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_record(spec_example()[:60])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TagA", 2598919),
        ("TagB", 2598920),
        ("*", 42),
        ("", 0),
        ("中文标签", 622041809),
        ("a-very-long-tag-name-to-overflow", 514294891),
    ],
)
def test_java_hash_vectors(text: str, expected: int) -> None:
    assert java_hash(text) == expected


def _java_hash_by_definition(text: str) -> int:
    units = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i : i + 2], "big")) % (1 << 32)
    return h - (1 << 32) if h >= 1 << 31 else h


@given(st.text(max_size=300) | st.text(alphabet=st.characters(max_codepoint=127), max_size=5000))
def test_java_hash_matches_the_definition(text: str) -> None:
    assert java_hash(text) == _java_hash_by_definition(text)


def test_properties_accept_cpp_trailing_separator_and_drop_empty() -> None:
    text = "KEYS\x01key1 key2\x02TAGS\x01TagA\x02EMPTY\x01\x02WAIT\x01true\x02"
    assert decode_properties(text) == {"KEYS": "key1 key2", "TAGS": "TagA", "WAIT": "true"}
    assert decode_properties(encode_properties({"a": "1", "b": "2"})) == {"a": "1", "b": "2"}


def test_offset_msg_id_example() -> None:
    msg_id = create_offset_msg_id(("127.0.0.1", 10911), 1000)
    assert msg_id == "7F00000100002A9F00000000000003E8"
    assert decode_offset_msg_id(msg_id) == ("127.0.0.1", 10911, 1000)


def test_cpp_batch_entry_layout() -> None:
    props = {"TAGS": "T0", "UNIQ_KEY": "0" * 32, "WAIT": "true"}
    body = encode_batch([BatchEntry(b"b0", 0, props)])
    assert body[:4] == (22 + 2 + len(encode_properties(props))).to_bytes(4, "big")
    (entry,) = decode_batch(body)
    assert entry.body == b"b0"
    assert entry.properties == props


def test_subscription_parsing() -> None:
    sub = parse_subscription("t", "TagA || TagB")
    assert sub.tags_set == ["TagA", "TagB"]
    assert sub.code_set == {2598919, 2598920}
    assert parse_subscription("t", " * ").matches_all
    # C++ heartbeats carry atoi(tag) as codeSet: hashes are recomputed from tagsSet.
    cpp = subscription_from_json(
        {
            "codeSet": [0, 0],
            "subString": "TagA || TagB",
            "subVersion": "17",
            "tagsSet": ["TagA", "TagB"],
            "topic": "t",
        }
    )
    assert cpp.code_set == {2598919, 2598920}
    assert cpp.sub_version == 17


_names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=8
)


@given(
    topic=st.text(alphabet="abcXYZ_-%|0123", min_size=1, max_size=40),
    body=st.binary(max_size=500),
    properties=st.dictionaries(_names, _names, max_size=4),
    offsets=st.tuples(st.integers(0, 2**62), st.integers(0, 2**62)),
)
def test_records_round_trip(
    topic: str, body: bytes, properties: dict[str, str], offsets: tuple[int, int]
) -> None:
    message = MessageExt(
        topic=topic,
        body=body,
        properties=properties,
        queue_offset=offsets[0],
        commit_log_offset=offsets[1],
        store_host=("10.1.2.3", 10911),
    )
    data = bytes(encode_record(message)) * 2
    first, second = decode_records(data)
    assert first == second
    assert first.body == body and first.topic == topic and first.properties == properties
    assert first.commit_log_offset == offsets[1]
