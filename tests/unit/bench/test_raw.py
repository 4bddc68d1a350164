"""The raw load generator's wires (templates patched in place, responses scanned without
decoding) and the server-cost table of the suite's report."""

from __future__ import annotations

import time

import pytest

from orbitmq.bench.common import make_body
from orbitmq.bench.raw import nats_wire, redis_wire
from orbitmq.bench.raw.rocketmq_wire import BrokerQueues, PullConnection, SendWire
from orbitmq.bench.suite.report import CostRow, render
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.frame import FrameDecoder, encode_frame
from orbitmq.protocol.message import MessageConst, decode_properties

BODY = make_body(1024)


class FakeTransport:
    """Collects what a connection writes."""

    def __init__(self) -> None:
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


def _decode_all(data: bytes) -> list[RemotingCommand]:
    decoder = FrameDecoder()
    decoder.feed(bytes(data))
    frames = []
    while (frame := decoder.next_frame()) is not None:
        frames.append(frame)
    return frames


def test_send_frames_carry_unique_keys_across_queues() -> None:
    wire = SendWire("Perf", BrokerQueues("127.0.0.1:1", "broker-a", list(range(8))), BODY)
    # 2,100 frames cross two carries of the counter's high digits
    frames = _decode_all(b"".join(wire.frames(n) for n in (1, 999, 600, 500)))
    now_ms = time.time_ns() // 1_000_000
    assert len(frames) == 2100
    keys, uniq_keys, opaques, queues = set(), set(), set(), []
    for frame in frames:
        assert frame.code == RequestCode.SEND_MESSAGE_V2 and frame.body == BODY
        ext = frame.ext_fields
        assert (ext["a"], ext["b"], ext["n"]) == ("raw_bench_producer", "Perf", "broker-a")
        properties = decode_properties(ext["i"])
        assert properties[MessageConst.TAGS] == "TagA"
        assert properties[MessageConst.WAIT] == "true"
        keys.add(properties[MessageConst.KEYS])
        uniq_keys.add(properties[MessageConst.UNIQ_KEY])
        opaques.add(frame.opaque)
        queues.append(int(ext["e"]))
        assert abs(int(ext["g"]) - now_ms) < 60_000
    assert len(keys) == len(uniq_keys) == len(opaques) == 2100
    assert all(len(k) == 32 and k == k.upper() for k in uniq_keys)
    assert all(0 < opaque < 2**31 for opaque in opaques)
    assert queues[:9] == [1, 2, 3, 4, 5, 6, 7, 0, 1]
    assert {queues.count(q) for q in range(8)} == {2100 // 8, 2100 // 8 + 1}


def _send_response(code: int) -> bytes:
    ext = {"msgId": "7F0000010000", "queueId": "3", "queueOffset": "12"}
    response = RemotingCommand(code=code, opaque=5, flag=1, language="JAVA", ext_fields=ext)
    return encode_frame(response)


def test_send_scan_counts_whole_responses_and_failures() -> None:
    wire = SendWire("Perf", BrokerQueues("127.0.0.1:1", "broker-a", [0]), BODY)
    ok, busy = _send_response(ResponseCode.SUCCESS), _send_response(ResponseCode.SYSTEM_BUSY)
    data = bytearray(ok * 3 + busy + ok[:10])
    assert wire.scan(data) == (4 * len(ok), 3, 1)
    assert wire.scan(bytearray(ok[:7])) == (0, 0, 0)


async def test_pull_counts_by_next_begin_offset_and_stops_at_the_end() -> None:
    received: list[int] = []
    target = BrokerQueues("127.0.0.1:1", "broker-a", [2, 5])
    pull = PullConnection("Perf", "g", target, 32, received.append)
    transport = FakeTransport()
    pull.connection_made(transport)  # type: ignore[arg-type]
    pull.start()
    sent = _decode_all(transport.written)
    assert [(f.code, f.opaque, f.ext_fields["queueId"]) for f in sent] == [
        (RequestCode.PULL_MESSAGE, 0, "2"), (RequestCode.PULL_MESSAGE, 1, "5"),
    ]  # fmt: skip
    assert int(sent[0].ext_fields["queueOffset"]) == 0 and sent[0].ext_fields["sysFlag"] == "4"

    def answer(code: int, opaque: int, next_offset: int) -> bytes:
        ext = {"nextBeginOffset": str(next_offset), "minOffset": "0", "maxOffset": "40"}
        body = b"x" * 100 if code == ResponseCode.SUCCESS else b""
        response = RemotingCommand(code, opaque, 1, "JAVA", ext_fields=ext, body=body)
        return encode_frame(response)

    transport.written.clear()
    data = answer(0, 0, 32) + answer(0, 1, 7)
    pull.data_received(data[:50])
    pull.data_received(data[50:])
    assert received == [32, 7]
    again = _decode_all(transport.written)
    assert [int(f.ext_fields["queueOffset"]) for f in again] == [32, 7]
    pull.data_received(answer(ResponseCode.PULL_NOT_FOUND, 0, 32))
    assert not pull.drained.done()
    pull.data_received(answer(ResponseCode.SUBSCRIPTION_NOT_EXIST, 1, 7))
    assert pull.drained.done() and len(pull.errors) == 1


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_redis_xadd_scan(chunk: int) -> None:
    wire = redis_wire.XaddWire(BODY)
    assert wire.frames(2) == redis_wire.command(b"XADD", redis_wire.STREAM, b"*",
                                                 b"body", BODY) * 2  # fmt: skip
    replies = b"$15\r\n1700000000000-0\r\n$16\r\n1700000000000-10\r\n-ERR no\r\n$15\r\n17000"
    buf, ok, failed = bytearray(), 0, 0
    for start in range(0, len(replies), chunk):
        buf += replies[start : start + chunk]
        consumed, n_ok, n_failed = wire.scan(buf)
        del buf[:consumed]
        ok, failed = ok + n_ok, failed + n_failed
    assert (ok, failed, bytes(buf)) == (2, 1, b"$15\r\n17000")


def _entry(entry_id: bytes, size: int) -> bytes:
    return b"*2\r\n$%d\r\n%s\r\n*2\r\n$4\r\nbody\r\n$%d\r\n%s\r\n" % (
        len(entry_id), entry_id, size, b"b" * size)  # fmt: skip


async def test_redis_read_group_walks_replies_in_pieces() -> None:
    received: list[int] = []
    conn = redis_wire.ReadGroupConnection(b"g", b"c1", 3, 2, 10, received.append)
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.start()
    request = bytes(transport.written[: len(transport.written) // 2])
    assert b"XREADGROUP" in request and b"NOACK" in request and transport.written.count(
        b"XREADGROUP") == 2  # fmt: skip
    head = b"*1\r\n*2\r\n$13\r\norbitmq-bench\r\n*"
    replies = (head + b"3\r\n" + b"".join(_entry(b"1-%d" % i, 10) for i in range(3))
               + head + b"1\r\n" + _entry(b"1-3", 10) + b"*-1\r\n")  # fmt: skip
    transport.written.clear()
    for start in range(0, len(replies), 11):
        conn.data_received(replies[start : start + 11])
    assert sum(received) == 4
    assert transport.written.count(b"XREADGROUP") == 2  # one new read per full reply
    assert conn.stopping and not conn.drained.done()  # the other read is still out
    conn.data_received(b"*-1\r\n")
    assert conn.drained.done()


async def test_redis_read_group_rejects_foreign_entries() -> None:
    conn = redis_wire.ReadGroupConnection(b"g", b"c1", 3, 1, 10, lambda n: None)
    conn.connection_made(FakeTransport())  # type: ignore[arg-type]
    reply = b"*1\r\n*2\r\n$13\r\norbitmq-bench\r\n*1\r\n" + _entry(b"1-0", 12)
    with pytest.raises(Exception, match="same -s"):
        conn.data_received(reply)


@pytest.mark.parametrize("chunk", [1, 13, 10_000])
def test_nats_puback_scan(chunk: int) -> None:
    wire = nats_wire.PubWire(BODY)
    assert wire.take_control().startswith(b"CONNECT ") and wire.take_control() == b""

    def msg(payload: bytes) -> bytes:
        return b"MSG %s 1  %d\r\n%s\r\n" % (wire.inbox, len(payload), payload)

    ack = msg(b'{"stream":"ORBITMQ_BENCH", "seq":12345}')
    error = msg(b'{"error":{"code":503}}')
    status = b"HMSG %s 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n" % wire.inbox
    stream = b"INFO {}\r\n" + ack * 3 + b"PING\r\n" + ack + error + status + ack + ack[:20]
    buf, ok, failed = bytearray(), 0, 0
    for start in range(0, len(stream), chunk):
        buf += stream[start : start + chunk]
        consumed, n_ok, n_failed = wire.scan(buf)
        del buf[:consumed]
        ok, failed = ok + n_ok, failed + n_failed
    assert (ok, failed, bytes(buf)) == (5, 2, ack[:20])
    assert wire.take_control() == b"PONG\r\n"


async def test_nats_fetch_counts_and_asks_for_more() -> None:
    received: list[int] = []
    conn = nats_wire.FetchConnection("d1", 2, 1, received.append)
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.start()
    assert transport.written.count(b"$JS.API.CONSUMER.MSG.NEXT.ORBITMQ_BENCH.d1") == 1
    msg = b"MSG orbitmq.bench 1 $JS.ACK.ORBITMQ_BENCH.d1.1.1.1.17.0 5\r\nhello\r\n"
    transport.written.clear()
    conn.data_received(msg * 3 + b"PING\r\n" + msg[:9])
    assert received == [3] and transport.written.count(b"MSG.NEXT") == 1
    assert b"PONG\r\n" in transport.written
    pending = b"NATS/1.0 408 Requests Pending\r\n\r\n"
    conn.data_received(msg[9:] + b"HMSG _INBOX.x 1 %d %d\r\n%s\r\n" % (
        len(pending), len(pending), pending))  # fmt: skip
    assert received == [3, 1] and not conn.drained.done()
    # one more for the fourth message (a batch of two), one for the request that ended
    assert transport.written.count(b"MSG.NEXT") == 3
    expired = b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 2\r\n\r\n"
    conn.data_received(b"HMSG _INBOX.x 1  %d %d\r\n%s\r\n" % (
        len(expired), len(expired), expired))  # fmt: skip
    assert conn.drained.done() and transport.written.count(b"MSG.NEXT") == 3


def test_render_server_cost_rows_with_ratios() -> None:
    costs = [
        CostRow("Produce", "OrbitMQ", 0, True, [30_000, 32_000, 31_000], [35.0, 34.0, 36.0],
                [1.5, 1.4, 1.6]),
        CostRow("Produce", "Redis", 1, False, [280_000, 270_000, 290_000], [3.4, 3.3, 3.2],
                [1.2, 1.1, 1.3], failed=5),
    ]  # fmt: skip
    doc = render(
        figures=[], peers=[], commands=["a", "b"], setup=[], notes=[], profile="",
        reproduce="x", costs=costs,
    )  # fmt: skip
    assert "| Produce | OrbitMQ | 31,000 | 35 | 1.5 | — | — | 30,000 @ 35, " in doc
    assert "| Produce | Redis (5 failed) | 280,000 | 3.3 | 1.2 | 0.11x | 10.6x |" in doc
    assert "## Other brokers" not in doc  # no end-to-end rows: no section
