"""One remoting connection, usable by both servers and clients.

Theory of operation: `data_received` feeds a FrameDecoder; each whole command is either a
response (resolves the Future registered under its opaque by `invoke`) or a request
(handed to the dispatcher, which may answer through `send`). Either side may send
requests: brokers push NOTIFY_CONSUMER_IDS_CHANGED to consumers on the same socket.
When the dispatcher has a lane, every whole frame a read brings goes to the lane at once
instead; it takes what it batches and `deliver`s the rest.

A server's connections carry its limits (orbitmq/remoting/limits.py): the server admits
or refuses each one as it is made, and its scan cuts a connection whose partial frame is
older than the frame timeout (`frame_started`: when the read that began it arrived) or
whose writes stayed blocked too long (`write_blocked_since`: while the peer does not
read what we queue, reading from it pauses, so it cannot make us queue more).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import itertools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.command import FLAG_ONEWAY, RemotingCommand
from orbitmq.protocol.frame import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, encode_frame_parts
from orbitmq.remoting.errors import (
    ConnectionBrokenError,
    ConnectionClosedError,
    RemotingError,
    RequestTimeoutError,
)

if TYPE_CHECKING:
    from orbitmq.remoting.dispatch import FrameLane, RequestDispatcher
    from orbitmq.remoting.limits import RemotingLimits

log = logging.getLogger(__name__)


class CloseReason(enum.Enum):
    PEER_CLOSED = "peer closed"
    BAD_FRAME = "bad frame"
    IDLE = "idle"
    SHUTDOWN = "shutdown"
    TIMEOUT = "request timeout"
    REFUSED = "over the connection limit"
    FRAME_TIMEOUT = "frame not complete in time"
    WRITE_BLOCKED = "peer stopped reading"


# Closed without flushing: what is queued for such a peer is dropped at once.
_ABORT_REASONS = frozenset(
    {
        CloseReason.BAD_FRAME,
        CloseReason.REFUSED,
        CloseReason.FRAME_TIMEOUT,
        CloseReason.WRITE_BLOCKED,
    }
)


_opaque_counter = itertools.count(1)


def next_opaque() -> int:
    return next(_opaque_counter) & 0x7FFFFFFF


class RemotingConnection(asyncio.Protocol):
    def __init__(
        self,
        dispatcher: RequestDispatcher | None = None,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        limits: RemotingLimits | None = None,
        admit: Callable[[RemotingConnection], bool] | None = None,
    ) -> None:
        """`limits` and `admit` are a server's: `admit` refuses a connection over a cap."""
        self._dispatcher = dispatcher
        # A batching reader of whole frames (the broker's send lane), or None.
        self._lane: FrameLane | None = dispatcher.lane if dispatcher is not None else None
        self._decoder = FrameDecoder(limits.max_frame_size if limits else max_frame_size)
        self._limits = limits
        self._admit = admit
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[RemotingCommand]] = {}
        self._out: list[bytes] = []
        # Answer bytes `send` queued in this loop iteration; past the high-water mark
        # (or while writes are blocked) requests wait in `_deferred`, so that the
        # requests of one read cannot queue answers without bound before the transport
        # even sees them. Without limits (a client's connection) nothing is deferred.
        self._out_bytes = 0
        self._defer_above = limits.write_buffer_high_water_mark if limits else 1 << 62
        self._deferred: collections.deque[RemotingCommand] = collections.deque()
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._close_callbacks: list[Callable[[RemotingConnection], None]] = []
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.close_reason: CloseReason | None = None
        self.peer_address = ""
        self.peer_host = ""
        self.local_address = ""
        self.last_active = time.monotonic()
        self.frame_started = 0.0  # 0: no partial frame buffered
        self.write_blocked_since = 0.0  # 0: writes are flowing
        self.attributes: dict[str, Any] = {}

    # asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        if peer:
            self.peer_host = str(peer[0])
            self.peer_address = f"{peer[0]}:{peer[1]}"
        if local:
            self.local_address = f"{local[0]}:{local[1]}"
        if self._admit is not None and not self._admit(self):
            self.close(CloseReason.REFUSED)
            return
        limits = self._limits
        if limits is not None:
            self._transport.set_write_buffer_limits(
                high=limits.write_buffer_high_water_mark, low=limits.write_buffer_low_water_mark
            )

    def data_received(self, data: bytes) -> None:
        now = self.last_active = time.monotonic()
        decoder = self._decoder
        progressed = False
        try:
            decoder.feed(data)
            if self._lane is not None:
                frames = decoder.whole_frames()
                if frames:
                    progressed = True
                    self._lane.receive(self, frames)
            else:
                while (command := decoder.next_frame()) is not None:
                    progressed = True
                    self.deliver(command)
        except RemoteProtocolError as exc:
            log.warning("closing connection %s: %s", self.peer_address, exc)
            self.close(CloseReason.BAD_FRAME)
            return
        # A partial frame left over began in this read if a frame completed in it.
        if not decoder.buffered:
            self.frame_started = 0.0
        elif progressed or not self.frame_started:
            self.frame_started = now

    def deliver(self, command: RemotingCommand) -> None:
        """A decoded command: a response resolves its request, a request is dispatched."""
        if command.is_response:
            future = self._pending.pop(command.opaque, None)
            if future is not None and not future.done():
                future.set_result(command)
        elif self._dispatcher is not None:
            if self._deferred or self.write_blocked_since or self._out_bytes > self._defer_above:
                self._deferred.append(command)
            else:
                self._dispatcher.dispatch(self, command)

    def _dispatch_deferred(self) -> None:
        deferred = self._deferred
        dispatcher = self._dispatcher
        while (
            deferred
            and dispatcher is not None
            and self.is_open
            and not self.write_blocked_since
            and self._out_bytes <= self._defer_above
        ):
            dispatcher.dispatch(self, deferred.popleft())

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self.close_reason or CloseReason.PEER_CLOSED
        self.close_reason = reason
        self._transport = None
        if reason in (CloseReason.SHUTDOWN, CloseReason.IDLE):
            error: RemotingError = ConnectionClosedError(
                f"connection to {self.peer_address} closed: {reason.value}"
            )
        else:
            error = ConnectionBrokenError(f"connection to {self.peer_address} lost: {reason.value}")
        if exc is not None:
            error.__cause__ = exc
        pending, self._pending = self._pending, {}
        self._deferred.clear()
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
        self._can_write.set()
        if not self.closed.done():
            self.closed.set_result(None)
        for callback in self._close_callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("close callback failed for %s", self.peer_address)

    def pause_writing(self) -> None:
        self._can_write.clear()
        if self._limits is not None:
            # Its requests would only queue more answers: read again once it has read.
            self.write_blocked_since = time.monotonic()
            transport = self._transport
            if transport is not None and not transport.is_closing():
                transport.pause_reading()

    def resume_writing(self) -> None:
        self._can_write.set()
        if self.write_blocked_since:
            self.write_blocked_since = 0.0
            transport = self._transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()
            self._dispatch_deferred()

    # API ---------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def write_buffer_size(self) -> int:
        """Bytes queued in the transport, not yet taken by the peer."""
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def add_close_callback(self, callback: Callable[[RemotingConnection], None]) -> None:
        self._close_callbacks.append(callback)

    def send(self, command: RemotingCommand) -> None:
        """Queue a command for writing (silently dropped if closed)."""
        head, body = encode_frame_parts(command)
        self._out_bytes += len(head) + len(body)
        if body:
            self.send_frames(head, body)
        else:
            self.send_frames(head)

    def send_frames(self, *frames: bytes) -> None:
        """Queue encoded frames, or parts of them, for writing (dropped if closed).

        What is queued in one event-loop iteration goes out in one write: with many
        requests in flight this saves a syscall per response. Parts are not joined.
        """
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.extend(frames)

    def _flush(self) -> None:
        out, self._out = self._out, []
        self._out_bytes = 0
        transport = self._transport
        if transport is not None and not transport.is_closing() and out:
            if len(out) == 1:
                transport.write(out[0])
            else:
                transport.writelines(out)  # uvloop: one writev, no join
        if self._deferred and not self.write_blocked_since:
            # The transport took it all without blocking: the next requests may go.
            asyncio.get_running_loop().call_soon(self._dispatch_deferred)

    async def wait_writable(self) -> None:
        await self._can_write.wait()

    async def invoke(self, command: RemotingCommand, timeout: float) -> RemotingCommand:
        """Send a request and wait for the response with the same opaque."""
        if not self.is_open:
            raise ConnectionClosedError(f"connection to {self.peer_address} is closed")
        opaque = command.opaque = next_opaque()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[RemotingCommand] = loop.create_future()
        self._pending[opaque] = future
        self.send(command)
        # A bare timer is much cheaper per request than an asyncio.timeout() scope.
        timer = loop.call_later(timeout, self._expire, future, command.code, timeout)
        try:
            return await future
        finally:
            timer.cancel()
            self._pending.pop(opaque, None)

    def _expire(self, future: asyncio.Future[RemotingCommand], code: int, timeout: float) -> None:
        if not future.done():
            future.set_exception(
                RequestTimeoutError(
                    f"request code {code} to {self.peer_address} timed out after {timeout:.1f}s"
                )
            )

    def invoke_oneway(self, command: RemotingCommand) -> None:
        command.opaque = next_opaque()
        command.flag |= FLAG_ONEWAY
        self.send(command)

    def close(self, reason: CloseReason = CloseReason.SHUTDOWN) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        if self._transport is not None:
            self._flush()  # answers queued in this iteration still go out
            if reason in _ABORT_REASONS:
                self._transport.abort()
            else:
                self._transport.close()
