"""The client's connection: frames in any chunking, opaque matching, timeouts by sweep,
closes, and requests pushed by a server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orbitmq.client.transport import SWEEP_INTERVAL, ClientConnection
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import FLAG_RESPONSE, RemotingCommand
from orbitmq.protocol.frame import FrameDecoder, encode_frame
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.errors import (
    ConnectionBrokenError,
    ConnectionClosedError,
    RequestTimeoutError,
)


class FakeTransport:
    """What ClientConnection uses of an asyncio transport; `close` reports the loss."""

    def __init__(self, protocol: ClientConnection) -> None:
        self.protocol = protocol
        self.written = bytearray()
        self.closing = False
        self.aborted = False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 10911) if name == "peername" else None

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def sent(self) -> list[RemotingCommand]:
        decoder = FrameDecoder()
        decoder.feed(bytes(self.written))
        self.written.clear()
        commands = []
        while (command := decoder.next_frame()) is not None:
            commands.append(command)
        return commands


def connect(dispatcher: RequestDispatcher | None = None) -> tuple[ClientConnection, FakeTransport]:
    connection = ClientConnection(asyncio.get_running_loop(), dispatcher)
    transport = FakeTransport(connection)
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport


def answer(request: RemotingCommand, offset: int) -> bytes:
    response = request.response(ext_fields={"queueOffset": str(offset)}, body=b"x" * offset)
    return encode_frame(response)


async def test_responses_in_any_chunking_resolve_their_requests() -> None:
    connection, transport = connect()
    for size in (1, 3, 7, 64, 1000):
        pending = [
            connection.invoke(RemotingCommand.request(RequestCode.SEND_MESSAGE_V2), 5.0)
            for _ in range(5)
        ]
        await asyncio.sleep(0)  # the queued frames go out in one write
        requests = transport.sent()
        assert len({r.opaque for r in requests}) == 5
        # Answered in reverse order, cut into pieces of `size` bytes.
        stream = b"".join(answer(r, i) for i, r in reversed(list(enumerate(requests))))
        for start in range(0, len(stream), size):
            connection.data_received(stream[start : start + size])
        results = await asyncio.gather(*pending)
        assert [r.ext_fields["queueOffset"] for r in results] == ["0", "1", "2", "3", "4"]
        assert [len(r.body) for r in results] == [0, 1, 2, 3, 4]
        assert all(r.flag & FLAG_RESPONSE for r in results)
    assert not connection._pending


async def test_an_unanswered_request_times_out_by_the_sweep() -> None:
    connection, _ = connect()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RequestTimeoutError, match="request code 310"):
        await connection.invoke(RemotingCommand.request(RequestCode.SEND_MESSAGE_V2), 0.05)
    assert 0.05 <= loop.time() - started <= 0.05 + 3 * SWEEP_INTERVAL
    assert not connection._pending


async def test_pending_requests_fail_when_the_connection_goes() -> None:
    connection, transport = connect()
    lost = connection.invoke(RemotingCommand.request(RequestCode.HEART_BEAT), 5.0)
    connection.connection_lost(ConnectionResetError())
    with pytest.raises(ConnectionBrokenError):
        await lost
    assert connection.closed.done()
    with pytest.raises(ConnectionClosedError):
        connection.invoke(RemotingCommand.request(RequestCode.HEART_BEAT), 5.0)

    ours, transport = connect()
    closed = ours.invoke(RemotingCommand.request(RequestCode.HEART_BEAT), 5.0)
    ours.close()
    with pytest.raises(ConnectionClosedError):
        await closed
    assert transport.sent()[0].code == RequestCode.HEART_BEAT  # flushed before closing


async def test_a_pushed_request_reaches_the_dispatcher_and_is_answered() -> None:
    dispatcher = RequestDispatcher("test")
    seen: list[RemotingCommand] = []

    def on_running_info(connection: Any, request: RemotingCommand) -> RemotingCommand:
        seen.append(request)
        return request.response(body=b"info")

    dispatcher.register(RequestCode.GET_CONSUMER_RUNNING_INFO, on_running_info)
    connection, transport = connect(dispatcher)
    request = RemotingCommand(RequestCode.GET_CONSUMER_RUNNING_INFO, opaque=42, language="JAVA")
    connection.data_received(encode_frame(request))
    await asyncio.sleep(0)
    (response,) = transport.sent()
    assert seen and seen[0].opaque == 42
    assert (response.opaque, response.code, response.body) == (42, ResponseCode.SUCCESS, b"info")


async def test_a_bad_frame_aborts_the_connection() -> None:
    connection, transport = connect()
    pending = connection.invoke(RemotingCommand.request(RequestCode.HEART_BEAT), 5.0)
    connection.data_received(b"\x00\x00\x00\x02\x00\x00\x00\x00")  # length 2 < 4
    assert transport.aborted
    with pytest.raises(ConnectionBrokenError):
        await pending
