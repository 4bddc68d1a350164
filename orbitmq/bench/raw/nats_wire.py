"""NATS JetStream for the raw loads, in the raw client protocol: PUB with PubAck, and a
pull consumer.

Produce: `PUB orbitmq.bench <inbox> <size>` encoded once; JetStream answers each with a
PubAck (`MSG <inbox> 1 <n>` carrying `{"stream":…,"seq":…}`, or `{"error":…}`), which is
counted by its control line and the first bytes of its payload. The stream (file
storage, the same as `peer-producer`'s) is created once through the JetStream API.

Consume: a durable pull consumer with AckPolicy none (as OrbitMQ's pull keeps no
per-message state), `depth` fetch requests (`{"batch":n,"expires":1 s}`) in flight per
connection and a new one for every `batch` messages received. A request that expires
(status 408 Request Timeout) or finds nothing (404) means the backlog is read; any other
status ends only that request, which is sent again. (no_wait fetches are no good with
several connections: one that finds others' requests waiting gets "408 Requests
Pending" while messages are still there.)
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import orjson

from orbitmq.bench.common import BenchError
from orbitmq.bench.raw.pipeline import ReadConnection, line_start

__all__ = [
    "STREAM",
    "SUBJECT",
    "FetchConnection",
    "PubWire",
    "api_request",
    "handshake",
]

STREAM = "ORBITMQ_BENCH"
SUBJECT = "orbitmq.bench"
_CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
_PUBACK_OK = b'{"stream"'
_ACK_LINE = b"\r\n" + _PUBACK_OK  # a positive PubAck's payload, after its MSG line
_FETCH_EXPIRES_NS = 1_000_000_000
_EXPIRED = b"NATS/1.0 408 Request Timeout"
_NOTHING = b"NATS/1.0 404"


def new_inbox() -> bytes:
    return b"_INBOX." + secrets.token_hex(8).encode()


def handshake(inbox: bytes) -> bytes:
    """CONNECT and the subscription (sid 1) that receives the replies sent to `inbox`."""
    return _CONNECT + b"SUB " + inbox + b" 1\r\n"


def pub(subject: bytes, reply: bytes, payload: bytes) -> bytes:
    return b"PUB %s %s %d\r\n%s\r\n" % (subject, reply, len(payload), payload)


async def api_request(host: str, port: int, subject: str, request: dict[str, Any]) -> Any:
    """One JetStream API call on its own connection; its decoded reply.

    Raises:
        BenchError: the reply is an API error, or none came within 10 s.
    """
    inbox = new_inbox()
    try:
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(handshake(inbox) + pub(subject.encode(), inbox, orjson.dumps(request)))
                while line := await reader.readline():
                    if line.startswith(b"MSG "):
                        payload = await reader.readexactly(int(line.split()[-1]) + 2)
                        reply = orjson.loads(payload[:-2])
                        break
                    if line.startswith(b"PING"):
                        writer.write(b"PONG\r\n")
                    elif line.startswith(b"-ERR"):
                        raise BenchError(f"nats-server: {line.decode().strip()}")
                else:
                    raise BenchError("nats-server closed the connection")
            finally:
                writer.close()
    except TimeoutError as exc:
        raise BenchError(f"no reply from nats-server to {subject}") from exc
    if isinstance(reply, dict) and "error" in reply:
        raise BenchError(f"{subject}: {reply['error']}")
    return reply


async def create_stream(host: str, port: int) -> None:
    config = {"name": STREAM, "subjects": [SUBJECT], "storage": "file"}
    await api_request(host, port, f"$JS.API.STREAM.CREATE.{STREAM}", config)


async def create_pull_consumer(host: str, port: int, durable: str) -> None:
    config = {"durable_name": durable, "deliver_policy": "all", "ack_policy": "none"}
    request = {"stream_name": STREAM, "config": config}
    await api_request(host, port, f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.{durable}", request)


class _Lines:
    """Control-line scanning shared by both loads: MSG/HMSG frames, PING, the rest."""

    def __init__(self) -> None:
        self._control = b""

    def take_control(self) -> bytes:
        control, self._control = self._control, b""
        return control

    def _other_line(self, buf: bytearray, pos: int, eol: int) -> None:
        """PING gets a PONG; -ERR ends the run; INFO, PONG and +OK are skipped."""
        if buf.startswith(b"PING", pos):
            self._control += b"PONG\r\n"
        elif buf.startswith(b"-ERR", pos):
            raise BenchError(f"nats-server: {bytes(buf[pos:eol]).decode(errors='replace')}")


class PubWire(_Lines):
    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.inbox = new_inbox()
        self._request = pub(SUBJECT.encode(), self.inbox, body)
        self._control = handshake(self.inbox)

    def frames(self, n: int) -> bytes:
        return self._request * n

    def scan(self, buf: bytearray) -> tuple[int, int, int]:
        """While every line pair is `MSG …` and a positive PubAck (the usual case),
        counting in C is enough; an odd line count means the last complete line is the
        head of an ack still arriving. Anything else is walked line by line."""
        last = buf.rfind(b"\r\n")
        if last < 0:
            return 0, 0, 0
        cut = last + 2
        lines = buf.count(b"\r\n", 0, cut)
        if lines % 2:
            cut = line_start(buf, last)
            lines -= 1
        acks = buf.count(_ACK_LINE, 0, cut)
        if lines == 2 * acks and buf.count(b"MSG ", 0, cut) == acks and buf[0] == 0x4D:
            return cut, acks, 0
        return self._scan_each(buf)

    def _scan_each(self, buf: bytearray) -> tuple[int, int, int]:
        pos, end, ok, failed = 0, len(buf), 0, 0
        while pos < end:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            if buf.startswith(b"MSG ", pos) or buf.startswith(b"HMSG ", pos):
                stop = eol + 4 + int(buf[buf.rfind(b" ", pos, eol) + 1 : eol])
                if stop > end:
                    break
                if buf[pos] == 0x4D and buf.startswith(_PUBACK_OK, eol + 2):  # 'M'
                    ok += 1
                else:  # an API error or a status (503: no stream listens)
                    failed += 1
                pos = stop
            else:
                self._other_line(buf, pos, eol)
                pos = eol + 2
        return pos, ok, failed


class FetchConnection(ReadConnection, _Lines):
    """Fetches from durable `durable` until a status says the backlog is read."""

    def __init__(
        self, durable: str, batch: int, depth: int, received: Callable[[int], None]
    ) -> None:
        ReadConnection.__init__(self)
        _Lines.__init__(self)
        inbox = new_inbox()
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{durable}".encode()
        request = b'{"batch":%d,"expires":%d}' % (batch, _FETCH_EXPIRES_NS)
        self._fetch = pub(subject, inbox, request)
        self._handshake = handshake(inbox)
        self._batch = batch
        self._depth = depth
        self._credit = 0  # messages received since the last fetch was sent
        self._received = received

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.write(self._handshake)

    def start(self) -> None:
        self.write(self._fetch * self._depth)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos, end, messages = 0, len(buf), 0
        while pos < end:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            if buf.startswith(b"MSG ", pos):
                stop = eol + 4 + int(buf[buf.rfind(b" ", pos, eol) + 1 : eol])
                if stop > end:
                    break
                messages += 1
                pos = stop
            elif buf.startswith(b"HMSG ", pos):  # a status ends one fetch request
                stop = eol + 4 + int(buf[buf.rfind(b" ", pos, eol) + 1 : eol])
                if stop > end:
                    break
                if buf.startswith(_EXPIRED, eol + 2) or buf.startswith(_NOTHING, eol + 2):
                    self.finish()
                elif not self.stopping:
                    self.write(self._fetch)
                pos = stop
            else:
                self._other_line(buf, pos, eol)
                pos = eol + 2
        if pos:
            del buf[:pos]
        control = self.take_control()
        if control:
            self.write(control)
        if messages:
            self._received(messages)
            self._credit += messages
            if self._credit >= self._batch and not self.stopping:
                fetches, self._credit = divmod(self._credit, self._batch)
                self.write(self._fetch * fetches)
