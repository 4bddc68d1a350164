"""Redis Streams for the raw loads, in raw RESP: pipelined XADD, and XREADGROUP NOACK.

Produce: `XADD orbitmq-bench * body <body>` encoded once; a batch is the same bytes
repeated. Each reply is a bulk string (the entry id) or an error line.

Consume: `XREADGROUP GROUP g c COUNT n NOACK STREAMS orbitmq-bench >` encoded once,
`depth` of them in flight per connection (NOACK: no pending list, as OrbitMQ's pull keeps
no per-message state). A reply is walked entry by entry without decoding it: an entry
of a stream filled by `raw-producer` is `*2 $<id len> <id> *2 $4 body $<size> <body>`,
so after its id only the known field layout is checked and skipped. A nil reply means
the group has read the whole stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from orbitmq.bench.common import BenchError
from orbitmq.bench.raw.pipeline import ReadConnection, line_start

__all__ = ["STREAM", "ReadGroupConnection", "XaddWire", "command", "create_group"]

STREAM = b"orbitmq-bench"
FIELD = b"body"
_ENTRY = b"*2\r\n$"
_NIL = b"*-1\r\n"


def command(*args: bytes) -> bytes:
    """One command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


async def create_group(host: str, port: int, group: bytes) -> None:
    """XGROUP CREATE at the stream's first entry; a group that exists is kept (every
    worker of a fleet asks)."""
    try:
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(command(b"XGROUP", b"CREATE", STREAM, group, b"0", b"MKSTREAM"))
                reply = await reader.readline()
            finally:
                writer.close()
    except TimeoutError as exc:
        raise BenchError("no reply from redis-server to XGROUP CREATE") from exc
    if not reply.startswith(b"+OK") and not reply.startswith(b"-BUSYGROUP"):
        raise BenchError(f"XGROUP CREATE failed: {reply.decode(errors='replace').strip()}")


class XaddWire:
    def __init__(self, body: bytes) -> None:
        self._request = command(b"XADD", STREAM, b"*", FIELD, body)

    def frames(self, n: int) -> bytes:
        return self._request * n

    def scan(self, buf: bytearray) -> tuple[int, int, int]:
        """Without an error reply, every reply is two lines (`$<n>` and the id, which
        holds no CRLF): counting CRLFs in C finds them. An odd count means the last
        complete line is the head of a reply still arriving."""
        last = buf.rfind(b"\r\n")
        if last < 0:
            return 0, 0, 0
        cut = last + 2
        if buf[0] == 0x2D or buf.find(b"\r\n-", 0, cut) >= 0:  # an error line ('-…')
            return self._scan_each(buf)
        lines = buf.count(b"\r\n", 0, cut)
        if lines % 2:
            cut = line_start(buf, last)
            lines -= 1
        return cut, lines // 2, 0

    @staticmethod
    def _scan_each(buf: bytearray) -> tuple[int, int, int]:
        pos, end, ok, failed = 0, len(buf), 0, 0
        while pos < end:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            if buf[pos] == 0x24:  # '$': the new entry's id
                stop = eol + 4 + int(buf[pos + 1 : eol])
                if stop > end:
                    break
                ok += 1
                pos = stop
            else:  # '-ERR …' (or anything unexpected): one failed reply per line
                failed += 1
                pos = eol + 2
        return pos, ok, failed

    def take_control(self) -> bytes:
        return b""


class ReadGroupConnection(ReadConnection):
    """Reads the stream through `group` until a nil reply, `depth` reads in flight."""

    def __init__(
        self, group: bytes, consumer: bytes, count: int, depth: int, size: int,
        received: Callable[[int], None],
    ) -> None:  # fmt: skip
        super().__init__()
        self._request = command(
            b"XREADGROUP", b"GROUP", group, consumer, b"COUNT", b"%d" % count, b"NOACK",
            b"STREAMS", STREAM, b">",
        )  # fmt: skip
        self._depth = depth
        self._received = received
        self._reply_head = b"*1\r\n*2\r\n$%d\r\n%s\r\n*" % (len(STREAM), STREAM)
        self._fields = b"\r\n*2\r\n$%d\r\n%s\r\n$%d\r\n" % (len(FIELD), FIELD, size)
        self._entry_rest = len(self._fields) + size + 2  # after the id: fields, body, CRLF
        self._entries_left = -1  # -1: at the start of a reply
        self._in_flight = 0

    def start(self) -> None:
        self._in_flight = self._depth
        self.write(self._request * self._depth)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = self._walk(buf)
        if pos:
            del buf[:pos]

    def _walk(self, buf: bytearray) -> int:
        pos, end, left, walked = 0, len(buf), self._entries_left, 0
        fields, rest, head = self._fields, self._entry_rest, self._reply_head
        while pos < end:
            if left == 0:
                left = -1
                self._reply_done(empty=False)
            elif left < 0:  # a reply starts here
                if buf.startswith(_NIL, pos):
                    pos += len(_NIL)
                    self._reply_done(empty=True)
                    continue
                if buf[pos] == 0x2D:  # '-': an error reply
                    eol = buf.find(b"\r\n", pos)
                    if eol < 0:
                        break
                    raise BenchError(f"XREADGROUP failed: {bytes(buf[pos:eol])!r}")
                head_end = buf.find(b"\r\n", pos + len(head))
                if head_end < 0:
                    break
                if not buf.startswith(head, pos):
                    raise BenchError(f"unexpected XREADGROUP reply {bytes(buf[pos:head_end])!r}")
                left = int(buf[pos + len(head) : head_end])
                pos = head_end + 2
            else:
                eol = buf.find(b"\r\n", pos + 5)
                if eol < 0:
                    break
                id_end = eol + 2 + int(buf[pos + 5 : eol])
                stop = id_end + rest
                if stop > end:
                    break
                if not buf.startswith(fields, id_end) or not buf.startswith(_ENTRY, pos):
                    raise BenchError(
                        "stream entries are not `body` fields of the given size: was the "
                        "stream filled by raw-producer with the same -s?"
                    )
                pos = stop
                left -= 1
                walked += 1
        if left == 0:
            left = -1
            self._reply_done(empty=False)
        self._entries_left = left
        if walked:
            self._received(walked)
        return pos

    def _reply_done(self, empty: bool) -> None:
        self._in_flight -= 1
        if empty:
            self.stopping = True
        if self.stopping:
            if self._in_flight <= 0:
                self.finish()
            return
        self._in_flight += 1
        self.write(self._request)
