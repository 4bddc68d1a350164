"""`make_server`: remoting servers on a free loopback port, closed after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.limits import RemotingLimits
from orbitmq.remoting.server import RemotingServer
from orbitmq.remoting.tls import ServerTls, TlsConfig


@pytest.fixture
async def make_server() -> AsyncIterator[object]:
    servers: list[RemotingServer] = []

    async def make(tls: TlsConfig | None = None, **limits: object) -> RemotingServer:
        server = RemotingServer(
            RequestDispatcher("test"),
            "127.0.0.1",
            [0],
            limits=RemotingLimits(**limits),
            tls=ServerTls.from_config(tls) if tls is not None else None,
        )
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.aclose()
