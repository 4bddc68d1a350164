"""The client's transport: one connection per NameServer or broker address, requests
pipelined on it and matched by opaque (NettyRemotingClient and its channel table).

Theory of operation. A client sends a request per message it sends and per pull, so the
per-request work of its transport is most of what a send costs; hence a connection of
its own rather than remoting.RemotingConnection (which serves the broker's side):
  * a request is one entry in the table opaque -> (future, deadline, code). One sweep
    every SWEEP_INTERVAL, while requests are pending, fails the expired ones (Java's
    scanResponseTable), instead of a timer per request;
  * a caller that builds its frames from cached parts hands over the bytes
    (`invoke_frame`); other commands are encoded by the shared codec;
  * frames queued in one event-loop iteration go out in one write;
  * a read's whole frames are walked in place (no copy of a header into a buffer first)
    and decoded by the shared codec; a response resolves its request's future, a request
    a server pushes (NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE, ...) goes to
    the RequestDispatcher, which answers through `send`;
  * a caller that reads only a few fields of the answer (a send) asks for it `raw`:
    the parsed JSON header object and the body, without a RemotingCommand made of it;
  * with credentials (ACL), every request command is signed here, the one place
    commands are sent (AclClientRPCHook); prebuilt frames (`invoke_frame`) are not, so
    callers with credentials send commands instead.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any

import orjson

from orbitmq.acl.signature import SessionCredentials
from orbitmq.errors import FrameTooLargeError, RemoteProtocolError
from orbitmq.protocol.codes import SerializeType
from orbitmq.protocol.command import FLAG_ONEWAY, FLAG_RESPONSE, RemotingCommand
from orbitmq.protocol.frame import DEFAULT_MAX_FRAME_SIZE, decode_header, encode_frame
from orbitmq.remoting.client import ConnectionPool
from orbitmq.remoting.connection import next_opaque
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.errors import (
    ConnectionBrokenError,
    ConnectionClosedError,
    RemotingError,
    RequestTimeoutError,
)

__all__ = ["SWEEP_INTERVAL", "ClientConnection", "ClientTransport", "RawResponse"]

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 0.1  # how late, at most, a request's timeout is noticed
_PREFIX = struct.Struct(">ii")  # totalLength, serializeType << 24 | headerLength

# A pending request: its future, deadline (loop time), request code, and whether it
# wants its answer raw, as (JSON header object, body).
Pending = tuple["asyncio.Future[Any]", float, int, bool]
RawResponse = tuple[dict[str, Any], bytes]


class ClientConnection(asyncio.Protocol):
    """One connection of a client; see the module doc."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        dispatcher: RequestDispatcher | None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        credentials: SessionCredentials | None = None,
    ) -> None:
        self._loop = loop
        self._dispatcher = dispatcher
        self.credentials = credentials
        self._max_frame_size = max_frame_size
        self._transport: asyncio.Transport | None = None
        self._closing_here = False
        # Bytes of a frame whose end has not arrived yet, and how many it needs in all.
        self._partial = bytearray()
        self._needed = 0
        self._pending: dict[int, Pending] = {}
        self._raw_pending = 0  # entries of _pending that want their answer raw
        self._sweeping = False
        self._out: list[bytes] = []
        self.closed: asyncio.Future[None] = loop.create_future()
        self._close_callbacks: list[Callable[[ClientConnection], None]] = []
        self.peer_address = ""

    # asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer_address = f"{peer[0]}:{peer[1]}"

    def data_received(self, data: bytes) -> None:
        partial = self._partial
        if partial:
            partial += data
            if len(partial) < self._needed:
                return
            buf = bytes(partial)
            partial.clear()
        else:
            buf = data
        end = len(buf)
        pos = 0
        try:
            while end - pos >= 8:
                total, word = _PREFIX.unpack_from(buf, pos)
                header_len = word & 0xFFFFFF
                if total > self._max_frame_size:
                    raise FrameTooLargeError(total, self._max_frame_size)
                if total < 4 or header_len > total - 4:
                    raise RemoteProtocolError(f"bad frame lengths {total}/{header_len}")
                stop = pos + 4 + total
                if stop > end:
                    break
                body_start = pos + 8 + header_len
                header = memoryview(buf)[pos + 8 : body_start]
                body = buf[body_start:stop]
                pos = stop
                if word >> 24 != SerializeType.JSON or not self._deliver_raw(header, body):
                    self._deliver(decode_header(word >> 24, header, body))
        except RemoteProtocolError as exc:
            log.warning("closing connection %s: %s", self.peer_address, exc)
            self.close(abort=True)
            return
        if pos < end:
            partial += memoryview(buf)[pos:]
            # The loop checked this frame's length when its prefix was whole.
            self._needed = 4 + _PREFIX.unpack_from(buf, pos)[0] if end - pos >= 8 else 8

    def _deliver_raw(self, header: memoryview, body: bytes) -> bool:
        """Hand a JSON response to a request that asked for it raw; False if it is not
        one (the frame is then decoded as a command)."""
        if self._raw_pending == 0:
            return False
        try:
            fields = orjson.loads(header)
        except orjson.JSONDecodeError as exc:
            raise RemoteProtocolError(f"undecodable JSON header: {exc}") from exc
        if fields.__class__ is not dict:
            return False
        opaque = fields.get("opaque")
        flag = fields.get("flag")
        if opaque.__class__ is not int or flag.__class__ is not int or not flag & FLAG_RESPONSE:
            return False
        entry = self._pending.get(opaque)
        if entry is None or not entry[3]:
            return False
        del self._pending[opaque]
        self._raw_pending -= 1
        if not entry[0].done():
            entry[0].set_result((fields, body))
        return True

    def _deliver(self, command: RemotingCommand) -> None:
        if command.flag & FLAG_RESPONSE:
            entry = self._pending.pop(command.opaque, None)
            if entry is not None:
                self._raw_pending -= entry[3]
                if not entry[0].done():
                    entry[0].set_result(command)
        elif self._dispatcher is not None:
            self._dispatcher.dispatch(self, command)  # type: ignore[arg-type]  # duck-typed

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        error: RemotingError
        if self._closing_here:
            error = ConnectionClosedError(f"connection to {self.peer_address} closed")
        else:
            error = ConnectionBrokenError(f"connection to {self.peer_address} lost")
        if exc is not None:
            error.__cause__ = exc
        pending, self._pending = self._pending, {}
        self._raw_pending = 0
        for future, _, _, _ in pending.values():
            if not future.done():
                future.set_exception(error)
        if not self.closed.done():
            self.closed.set_result(None)
        for callback in self._close_callbacks:
            callback(self)

    # API ---------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def write_frame(self, frame: bytes) -> None:
        """Queue an encoded frame; frames queued in one loop iteration go out together."""
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(frame)

    def send(self, command: RemotingCommand) -> None:
        """Queue a command (an answer to a pushed request); dropped if closed."""
        if self.is_open:
            self.write_frame(encode_frame(command))

    def _flush(self) -> None:
        out, self._out = self._out, []
        transport = self._transport
        if transport is not None and not transport.is_closing() and out:
            transport.write(out[0] if len(out) == 1 else b"".join(out))

    def invoke_frame(
        self, opaque: int, frame: bytes, timeout: float, code: int, *, raw: bool = False
    ) -> asyncio.Future[Any]:
        """Send a request frame whose header carries `opaque`; the future resolves to the
        response (a RemotingCommand, or with `raw` a RawResponse when the answer is JSON),
        or fails with RequestTimeoutError after `timeout` seconds."""
        if not self.is_open:
            raise ConnectionClosedError(f"connection to {self.peer_address} is closed")
        future: asyncio.Future[Any] = self._loop.create_future()
        self._pending[opaque] = (future, self._loop.time() + timeout, code, raw)
        self._raw_pending += raw
        if not self._sweeping:
            self._sweeping = True
            self._loop.call_later(SWEEP_INTERVAL, self._sweep)
        self.write_frame(frame)
        return future

    def invoke(self, command: RemotingCommand, timeout: float) -> asyncio.Future[RemotingCommand]:
        """Send a request; the future resolves to the response with the same opaque."""
        command.opaque = next_opaque()
        if self.credentials is not None:
            self.credentials.sign(command)
        return self.invoke_frame(command.opaque, encode_frame(command), timeout, command.code)

    def invoke_oneway(self, command: RemotingCommand) -> None:
        command.opaque = next_opaque()
        command.flag |= FLAG_ONEWAY
        if self.credentials is not None:
            self.credentials.sign(command)
        self.send(command)

    def _sweep(self) -> None:
        now = self._loop.time()
        pending = self._pending
        expired = [
            opaque
            for opaque, (future, deadline, _, _) in pending.items()
            if deadline <= now or future.done()
        ]
        for opaque in expired:
            future, _, code, raw = pending.pop(opaque)
            self._raw_pending -= raw
            if not future.done():
                future.set_exception(
                    RequestTimeoutError(f"request code {code} to {self.peer_address} timed out")
                )
        self._sweeping = bool(pending)
        if self._sweeping:
            self._loop.call_later(SWEEP_INTERVAL, self._sweep)

    def add_close_callback(self, callback: Callable[[ClientConnection], None]) -> None:
        self._close_callbacks.append(callback)

    def close(self, abort: bool = False) -> None:
        """Close after the queued frames; `abort` (a bad frame) drops them and counts
        as a broken connection for the pending requests."""
        self._closing_here = not abort
        if self._transport is not None:
            self._flush()
            if abort:
                self._transport.abort()
            else:
                self._transport.close()


class ClientTransport(ConnectionPool[ClientConnection]):
    """The connections of one client object, by address, opened on first use.

    Args:
        dispatcher: handles requests servers push on these connections.

    `credentials` (set before the first request) sign every request command.
    """

    credentials: SessionCredentials | None = None

    def _new_connection(self) -> ClientConnection:
        return ClientConnection(
            asyncio.get_running_loop(), self._dispatcher, self._max_frame_size, self.credentials
        )
