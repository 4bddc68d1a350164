"""OrbitMQ (RocketMQ remoting) requests for the raw loads: SEND_MESSAGE_V2 and PULL_MESSAGE.

Send: a SEND_MESSAGE_V2 frame per queue is encoded by our client's own codec
(single_request + encode_frame, so the header is byte for byte what `Producer.send`
writes) with TAGS, KEYS, WAIT=true and UNIQ_KEY; the queues' frames are sent in turn and,
per message, a 12-digit counter is written into KEYS and UNIQ_KEY (unique keys, so the
broker builds its key index for every message) and its last nine digits into the opaque.
A response is counted ok when its JSON header holds `"code":0`; nothing else is decoded.

Pull: one PULL_MESSAGE frame per queue (subscription `*` in the request, no commit, no
suspend), with a fixed-width queueOffset patched per request and the queue's slot as the
opaque. Only the small response header is decoded; nextBeginOffset minus the offset asked
for is the number of messages in the body, which is never looked at.
"""

from __future__ import annotations

import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from orbitmq.bench.common import BenchError
from orbitmq.bench.raw.pipeline import ReadConnection
from orbitmq.client.admin import MQAdmin
from orbitmq.client.consumer.pull_codec import FLAG_SUBSCRIPTION, pull_ext
from orbitmq.client.message import Message, MessageQueue
from orbitmq.client.send_codec import single_request
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.frame import encode_frame
from orbitmq.protocol.subscription import parse_subscription

__all__ = ["BrokerQueues", "PullConnection", "SendWire", "resolve_queues"]

_PREFIX = struct.Struct(">ii")
_LENGTH = struct.Struct(">i")
_COUNTER_DIGITS = 12
_OPAQUE_BASE = 1_000_000_000  # ten digits; the last nine are the counter's, so < 2**31
_OPAQUE_DIGITS = 9
_LOW_SPAN = 1000
_LOW = [b"%03d" % i for i in range(_LOW_SPAN)]  # a counter's last three digits
_BORN_MARK = 1_111_111_111_111  # a 13-digit born timestamp to find in the template
_OK_AT_START = b'{"code":0,'
_OK_ANYWHERE = b'"code":0,'
TAG = "TagA"
SEND_GROUP = "raw_bench_producer"
DEFAULT_BROKER_NAME = "broker-a"


@dataclass(frozen=True, slots=True)
class BrokerQueues:
    """The queues of a topic on one broker (its master's address)."""

    addr: str
    broker_name: str
    queue_ids: list[int]


async def resolve_queues(
    namesrv: str, topic: str, broker: str | None, queues: int, write: bool
) -> list[BrokerQueues]:
    """The topic's write (or read) queues per broker, from the NameServer's route once;
    with `broker` given, that address with queues 0..queues-1 and no lookup."""
    if broker is not None:  # the name only fills brokerName fields, which no broker checks
        return [BrokerQueues(broker, DEFAULT_BROKER_NAME, list(range(queues)))]
    async with MQAdmin(namesrv) as admin:
        route = await admin.topic_route(topic)
    found = route.publish_queues(topic) if write else route.subscribe_queues(topic)
    masters = {b.broker_name: b.master_addr for b in route.broker_datas}
    by_broker: dict[str, list[int]] = {}
    for mq in found:
        by_broker.setdefault(mq.broker_name, []).append(mq.queue_id)
    result = [
        BrokerQueues(addr, name, ids)
        for name, ids in sorted(by_broker.items())
        if (addr := masters.get(name)) is not None
    ]
    if not result:
        raise BenchError(f"topic {topic} has no {'write' if write else 'read'} queue with a master")
    return result


def _find(frame: bytes, needle: bytes, what: str) -> int:
    at = frame.find(needle)
    if at < 0 or frame.find(needle, at + 1) >= 0:
        raise BenchError(f"cannot place the {what} in the request template")
    return at


class SendWire:
    """SEND_MESSAGE_V2 requests to one broker, cycling over `queue_ids`.

    One template per queue (queue ids zero-padded to one width, so that every counter
    sits at the same place in each). The counter's low three digits are written per
    message from a table; its high digits, and the born timestamp, once every thousand.
    """

    def __init__(self, topic: str, target: BrokerQueues, body: bytes, start_queue: int = 0):
        seed = secrets.token_hex(4)
        width = len(str(max(target.queue_ids)))
        zeros = "0" * _COUNTER_DIGITS
        keys, uniq_key = f"K{seed}{zeros}", f"{seed}{secrets.token_hex(6)}{zeros}".upper()
        msg = Message(topic, body, tags=TAG, keys=keys)
        frames = []
        for queue_id in target.queue_ids:
            mq = MessageQueue(topic, target.broker_name, queue_id)
            command = single_request(SEND_GROUP, mq, msg, uniq_key, len(body) + 1, _BORN_MARK)
            command.ext_fields["e"] = str(queue_id).zfill(width)
            command.opaque = _OPAQUE_BASE
            frames.append(encode_frame(command))
        opaque = b'"opaque":%d' % _OPAQUE_BASE
        born = b'"g":"%d"' % _BORN_MARK
        places = {
            (
                _find(frame, keys.encode(), "KEYS") + len(keys) - _COUNTER_DIGITS,
                _find(frame, uniq_key.encode(), "UNIQ_KEY") + len(uniq_key) - _COUNTER_DIGITS,
                _find(frame, opaque, "opaque") + len(opaque) - _OPAQUE_DIGITS,
                _find(frame, born, "born timestamp") + len(b'"g":"'),
            )
            for frame in frames
        }
        if len(places) != 1:
            raise BenchError("the send templates of the queues differ in layout")
        self._key_at, self._uniq_at, self._opaque_at, self._born_at = places.pop()
        self._views = [memoryview(bytearray(frame)) for frame in frames]
        self._queue_index = start_queue
        self._high = -1
        self._low = _LOW_SPAN  # the first frame carries into high 0

    def _carry(self) -> None:
        """The next thousand: new high digits and a fresh born timestamp everywhere."""
        self._high += 1
        high = b"%09d" % self._high
        opaque_high = b"%06d" % (self._high % 1_000_000)
        born = b"%013d" % (time.time_ns() // 1_000_000)
        k, u, o, g = self._key_at, self._uniq_at, self._opaque_at, self._born_at
        for v in self._views:
            v[k : k + 9] = high
            v[u : u + 9] = high
            v[o : o + 6] = opaque_high
            v[g : g + 13] = born

    def frames(self, n: int) -> bytearray:
        views, nq = self._views, len(self._views)
        k, u, o = self._key_at + 9, self._uniq_at + 9, self._opaque_at + 6
        k3, u3, o3 = k + 3, u + 3, o + 3
        low, qi = self._low, self._queue_index
        out = bytearray()
        for _ in range(n):
            if low == _LOW_SPAN:
                self._carry()
                low = 0
            digits = _LOW[low]
            low += 1
            qi += 1
            v = views[qi % nq]
            v[k:k3] = digits
            v[u:u3] = digits
            v[o:o3] = digits
            out += v
        self._low, self._queue_index = low, qi
        return out

    def scan(self, buf: bytearray) -> tuple[int, int, int]:
        pos, end, answered, failed = 0, len(buf), 0, 0
        length = _LENGTH.unpack_from
        while end - pos >= 8:
            stop = pos + 4 + length(buf, pos)[0]
            if stop > end:
                break
            header = pos + 8
            if not buf.startswith(_OK_AT_START, header):
                header_end = header + (length(buf, pos + 4)[0] & 0xFFFFFF)
                if buf.find(_OK_ANYWHERE, header, header_end) < 0:
                    failed += 1
            answered += 1
            pos = stop
        return pos, answered - failed, failed

    def take_control(self) -> bytes:
        return b""


class PullConnection(ReadConnection):
    """Pulls `queue_ids` of one broker from offset 0 to their end, one pull in flight per
    queue; `received(n)` for every n messages pulled; `drained` resolves when every queue
    answered PULL_NOT_FOUND (or the connection ended)."""

    def __init__(
        self, topic: str, group: str, target: BrokerQueues, max_nums: int,
        received: Callable[[int], None],
    ) -> None:  # fmt: skip
        super().__init__()
        self._received = received
        self._offsets = [0] * len(target.queue_ids)
        self._templates: list[bytearray] = []
        self._offset_at: list[int] = []
        subscription = parse_subscription(topic, "*", 0)
        for slot, queue_id in enumerate(target.queue_ids):
            mq = MessageQueue(topic, target.broker_name, queue_id)
            ext = pull_ext(group, mq, 0, max_nums, FLAG_SUBSCRIPTION, 0, 0, subscription)
            ext["queueOffset"] = "0" * _COUNTER_DIGITS
            command = RemotingCommand.request(RequestCode.PULL_MESSAGE, ext)
            command.opaque = slot
            frame = encode_frame(command)
            needle = b'"queueOffset":"' + b"0" * _COUNTER_DIGITS
            self._offset_at.append(_find(frame, needle, "queueOffset") + 15)
            self._templates.append(bytearray(frame))
        self._live = len(self._templates)

    def start(self) -> None:
        for slot in range(len(self._templates)):
            self._pull(slot, 0)

    def _pull(self, slot: int, offset: int) -> None:
        if self.stopping:
            self._end_queue()
            return
        self._offsets[slot] = offset
        t, at = self._templates[slot], self._offset_at[slot]
        t[at : at + _COUNTER_DIGITS] = b"%012d" % offset
        self.write(bytes(t))

    def _end_queue(self) -> None:
        self._live -= 1
        if self._live <= 0:
            self.finish()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos, end = 0, len(buf)
        while end - pos >= 8:
            total, word = _PREFIX.unpack_from(buf, pos)
            stop = pos + 4 + total
            if stop > end:
                break
            self._answer(orjson.loads(buf[pos + 8 : pos + 8 + (word & 0xFFFFFF)]))
            pos = stop
        if pos:
            del buf[:pos]

    def _answer(self, header: dict[str, object]) -> None:
        code, slot = header["code"], header["opaque"]
        ext = header.get("extFields") or {}
        assert isinstance(slot, int) and isinstance(ext, dict)
        if code == ResponseCode.PULL_NOT_FOUND:
            self._end_queue()
        elif code in (
            ResponseCode.SUCCESS,
            ResponseCode.PULL_RETRY_IMMEDIATELY,
            ResponseCode.PULL_OFFSET_MOVED,
        ):
            next_offset = int(ext["nextBeginOffset"])
            if code == ResponseCode.SUCCESS:
                self._received(next_offset - self._offsets[slot])
            self._pull(slot, next_offset)
        else:
            self.errors.append(f"pull answered code {code}: {header.get('remark')}")
            self._end_queue()
