import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitmq.errors import FrameTooLargeError, RemoteProtocolError
from orbitmq.protocol.codes import SerializeType
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.frame import FrameDecoder, encode_frame
from tests.strategies import remoting_commands

FIXTURES = Path(__file__).parents[2] / "fixtures"


def load_hex(name: str) -> bytes:
    lines = (FIXTURES / name).read_text().splitlines()
    return bytes.fromhex("".join(line for line in lines if not line.startswith("#")))


def decode_all(data: bytes, chunk: int | None = None) -> list[RemotingCommand]:
    decoder = FrameDecoder()
    out = []
    step = chunk or max(len(data), 1)
    for i in range(0, len(data), step):
        decoder.feed(data[i : i + step])
        while (command := decoder.next_frame()) is not None:
            out.append(command)
    return out


def test_cpp_request_whole_bytewise_and_with_trailing_bytes() -> None:
    frame = load_hex("cpp_get_route_request.hex")
    (whole,) = decode_all(frame)
    assert whole.code == 105
    assert whole.language == "CPP"
    assert whole.version == 63
    assert whole.ext_fields["topic"] == "TopicTest"
    assert whole.remark == ""

    decoder = FrameDecoder()
    for i, byte in enumerate(frame):
        decoder.feed(bytes([byte]))
        command = decoder.next_frame()
        assert (command is None) == (i < len(frame) - 1)
    assert command == whole

    decoder = FrameDecoder()
    decoder.feed(frame + frame[:7])
    assert decoder.next_frame() == whole
    assert decoder.next_frame() is None
    assert decoder.buffered == 7


def test_numbers_in_ext_fields_become_strings() -> None:
    header = b'{"code":10,"extFields":{"queueId":3,"sysFlag":0,"batch":"1"},"flag":0,"opaque":5}'
    frame = (4 + len(header)).to_bytes(4, "big") + len(header).to_bytes(4, "big") + header
    (command,) = decode_all(frame)
    assert command.ext_fields == {"queueId": "3", "sysFlag": "0", "batch": "1"}


def test_response_json_shape_for_cpp() -> None:
    request = RemotingCommand.request(10, {"topic": "t"})
    request.opaque = 7
    frame = encode_frame(request.response(ext_fields={"queueOffset": "77"}))
    assert frame[4] == 0  # serializeType JSON in the top byte
    header = frame[8:]
    assert b'"extFields":{"queueOffset":"77"}' in header
    assert b'"flag":1' in header
    assert b'"opaque":7' in header


def test_binary_header_round_trip_and_answered_in_kind() -> None:
    request = RemotingCommand(
        code=310,
        opaque=9,
        remark="hello",
        ext_fields={"a": "PG", "b": "Topic"},
        body=b"xyz",
        serialize_type=SerializeType.ROCKETMQ,
    )
    frame = encode_frame(request)
    assert frame[4] == 1
    (decoded,) = decode_all(frame)
    assert decoded.ext_fields == {"a": "PG", "b": "Topic"}
    assert decoded.remark == "hello"
    assert decoded.body == b"xyz"
    assert decoded.response().serialize_type == SerializeType.ROCKETMQ


def test_frame_too_large_kills_decoder_before_buffering_body() -> None:
    decoder = FrameDecoder(max_frame_size=1024)
    decoder.feed((2048).to_bytes(4, "big") + b"\0" * 10)
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()
    with pytest.raises(RemoteProtocolError):
        decoder.next_frame()


@pytest.mark.parametrize(
    "junk",
    [
        (8).to_bytes(4, "big") + (100).to_bytes(4, "big") + b"1234",  # header longer than frame
        (6).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"{x",  # bad JSON
        (2).to_bytes(4, "big") + b"ab",  # too small
        (7).to_bytes(4, "big") + (0x05000003).to_bytes(4, "big") + b"abc",  # unknown serialize type
    ],
)
def test_garbage_raises_remote_protocol_error(junk: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_all(junk)


@given(st.lists(remoting_commands(), min_size=1, max_size=5), st.integers(1, 64))
def test_any_chunking_round_trips(commands: list[RemotingCommand], chunk: int) -> None:
    data = b"".join(encode_frame(c) for c in commands)
    assert decode_all(data, chunk) == commands


@given(st.binary(max_size=200))
def test_any_input_decodes_or_raises_remote_protocol_error(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode_all(data, 7)
