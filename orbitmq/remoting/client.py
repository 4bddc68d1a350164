"""A remoting client: one connection per address, requests matched by opaque.

Generic over the connection class: the broker, the NameServer and DLedger use
RemotingConnection; our Python client uses its own (orbitmq/client/transport.py), which
only needs `is_open`, `closed`, `add_close_callback`, `close`, `invoke`, `invoke_oneway`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, Generic, TypeVar

from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.frame import DEFAULT_MAX_FRAME_SIZE
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.errors import ConnectionClosedError, RemotingConnectError

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 3.0


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"address {address!r} is not host:port")
    return host, int(port)


Connection = TypeVar("Connection", bound=Any)


class ConnectionPool(Generic[Connection]):
    """The connections to each address, opened on first use (subclasses say how).

    Args:
        dispatcher: handles requests the servers push to us (NOTIFY_CONSUMER_IDS_CHANGED).
        tls: dial every address with TLS in this context (orbitmq/remoting/tls.py).
    """

    def __init__(
        self,
        dispatcher: RequestDispatcher | None = None,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self.tls = tls
        self._connect_timeout = connect_timeout
        self._max_frame_size = max_frame_size
        self.connections: dict[str, Connection] = {}
        self._connecting: dict[str, asyncio.Future[Connection]] = {}
        self._closed = False

    def _new_connection(self) -> Connection:
        raise NotImplementedError

    def ready_connection(self, address: str) -> Connection | None:
        """The open connection to `address`, if there is one (no await on the hot path)."""
        connection = self.connections.get(address)
        return connection if connection is not None and connection.is_open else None

    async def get_connection(self, address: str) -> Connection:
        """The open connection to `address`, connecting once however many callers wait."""
        if self._closed:
            raise ConnectionClosedError("client is closed")
        connection = self.ready_connection(address)
        if connection is not None:
            return connection
        pending = self._connecting.get(address)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
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

    async def _connect(self, address: str) -> Connection:
        host, port = split_address(address)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    self._new_connection, host, port, ssl=self.tls
                )
        except (OSError, TimeoutError) as exc:
            raise RemotingConnectError(f"cannot connect to {address}: {exc}") from exc
        self.connections[address] = connection
        connection.add_close_callback(lambda c: self._forget(address, c))
        return connection

    def _forget(self, address: str, connection: Connection) -> None:
        if self.connections.get(address) is connection:
            del self.connections[address]

    async def invoke(
        self, address: str, command: RemotingCommand, timeout: float = 3.0
    ) -> RemotingCommand:
        connection = self.ready_connection(address) or await self.get_connection(address)
        return await connection.invoke(command, timeout)  # type: ignore[no-any-return]

    async def invoke_oneway(self, address: str, command: RemotingCommand) -> None:
        connection = self.ready_connection(address) or await self.get_connection(address)
        connection.invoke_oneway(command)

    def close_connection(self, address: str) -> None:
        connection = self.connections.pop(address, None)
        if connection is not None:
            connection.close()

    async def aclose(self) -> None:
        self._closed = True
        connections = list(self.connections.values())
        self.connections.clear()
        for connection in connections:
            connection.close()
        for connection in connections:
            try:
                async with asyncio.timeout(1.0):
                    await connection.closed
            except TimeoutError:
                log.warning("connection %s did not close in time", connection.peer_address)
        if self._dispatcher is not None:
            await self._dispatcher.aclose()


class RemotingClient(ConnectionPool[RemotingConnection]):
    """Connections of the broker, NameServer and DLedger sides (RemotingConnection)."""

    def _new_connection(self) -> RemotingConnection:
        return RemotingConnection(self._dispatcher, max_frame_size=self._max_frame_size)
