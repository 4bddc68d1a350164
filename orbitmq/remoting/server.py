"""A remoting server listening on one or more ports with one dispatcher.

Its limits (orbitmq/remoting/limits.py, docs/limits.md) keep it up under abuse: a
connection over the server's or its address's cap is closed as it is made, and one scan
a period closes connections whose partial frame is too old, whose peer stopped reading
our answers, or that said nothing for `idle_seconds`.

With TLS (orbitmq/remoting/tls.py) the server accepts connections itself: it waits for
a connection's first byte, peeks at it, and hands the socket to the event loop as plain
or as TLS (`permissive`), or refuses a plain one (`enforcing`). A socket waiting for its
first byte or for its handshake counts against the caps like a connection.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import ssl
import struct
import time
from collections import Counter
from collections.abc import Callable

from orbitmq.remoting.connection import CloseReason, RemotingConnection
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.limits import RefusalLog, RemotingLimits
from orbitmq.remoting.tls import TLS_HANDSHAKE_RECORD, ServerTls

log = logging.getLogger(__name__)

_RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


class RemotingServer:
    def __init__(
        self,
        dispatcher: RequestDispatcher,
        host: str,
        ports: list[int],
        *,
        limits: RemotingLimits | None = None,
        tls: ServerTls | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.host = host
        self.ports = ports
        self.limits = limits or RemotingLimits()
        self.tls = tls if tls is not None and tls.context is not None else None
        self._servers: list[asyncio.Server] = []
        self._listeners: list[socket.socket] = []  # with TLS: the ports we accept on
        self._accepting: set[asyncio.Task[None]] = set()
        # Accepted sockets not yet a connection -> (host, since when it waits for its
        # first byte; inf once in its handshake, which has its own timeout)
        self._pending: dict[socket.socket, tuple[str, float]] = {}
        self.connections: set[RemotingConnection] = set()
        self._per_host: Counter[str] = Counter()
        self._refusals = RefusalLog(f"remoting server {host}:{ports}")
        self._close_listeners: list[Callable[[RemotingConnection], None]] = []
        self._limits_task: asyncio.Task[None] | None = None

    def add_close_listener(self, listener: Callable[[RemotingConnection], None]) -> None:
        """Called for every connection that closes (broker expiry, client expiry)."""
        self._close_listeners.append(listener)

    def _make_connection(self) -> RemotingConnection:
        return RemotingConnection(self.dispatcher, limits=self.limits, admit=self._admit)

    def _over_cap(self, host: str) -> bool:
        """Whether one more connection from `host` is over a cap (logged if so)."""
        limits = self.limits
        count = len(self.connections) + len(self._pending)
        if count >= limits.max_connections:
            detail = f"the server has {count} (serverMaxConnections)"
        elif self._per_host[host] >= limits.max_connections_per_address:
            detail = f"the address has {self._per_host[host]} (serverMaxConnectionsPerAddress)"
        else:
            return False
        self._refusals.refused(
            "connection refused", host, time.monotonic(), f"over the cap: {detail}"
        )
        return True

    def _admit(self, connection: RemotingConnection) -> bool:
        host = connection.peer_host
        if self._over_cap(host):
            return False
        self.connections.add(connection)
        self._per_host[host] += 1
        connection.add_close_callback(self._on_close)
        return True

    def _release_host(self, host: str) -> None:
        self._per_host[host] -= 1
        if self._per_host[host] <= 0:
            del self._per_host[host]

    def _on_close(self, connection: RemotingConnection) -> None:
        self.connections.discard(connection)
        self._release_host(connection.peer_host)
        for listener in self._close_listeners:
            listener(connection)

    async def start(self) -> None:
        """Return once every port is listening."""
        loop = asyncio.get_running_loop()
        try:
            for port in self.ports:
                if self.tls is None:
                    server = await loop.create_server(
                        self._make_connection, self.host, port, reuse_address=True, backlog=1024
                    )
                    self._servers.append(server)
                else:
                    listener = socket.create_server((self.host, port), backlog=1024)
                    listener.setblocking(False)
                    self._listeners.append(listener)
                    self._spawn(self._accept_loop(listener), f"accept_service_{port}")
        except BaseException:
            await self.aclose()
            raise
        self._limits_task = asyncio.create_task(
            self._limits_loop(), name="connection_limits_service"
        )

    @property
    def waiting_sockets(self) -> int:
        """Accepted sockets not yet connections (TLS: first byte or handshake to come)."""
        return len(self._pending)

    @property
    def bound_ports(self) -> list[int]:
        ports = [s.sockets[0].getsockname()[1] for s in self._servers if s.sockets]
        return ports + [listener.getsockname()[1] for listener in self._listeners]

    def _spawn(self, coro: object, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]
        self._accepting.add(task)
        task.add_done_callback(self._accepting.discard)

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, peer = await loop.sock_accept(listener)
            except OSError as exc:
                # Out of descriptors, most likely: the port stays open, accepting later.
                log.warning("accept on %s failed: %s", listener.getsockname(), exc)
                await asyncio.sleep(0.1)
                continue
            host = str(peer[0])
            if self._over_cap(host):
                # Reset at once, as a refused create_server connection is aborted.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
                sock.close()
                continue
            sock.setblocking(False)
            # As create_server's transports have it: small answers go out at once.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pending[sock] = (host, time.monotonic())
            self._per_host[host] += 1
            loop.add_reader(sock, self._first_byte_arrived, sock)

    def _release_pending(self, sock: socket.socket) -> None:
        entry = self._pending.pop(sock, None)
        if entry is not None:
            self._release_host(entry[0])

    def _drop_pending(self, sock: socket.socket) -> None:
        entry = self._pending.get(sock)
        if entry is not None and entry[1] != math.inf:
            asyncio.get_running_loop().remove_reader(sock)
        self._release_pending(sock)
        sock.close()

    def _first_byte_arrived(self, sock: socket.socket) -> None:
        """Plain or TLS, by the first byte, left in the socket for whoever reads next."""
        assert self.tls is not None
        asyncio.get_running_loop().remove_reader(sock)
        host = self._pending[sock][0]
        self._pending[sock] = (host, math.inf)
        try:
            first = sock.recv(1, socket.MSG_PEEK)
        except OSError:
            first = b""
        if not first:
            self._drop_pending(sock)
            return
        use_tls = first[0] == TLS_HANDSHAKE_RECORD
        if not use_tls and self.tls.mode == "enforcing":
            self._refusals.refused(
                "plain connection refused",
                host,
                time.monotonic(),
                "tls.server.mode=enforcing takes TLS connections only",
            )
            self._drop_pending(sock)
            return
        self._spawn(self._adopt(sock, host, use_tls), "adopt_connection")

    async def _adopt(self, sock: socket.socket, host: str, use_tls: bool) -> None:
        assert self.tls is not None

        def connection() -> RemotingConnection:
            self._release_pending(sock)  # it is counted as a connection from here on
            return self._make_connection()

        loop = asyncio.get_running_loop()
        try:
            if use_tls:
                await loop.connect_accepted_socket(
                    connection,
                    sock,
                    ssl=self.tls.context,
                    ssl_handshake_timeout=self.limits.frame_timeout_seconds,
                )
            else:
                await loop.connect_accepted_socket(connection, sock)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self._release_pending(sock)
            sock.close()
            self._refusals.refused("TLS handshake failed", host, time.monotonic(), str(exc))

    async def _limits_loop(self) -> None:
        limits = self.limits
        while True:
            await asyncio.sleep(limits.scan_period_seconds)
            self.enforce_time_limits(time.monotonic())

    def enforce_time_limits(self, now: float) -> None:
        """Close the connections past a time limit at `now` (time.monotonic())."""
        limits = self.limits
        blocked_before = now - limits.write_blocked_timeout_seconds
        frame_before = now - limits.frame_timeout_seconds
        idle_before = now - limits.idle_seconds
        refused = self._refusals.refused
        for sock, (host, since) in list(self._pending.items()):
            if since < idle_before:
                refused(
                    "idle connection closed",
                    host,
                    now,
                    f"no first byte in {limits.idle_seconds:g} s (serverChannelMaxIdleTimeSeconds)",
                    level=logging.INFO,
                )
                self._drop_pending(sock)
        for connection in list(self.connections):
            blocked = connection.write_blocked_since
            if blocked:
                # Reading is paused meanwhile: its partial frame cannot progress.
                if blocked < blocked_before:
                    refused(
                        "write blocked",
                        connection.peer_host,
                        now,
                        f"it read none of {connection.write_buffer_size()} queued bytes "
                        f"for {limits.write_blocked_timeout_seconds:g} s "
                        "(serverWriteBlockedTimeoutSeconds)",
                    )
                    connection.close(CloseReason.WRITE_BLOCKED)
            elif connection.frame_started and connection.frame_started < frame_before:
                refused(
                    "frame timeout",
                    connection.peer_host,
                    now,
                    f"a frame was not complete {limits.frame_timeout_seconds:g} s after its "
                    "first byte (serverFrameReadTimeoutSeconds)",
                )
                connection.close(CloseReason.FRAME_TIMEOUT)
            elif connection.last_active < idle_before:
                refused(
                    "idle connection closed",
                    connection.peer_host,
                    now,
                    f"nothing read for {limits.idle_seconds:g} s (serverChannelMaxIdleTimeSeconds)",
                    level=logging.INFO,
                )
                connection.close(CloseReason.IDLE)

    async def aclose(self) -> None:
        if self._limits_task is not None:
            self._limits_task.cancel()
            self._limits_task = None
        for server in self._servers:
            server.close()
        for task in list(self._accepting):
            task.cancel()
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()
        for sock in list(self._pending):
            self._drop_pending(sock)
        for connection in list(self.connections):
            connection.close(CloseReason.SHUTDOWN)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        await self.dispatcher.aclose()
