import zlib

import orjson
import pytest

from orbitmq.client.errors import (
    IllegalMessageError,
    NoPermissionError,
    TopicNotExistError,
)
from orbitmq.client.message import Message, MessageQueue, SendStatus
from orbitmq.client.send_codec import (
    SendFrameTemplate,
    batch_request,
    check_batch,
    check_message,
    parse_send_response,
    send_ext,
    single_request,
)
from orbitmq.protocol.command import FLAG_RESPONSE, RemotingCommand
from orbitmq.protocol.frame import FrameDecoder, encode_frame
from orbitmq.protocol.header_json import encode_json_header
from orbitmq.protocol.message import decode_batch, decode_properties

MQ = MessageQueue("TopicTest", "broker-a", 1)
UNIQ = "C0A8010200002A9F0000000000000001"


def test_single_send_ext_matches_java_4_9_8() -> None:
    """remoting-protocol.md §3.2: the ext of a Java 4.9.8 SEND_MESSAGE_V2."""
    msg = Message("TopicTest", b"hello", tags="TagA")
    cmd = single_request("PG", MQ, msg, UNIQ, 4096, born_timestamp=1700000000000)
    assert cmd.code == 310
    assert cmd.body == b"hello"
    assert cmd.ext_fields == {
        "a": "PG",
        "b": "TopicTest",
        "bname": "broker-a",
        "c": "TBW102",
        "d": "4",
        "e": "1",
        "f": "0",
        "g": "1700000000000",
        "h": "0",
        "i": f"TAGS\x01TagA\x02WAIT\x01true\x02UNIQ_KEY\x01{UNIQ}",
        "j": "0",
        "k": "false",
        "m": "false",
        "n": "broker-a",
    }
    assert all(isinstance(v, str) for v in cmd.ext_fields.values())
    header = encode_json_header(cmd)
    assert b'"i":"TAGS\\u0001TagA\\u0002WAIT\\u0001true\\u0002UNIQ_KEY\\u0001' in header


def test_keys_delay_flag_and_user_properties() -> None:
    msg = Message(
        "T",
        b"x",
        tags="TagB",
        keys=["k1", "k2"],
        properties={"myprop": "v1"},
        flag=7,
        delay_time_level=3,
    )
    cmd = single_request("PG", MQ, msg, UNIQ, 4096)
    props = decode_properties(cmd.ext_fields["i"])
    assert props == {
        "KEYS": "k1 k2",
        "TAGS": "TagB",
        "DELAY": "3",
        "WAIT": "true",
        "UNIQ_KEY": UNIQ,
        "myprop": "v1",
    }
    assert cmd.ext_fields["h"] == "7"
    assert Message("T", b"x", keys="single").keys_text == "single"


def test_user_properties_cannot_override_system_ones_or_hold_separators() -> None:
    msg = Message("T", b"x", tags="A", properties={"TAGS": "B"})
    assert (
        decode_properties(single_request("PG", MQ, msg, UNIQ, 4096).ext_fields["i"])["TAGS"] == "A"
    )
    with pytest.raises(ValueError):
        Message("T", b"x", properties={"bad": "a\x01b"}).properties_text(UNIQ)


@pytest.mark.parametrize(("size", "compressed"), [(4095, False), (4096, True), (10000, True)])
def test_compression_threshold_sets_sys_flag_bit0(size: int, compressed: bool) -> None:
    body = b"a" * size
    cmd = single_request("PG", MQ, Message("T", body), UNIQ, 4096)
    assert cmd.ext_fields["f"] == ("1" if compressed else "0")
    if compressed:
        assert cmd.body[:2] == b"\x78\x5e"  # zlib header for level 5
        assert zlib.decompress(cmd.body) == body
    else:
        assert cmd.body == body


def test_batch_request() -> None:
    msgs = [Message("T", b"b0", tags="T0"), Message("T", b"b1", tags="T1", keys="k")]
    keys = [UNIQ, UNIQ[:-1] + "2"]
    cmd = batch_request("PG", MQ, msgs, keys, born_timestamp=5)
    assert cmd.code == 320
    assert cmd.ext_fields["m"] == "true"
    assert cmd.ext_fields["f"] == "0"
    assert cmd.ext_fields["i"] == "WAIT\x01true"
    entries = decode_batch(cmd.body)
    assert [e.body for e in entries] == [b"b0", b"b1"]
    assert entries[0].properties == {"TAGS": "T0", "WAIT": "true", "UNIQ_KEY": keys[0]}
    assert entries[1].properties["KEYS"] == "k"
    # entry layout: totalSize = 22 + body + properties (§6)
    props0 = f"TAGS\x01T0\x02WAIT\x01true\x02UNIQ_KEY\x01{UNIQ}".encode()
    assert int.from_bytes(cmd.body[:4], "big") == 22 + 2 + len(props0)


def test_batch_checks() -> None:
    check_batch([Message("T", b"a"), Message("T", b"b")], 10)
    with pytest.raises(IllegalMessageError):
        check_batch([], 10)
    with pytest.raises(IllegalMessageError):
        check_batch([Message("T", b"a"), Message("U", b"b")], 10)
    with pytest.raises(IllegalMessageError):
        check_batch([Message("T", b"a", delay_time_level=1)], 10)
    with pytest.raises(IllegalMessageError):
        check_batch([Message("%RETRY%G", b"a")], 10)
    with pytest.raises(IllegalMessageError, match="total 12 bytes"):
        check_batch([Message("T", b"a" * 6), Message("T", b"b" * 6)], 10)


@pytest.mark.parametrize(
    ("topic", "body"),
    [("", b"x"), ("bad topic", b"x"), ("T" * 128, b"x"), ("TBW102", b"x"), ("T", b"")],
)
def test_message_checks(topic: str, body: bytes) -> None:
    with pytest.raises(IllegalMessageError):
        check_message(Message(topic, body), 100)


def test_oversized_message_names_the_numbers() -> None:
    with pytest.raises(IllegalMessageError, match=r"101 bytes.*100"):
        check_message(Message("T", b"x" * 101), 100)
    check_message(Message("%RETRY%G|x_y-1", b"x" * 100), 100)


def response(code: int, **ext: str) -> RemotingCommand:
    return RemotingCommand(code=code, flag=FLAG_RESPONSE, remark="why", ext_fields=ext)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (0, SendStatus.SEND_OK),
        (10, SendStatus.FLUSH_DISK_TIMEOUT),
        (12, SendStatus.FLUSH_SLAVE_TIMEOUT),
        (11, SendStatus.SLAVE_NOT_AVAILABLE),
    ],
)
def test_parse_send_response(code: int, status: SendStatus) -> None:
    offset_id = "7F00000100002A9F00000000000003E8"
    result = parse_send_response(
        response(code, msgId=offset_id, queueId="1", queueOffset="77"), MQ, UNIQ
    )
    assert result.status is status
    assert result.msg_id == UNIQ
    assert result.offset_msg_id == offset_id
    assert result.message_queue == MQ
    assert result.queue_offset == 77


def test_parse_send_response_uses_the_queue_written() -> None:
    result = parse_send_response(response(0, msgId="X", queueId="3", queueOffset="1"), MQ, UNIQ)
    assert result.message_queue == MessageQueue("TopicTest", "broker-a", 3)


def test_parse_send_response_errors_are_typed() -> None:
    with pytest.raises(TopicNotExistError) as info:
        parse_send_response(response(17), MQ, UNIQ)
    assert info.value.retriable and info.value.refresh_route
    with pytest.raises(NoPermissionError):
        parse_send_response(response(16), MQ, UNIQ)


@pytest.mark.parametrize(
    "msg",
    [
        Message("T", b"x", properties={"k": ""}),
        Message("T", b"x", properties={"": "v"}),
        Message("T", b"x", properties={"k\x02": "v"}),
        Message("T", b"x", tags="a\x01b"),
        Message("T", b"x", keys=["a\x02b"]),
    ],
)
def test_bad_properties_are_rejected(msg: Message) -> None:
    with pytest.raises(ValueError):
        single_request("PG", MQ, msg, UNIQ, 4096)


@pytest.mark.parametrize(
    ("group", "mq", "batch"),
    [
        ("PG", MQ, False),
        ('odd "group" %s\\', MessageQueue("%RETRY%CG", "broker-%d", 12), True),
    ],
)
def test_send_frame_template_writes_what_the_shared_codec_writes(
    group: str, mq: MessageQueue, batch: bool
) -> None:
    props = f"KEYS\x01k 1\x02TAGS\x01A\x02WAIT\x01true\x02UNIQ_KEY\x01{UNIQ}"
    frame = SendFrameTemplate(group, mq).frame(
        320 if batch else 310, 99, 1, 7, orjson.dumps(props), b"body", batch=batch
    )
    decoder = FrameDecoder()
    decoder.feed(frame)
    command = decoder.next_frame()
    assert command is not None and decoder.next_frame() is None
    born = int(command.ext_fields["g"])
    ext = send_ext(group, mq, 1, 7, props, batch=batch, born_timestamp=born)
    expected = RemotingCommand(320 if batch else 310, 99, ext_fields=ext, body=b"body")
    assert frame == encode_frame(expected)  # byte for byte
