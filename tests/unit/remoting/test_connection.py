"""The asyncio transports over real loopback sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from orbitmq.protocol.codes import ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.errors import ConnectionBrokenError, RequestTimeoutError
from orbitmq.remoting.server import RemotingServer

ECHO, SILENT, SLOW = 1000, 1001, 1002


@pytest.fixture
async def server() -> AsyncIterator[tuple[RemotingServer, list[RemotingCommand]]]:
    seen: list[RemotingCommand] = []
    dispatcher = RequestDispatcher("test")

    def echo(connection: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        seen.append(request)
        return request.response(ext_fields={"echo": request.ext_fields.get("x", "")})

    def silent(connection: RemotingConnection, request: RemotingCommand) -> None:
        seen.append(request)

    async def slow(connection: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        await asyncio.sleep(0.2)
        return request.response()

    dispatcher.register(ECHO, echo)
    dispatcher.register(SILENT, silent)
    dispatcher.register(SLOW, slow)
    running = RemotingServer(dispatcher, "127.0.0.1", [0])
    await running.start()
    try:
        yield running, seen
    finally:
        await running.aclose()


def address(server: RemotingServer) -> str:
    return f"127.0.0.1:{server.bound_ports[0]}"


async def test_concurrent_requests_are_matched_by_opaque(server) -> None:  # type: ignore[no-untyped-def]
    running, _ = server
    client = RemotingClient()
    try:
        requests = [RemotingCommand.request(ECHO, {"x": str(i)}) for i in range(200)]
        slow = asyncio.ensure_future(
            client.invoke(address(running), RemotingCommand.request(SLOW), 5)
        )
        responses = await asyncio.gather(*(client.invoke(address(running), r, 5) for r in requests))
        assert [r.ext_fields["echo"] for r in responses] == [str(i) for i in range(200)]
        assert (await slow).code == ResponseCode.SUCCESS
    finally:
        await client.aclose()


async def test_timeout_raises_quickly_and_forgets_the_request(server) -> None:  # type: ignore[no-untyped-def]
    running, seen = server
    client = RemotingClient()
    try:
        connection = await client.get_connection(address(running))
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError, match=r"timed out after 0\.1s"):
            await connection.invoke(RemotingCommand.request(SILENT), 0.1)
        assert time.monotonic() - started < 1.0
        assert not connection._pending
        # The connection stays usable after a timeout.
        reply = await connection.invoke(RemotingCommand.request(ECHO, {"x": "after"}), 5)
        assert reply.ext_fields["echo"] == "after"
        assert len(seen) == 2
    finally:
        await client.aclose()


async def test_cancelled_invoke_leaves_nothing_pending(server) -> None:  # type: ignore[no-untyped-def]
    running, _ = server
    client = RemotingClient()
    try:
        connection = await client.get_connection(address(running))
        task = asyncio.ensure_future(connection.invoke(RemotingCommand.request(SILENT), 30))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not connection._pending
    finally:
        await client.aclose()


async def test_server_going_away_fails_pending_requests_as_broken(server) -> None:  # type: ignore[no-untyped-def]
    running, _ = server
    client = RemotingClient()
    try:
        pending = asyncio.ensure_future(
            client.invoke(address(running), RemotingCommand.request(SILENT), 30)
        )
        await asyncio.sleep(0.05)
        await running.aclose()
        with pytest.raises(ConnectionBrokenError):
            await asyncio.wait_for(pending, 5)
    finally:
        await client.aclose()


async def test_unknown_code_and_oneway(server) -> None:  # type: ignore[no-untyped-def]
    running, seen = server
    client = RemotingClient()
    try:
        reply = await client.invoke(address(running), RemotingCommand.request(4242), 5)
        assert reply.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
        await client.invoke_oneway(address(running), RemotingCommand.request(ECHO, {"x": "1"}))
        # A one-way request is handled but never answered; a later request still matches.
        reply = await client.invoke(address(running), RemotingCommand.request(ECHO, {"x": "2"}), 5)
        assert reply.ext_fields["echo"] == "2"
        assert [r.ext_fields["x"] for r in seen] == ["1", "2"]
    finally:
        await client.aclose()
