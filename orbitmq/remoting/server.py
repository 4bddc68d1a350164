"""A remoting server listening on one or more ports with one dispatcher."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from orbitmq.protocol.frame import DEFAULT_MAX_FRAME_SIZE
from orbitmq.remoting.connection import CloseReason, RemotingConnection
from orbitmq.remoting.dispatch import RequestDispatcher

log = logging.getLogger(__name__)

DEFAULT_IDLE_SECONDS = 120.0


class RemotingServer:
    def __init__(
        self,
        dispatcher: RequestDispatcher,
        host: str,
        ports: list[int],
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
    ) -> None:
        self.dispatcher = dispatcher
        self.host = host
        self.ports = ports
        self._max_frame_size = max_frame_size
        self._idle_seconds = idle_seconds
        self._servers: list[asyncio.Server] = []
        self.connections: set[RemotingConnection] = set()
        self._close_listeners: list[Callable[[RemotingConnection], None]] = []
        self._idle_task: asyncio.Task[None] | None = None

    def add_close_listener(self, listener: Callable[[RemotingConnection], None]) -> None:
        """Called for every connection that closes (broker expiry, client expiry)."""
        self._close_listeners.append(listener)

    def _make_connection(self) -> RemotingConnection:
        connection = RemotingConnection(self.dispatcher, max_frame_size=self._max_frame_size)
        self.connections.add(connection)
        connection.add_close_callback(self._on_close)
        return connection

    def _on_close(self, connection: RemotingConnection) -> None:
        self.connections.discard(connection)
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
        self._idle_task = asyncio.create_task(self._idle_loop(), name="idle_connection_service")

    @property
    def bound_ports(self) -> list[int]:
        return [s.sockets[0].getsockname()[1] for s in self._servers if s.sockets]

    async def _idle_loop(self) -> None:
        while True:
            await asyncio.sleep(min(10.0, self._idle_seconds / 2))
            deadline = time.monotonic() - self._idle_seconds
            for connection in list(self.connections):
                if connection.last_active < deadline:
                    log.info("closing idle connection %s", connection.peer_address)
                    connection.close(CloseReason.IDLE)

    async def aclose(self) -> None:
        if self._idle_task is not None:
            self._idle_task.cancel()
            self._idle_task = None
        for server in self._servers:
            server.close()
        for connection in list(self.connections):
            connection.close(CloseReason.SHUTDOWN)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        await self.dispatcher.aclose()
