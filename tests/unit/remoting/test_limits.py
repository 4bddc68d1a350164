"""A remoting server's limits (orbitmq/remoting/limits.py) over real loopback sockets."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from dataclasses import dataclass

import pytest

from orbitmq.broker.long_polling import ConnectionHolds
from orbitmq.protocol.codes import ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.frame import FrameDecoder, encode_frame
from orbitmq.remoting.connection import CloseReason
from orbitmq.remoting.limits import RefusalLog
from orbitmq.remoting.server import RemotingServer

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(server: RemotingServer, count: int) -> list[Streams]:
    return [await asyncio.open_connection("127.0.0.1", server.bound_ports[0]) for _ in range(count)]


async def is_closed(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 2) == b""
    except ConnectionResetError:
        return True


async def wait_until(predicate, timeout: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def close_all(streams: list[Streams]) -> None:
    for _, writer in streams:
        writer.close()


async def test_connections_over_the_address_cap_are_closed_and_logged_once(
    make_server, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server(max_connections_per_address=2)
    streams = await connect(server, 5)
    try:
        for reader, _ in streams[2:]:
            assert await is_closed(reader)
        await wait_until(lambda: len(server.connections) == 2)
        assert caplog.text.count("connection refused from 127.0.0.1") == 1
    finally:
        close_all(streams)
    await wait_until(lambda: not server.connections)
    again = await connect(server, 2)  # the closed ones no longer count
    await wait_until(lambda: len(server.connections) == 2)
    close_all(again)


async def test_connections_over_the_server_cap_are_closed(make_server) -> None:
    server = await make_server(max_connections=3)
    streams = await connect(server, 4)
    try:
        assert await is_closed(streams[3][0])
        await wait_until(lambda: len(server.connections) == 3)
    finally:
        close_all(streams)


async def test_a_frame_not_complete_in_time_is_cut(make_server) -> None:
    server = await make_server(frame_timeout_seconds=30)
    streams = await connect(server, 2)
    reader, writer = streams[0]
    writer.write(struct.pack(">ii", 1000, 10) + b"x" * 100)
    await wait_until(lambda: any(c.frame_started for c in server.connections))
    server.enforce_time_limits(time.monotonic() + 31)
    assert await is_closed(reader)
    (connection,) = server.connections  # the one without a partial frame stays
    assert connection.close_reason is None
    close_all(streams)


async def test_whole_frames_in_a_stream_do_not_age_the_next_partial_one(make_server) -> None:
    server = await make_server(frame_timeout_seconds=30)
    ((_, writer),) = await connect(server, 1)
    frame = encode_frame(RemotingCommand.request(9999))
    writer.write(frame + frame[:5])
    await wait_until(lambda: any(c.frame_started for c in server.connections))
    (connection,) = server.connections
    first = connection.frame_started
    await asyncio.sleep(0.05)
    writer.write(frame[5:] + frame[:5])
    await wait_until(lambda: connection.frame_started > first)
    writer.close()


async def test_idle_connections_are_closed(make_server) -> None:
    server = await make_server(idle_seconds=60)
    ((reader, writer),) = await connect(server, 1)
    await wait_until(lambda: len(server.connections) == 1)
    (connection,) = server.connections
    server.enforce_time_limits(time.monotonic() + 61)
    assert await is_closed(reader)
    assert connection.close_reason is CloseReason.IDLE
    writer.close()


async def test_a_peer_that_stops_reading_pauses_reading_and_is_cut(make_server) -> None:
    server = await make_server(
        write_buffer_high_water_mark=64 * 1024,
        write_buffer_low_water_mark=16 * 1024,
        write_blocked_timeout_seconds=30,
    )
    ((_, writer),) = await connect(server, 1)
    # Unknown codes are answered; the answers pile up, as nothing reads them.
    writer.write(encode_frame(RemotingCommand.request(9999)) * 50_000)
    await wait_until(lambda: any(c.write_blocked_since for c in server.connections), 10)
    (connection,) = server.connections
    assert connection.write_buffer_size() < 8 * 1024 * 1024  # reading paused: bounded
    server.enforce_time_limits(time.monotonic() + 31)
    await wait_until(lambda: not server.connections)
    assert connection.close_reason is CloseReason.WRITE_BLOCKED
    writer.close()


async def test_answers_flow_again_once_the_peer_reads(make_server) -> None:
    server = await make_server(
        write_buffer_high_water_mark=64 * 1024, write_buffer_low_water_mark=16 * 1024
    )
    ((reader, writer),) = await connect(server, 1)
    count = 50_000
    writer.write(encode_frame(RemotingCommand.request(9999)) * count)
    await wait_until(lambda: any(c.write_blocked_since for c in server.connections), 10)
    decoder = FrameDecoder()
    answered = 0
    while answered < count:
        decoder.feed(await asyncio.wait_for(reader.read(1 << 20), 5))
        while (command := decoder.next_frame()) is not None:
            assert command.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
            answered += 1
    writer.close()


def test_refusal_log_says_once_per_address_and_window(caplog: pytest.LogCaptureFixture) -> None:
    refusals = RefusalLog("test", window_seconds=60)
    with caplog.at_level(logging.INFO):
        for i in range(100):
            refusals.refused("kind", "10.0.0.1", 1000.0 + i * 0.1, "detail")
        refusals.refused("kind", "10.0.0.2", 1000.0, "detail")
        refusals.refused("kind", "10.0.0.1", 1061.0, "detail")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "99 more since the last report" in lines[2]


@dataclass(frozen=True)
class _Holder:
    peer_host: str


def test_connection_holds_are_capped_per_connection() -> None:
    holds = ConnectionHolds(2, "pull", "maxPullHoldsPerConnection")
    a, b = _Holder("10.0.0.1"), _Holder("10.0.0.2")
    assert holds.try_hold(a) and holds.try_hold(a)
    assert not holds.try_hold(a)
    assert holds.try_hold(b)
    holds.release(a)
    assert holds.try_hold(a)
    for _ in range(2):
        holds.release(a)
    assert holds.held_by(a) == 0
