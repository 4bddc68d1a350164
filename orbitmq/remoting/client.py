"""A remoting client: one connection per address, requests matched by opaque."""

from __future__ import annotations

import asyncio
import logging

from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.frame import DEFAULT_MAX_FRAME_SIZE
from orbitmq.remoting.connection import CloseReason, RemotingConnection
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.errors import ConnectionClosedError, RemotingConnectError

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 3.0


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"address {address!r} is not host:port")
    return host, int(port)


class RemotingClient:
    """Args:
    dispatcher: handles requests the servers push to us (e.g. NOTIFY_CONSUMER_IDS_CHANGED).
    """

    def __init__(
        self,
        dispatcher: RequestDispatcher | None = None,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        self._dispatcher = dispatcher
        self._connect_timeout = connect_timeout
        self._max_frame_size = max_frame_size
        self._connections: dict[str, RemotingConnection] = {}
        self._connecting: dict[str, asyncio.Future[RemotingConnection]] = {}
        self._closed = False

    async def get_connection(self, address: str) -> RemotingConnection:
        if self._closed:
            raise ConnectionClosedError("client is closed")
        connection = self._connections.get(address)
        if connection is not None and connection.is_open:
            return connection
        pending = self._connecting.get(address)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[RemotingConnection] = asyncio.get_running_loop().create_future()
        self._connecting[address] = future
        try:
            connection = await self._connect(address)
            future.set_result(connection)
            return connection
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters get it through shield
            raise
        finally:
            del self._connecting[address]

    async def _connect(self, address: str) -> RemotingConnection:
        host, port = split_address(address)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: RemotingConnection(
                        self._dispatcher, max_frame_size=self._max_frame_size
                    ),
                    host,
                    port,
                )
        except (OSError, TimeoutError) as exc:
            raise RemotingConnectError(f"cannot connect to {address}: {exc}") from exc
        self._connections[address] = connection
        connection.add_close_callback(lambda c: self._forget(address, c))
        return connection

    def _forget(self, address: str, connection: RemotingConnection) -> None:
        if self._connections.get(address) is connection:
            del self._connections[address]

    async def invoke(
        self, address: str, command: RemotingCommand, timeout: float = 3.0
    ) -> RemotingCommand:
        connection = await self.get_connection(address)
        return await connection.invoke(command, timeout)

    async def invoke_oneway(self, address: str, command: RemotingCommand) -> None:
        connection = await self.get_connection(address)
        connection.invoke_oneway(command)

    def close_connection(self, address: str) -> None:
        connection = self._connections.pop(address, None)
        if connection is not None:
            connection.close(CloseReason.SHUTDOWN)

    async def aclose(self) -> None:
        self._closed = True
        connections = list(self._connections.values())
        self._connections.clear()
        for connection in connections:
            connection.close(CloseReason.SHUTDOWN)
        for connection in connections:
            try:
                async with asyncio.timeout(1.0):
                    await connection.closed
            except TimeoutError:
                log.warning("connection %s did not close in time", connection.peer_address)
        if self._dispatcher is not None:
            await self._dispatcher.aclose()
