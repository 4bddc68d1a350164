"""serverChannelMaxIdleTimeSeconds on a real broker: a connection that said one thing and
then nothing is closed after the idle time and logged once, while a producer sending
all along keeps its connection and never fails a send."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from orbitmq.client import Message, Producer
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.frame import encode_frame
from tests.integration.conftest import make_cluster

pytestmark = pytest.mark.slow

IDLE_SECONDS = 2


async def test_idle_connections_are_closed(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, serverChannelMaxIdleTimeSeconds=IDLE_SECONDS)
    host, port = cluster.broker_addr.split(":")
    try:
        async with Producer("PG_IDLE", cluster.namesrv_addr) as producer:
            await producer.send(Message("IdleTopic", b"first"))
            quiet = []
            for _ in range(3):
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(encode_frame(RemotingCommand.request(9999, oneway=True)))
                quiet.append((reader, writer))
            started = time.monotonic()
            sends = 0
            while time.monotonic() - started < IDLE_SECONDS + 3:
                await producer.send(Message("IdleTopic", b"busy"))  # raises if it fails
                sends += 1
                await asyncio.sleep(0.1)
            for reader, writer in quiet:
                assert await asyncio.wait_for(reader.read(1), 1) == b"", "not closed"
                writer.close()
        closing = [line for line in cluster.broker.output if "idle connection closed" in line]
        assert len(closing) == 1, cluster.broker.tail()
        assert "nothing read for 2 s (serverChannelMaxIdleTimeSeconds)" in closing[0]
        assert sends > 20
    finally:
        cluster.stop()
