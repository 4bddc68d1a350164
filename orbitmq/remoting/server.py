"""A remoting server listening on one or more ports with one dispatcher.

Its limits (orbitmq/remoting/limits.py, docs/limits.md) keep it up under abuse: a
connection over the server's or its address's cap is closed as it is made, and one scan
a period closes connections whose partial frame is too old, whose peer stopped reading
our answers, or that said nothing for `idle_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

from orbitmq.remoting.connection import CloseReason, RemotingConnection
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.limits import RefusalLog, RemotingLimits

log = logging.getLogger(__name__)


class RemotingServer:
    def __init__(
        self,
        dispatcher: RequestDispatcher,
        host: str,
        ports: list[int],
        *,
        limits: RemotingLimits | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.host = host
        self.ports = ports
        self.limits = limits or RemotingLimits()
        self._servers: list[asyncio.Server] = []
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

    def _admit(self, connection: RemotingConnection) -> bool:
        limits = self.limits
        host = connection.peer_host
        if len(self.connections) >= limits.max_connections:
            detail = f"the server has {len(self.connections)} (serverMaxConnections)"
        elif self._per_host[host] >= limits.max_connections_per_address:
            detail = f"the address has {self._per_host[host]} (serverMaxConnectionsPerAddress)"
        else:
            self.connections.add(connection)
            self._per_host[host] += 1
            connection.add_close_callback(self._on_close)
            return True
        self._refusals.refused(
            "connection refused", host, time.monotonic(), f"over the cap: {detail}"
        )
        return False

    def _on_close(self, connection: RemotingConnection) -> None:
        self.connections.discard(connection)
        host = connection.peer_host
        self._per_host[host] -= 1
        if self._per_host[host] <= 0:
            del self._per_host[host]
        for listener in self._close_listeners:
            listener(connection)

    async def start(self) -> None:
        """Return once every port is listening."""
        loop = asyncio.get_running_loop()
        try:
            for port in self.ports:
                server = await loop.create_server(
                    self._make_connection, self.host, port, reuse_address=True, backlog=1024
                )
                self._servers.append(server)
        except BaseException:
            await self.aclose()
            raise
        self._limits_task = asyncio.create_task(
            self._limits_loop(), name="connection_limits_service"
        )

    @property
    def bound_ports(self) -> list[int]:
        return [s.sockets[0].getsockname()[1] for s in self._servers if s.sockets]

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
        for connection in list(self.connections):
            connection.close(CloseReason.SHUTDOWN)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        await self.dispatcher.aclose()
