"""The connections of the raw loads: a buffered asyncio Protocol, and the send pipeline
that keeps a window of pre-encoded requests in flight.

Theory of operation. `SendPipeline` writes `window` requests at start; each
`data_received` lets the system's `SendWire` count the complete responses in the buffer
(ok and failed) and answers them with as many new requests, encoded in one buffer and
written with one `transport.write`. Nothing is done per message but the wire's patching
and scanning. Round-trip time is taken per written batch: responses are matched to the
oldest unanswered batch (servers answer one connection in order), and one latency
sample is recorded per batch (or part of one) that a read completes.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol, TypeVar, cast

from orbitmq.bench.common import BenchError, Budget
from orbitmq.bench.stats import SendStats

__all__ = [
    "RawConnection",
    "ReadConnection",
    "SendPipeline",
    "SendWire",
    "line_start",
    "open_connection",
    "parse_url",
]

C = TypeVar("C", bound="RawConnection")


def parse_url(url: str, scheme: str) -> tuple[str, int]:
    """SCHEME://HOST:PORT -> (HOST, PORT).

    Raises:
        BenchError: not of that form.
    """
    host, _, port = url.removeprefix(f"{scheme}://").rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise BenchError(f"expected {scheme}://HOST:PORT, got {url!r}")
    return host, int(port)


def line_start(buf: bytearray, eol: int) -> int:
    """Where the CRLF-ended line whose CRLF is at `eol` starts (0 for the first line)."""
    before = buf.rfind(b"\r\n", 0, eol)
    return before + 2 if before >= 0 else 0


class SendWire(Protocol):
    """A system's requests and responses, for one connection."""

    def frames(self, n: int) -> bytes | bytearray:
        """`n` requests encoded back to back."""
        ...

    def scan(self, buf: bytearray) -> tuple[int, int, int]:
        """(bytes of complete responses at the start of `buf`, ok, failed)."""
        ...

    def take_control(self) -> bytes:
        """Protocol chatter owed to the server (a NATS PONG), written before requests."""
        ...


class RawConnection(asyncio.Protocol):
    """A connection with a receive buffer; `closed` resolves when it ends."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def write(self, data: bytes | bytearray) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class ReadConnection(RawConnection):
    """A consumer's connection: `start()` sends its first reads, `drained` resolves once
    it has read all there is (or has ended), `stopping` tells it to send no more reads,
    and `errors` holds what the server refused."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping = False
        self.errors: list[str] = []
        self.drained: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def start(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        self.stopping = True
        if not self.drained.done():
            self.drained.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.finish()


async def open_connection(factory: Callable[[], C], host: str, port: int) -> C:
    """Connect `factory()` to host:port within 5 s."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        _, protocol = await loop.create_connection(factory, host, port)
    return protocol


class SendPipeline(RawConnection):
    """Keeps `window` requests of `wire` in flight until the budget runs out."""

    def __init__(self, wire: SendWire, window: int) -> None:
        super().__init__()
        self._wire = wire
        self._window = window
        self._budget: Budget | None = None
        self._stats: SendStats | None = None
        self._batches: deque[list[int]] = deque()  # [sent at (ns), still unanswered]
        self.in_flight = 0
        self._finished: asyncio.Future[None] | None = None

    def start(self, budget: Budget, stats: SendStats) -> asyncio.Future[None]:
        """Write the first window; the future resolves once the budget is spent and
        every request answered (or the connection is lost)."""
        self._budget, self._stats = budget, stats
        self._finished = asyncio.get_running_loop().create_future()
        self._send(budget.take(self._window))
        self._check_finished()
        return self._finished

    def _send(self, n: int) -> None:
        if n and self.transport is not None and not self.transport.is_closing():
            control = self._wire.take_control()
            if control:
                self.transport.write(control)
            self.transport.write(self._wire.frames(n))
            self._batches.append([time.perf_counter_ns(), n])
            self.in_flight += n

    def _check_finished(self) -> None:
        if self.in_flight == 0 and self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        consumed, ok, failed = self._wire.scan(buf)
        if not consumed:
            return
        del buf[:consumed]
        answered = ok + failed
        if not answered:
            control = self._wire.take_control()
            if control:
                self.write(control)
            return
        stats, budget = self._stats, self._budget
        assert stats is not None and budget is not None
        self.in_flight -= answered
        self._record(answered, ok, stats)
        if failed:
            stats.record_response_failed(failed)
        self._send(budget.take(answered))
        self._check_finished()

    def _record(self, answered: int, ok: int, stats: SendStats) -> None:
        """One RT sample per batch that this read answered (in part)."""
        now = time.perf_counter_ns()
        batches = self._batches
        while answered and batches:
            head = batches[0]
            part = min(answered, head[1])
            counted = min(part, ok)
            if counted:
                stats.record_ok((now - head[0]) // 1000, counted)
                ok -= counted
            head[1] -= part
            answered -= part
            if not head[1]:
                batches.popleft()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._stats is not None and self.in_flight:
            self._stats.record_send_failed(self.in_flight)
        self.in_flight = 0
        if self._budget is not None:
            self._budget.stop()  # a lost server ends the run rather than half of it
        self._check_finished()

    def abandon(self) -> None:
        """Give up on what is still unanswered (counted as send failures)."""
        if self._stats is not None and self.in_flight:
            self._stats.record_send_failed(self.in_flight)
        self.in_flight = 0
        self._check_finished()
