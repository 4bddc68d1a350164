"""Serve an ASGI application from inside a running asyncio loop (the broker's metrics
exporter, the web console).

uvicorn normally owns its process: it installs SIGINT/SIGTERM handlers and exits the
process when it cannot bind. Here the process belongs to a broker or a console, so the
server runs as one task of the current loop, leaves signals to its owner, binds its own
socket (a bind failure is a typed error naming host:port, not `sys.exit`) and stops on
`aclose()`. Access lines are not logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any, Literal

import uvicorn

from orbitmq.errors import OrbitMQError

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 5
_BACKLOG = 128


class HttpServeError(OrbitMQError):
    """An HTTP server did not start (its address cannot be bound, or the application's
    startup failed). The message names the server and host:port."""

    def __init__(self, name: str, host: str, port: int, reason: str) -> None:
        super().__init__(f"{name}: cannot serve HTTP on {host}:{port}: {reason}")
        self.name = name
        self.host = host
        self.port = port


class _Server(uvicorn.Server):
    """uvicorn's server without signal handling, telling when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the owning process handles SIGTERM and SIGINT

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


class AsgiServer:
    """A running server; made by `serve_asgi`."""

    def __init__(self, server: _Server, task: asyncio.Task[None], sock: socket.socket) -> None:
        self._server = server
        self._task = task
        self._address = sock.getsockname()

    @property
    def host(self) -> str:
        return str(self._address[0])

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return int(self._address[1])

    async def aclose(self) -> None:
        """Stop accepting, let open requests finish (at most GRACEFUL_SHUTDOWN_SECONDS),
        and wait for the server task to end."""
        self._server.should_exit = True
        await asyncio.wait({self._task})
        if not self._task.cancelled() and self._task.exception() is not None:
            log.error("HTTP server stopped with an error", exc_info=self._task.exception())


async def serve_asgi(
    app: Any,
    host: str,
    port: int,
    *,
    name: str,
    lifespan: Literal["auto", "on", "off"] = "auto",
    root_path: str = "",
) -> AsgiServer:
    """Start serving `app` on host:port in the current loop; return once listening.

    Args:
        app: an ASGI application.
        host: address to bind ("0.0.0.0" for every IPv4 address).
        port: TCP port; 0 picks a free one (see `AsgiServer.port`).
        name: what the server is, for its task, log lines and errors ("metrics exporter").
        lifespan: uvicorn's lifespan mode; "off" for apps that serve HTTP only.
        root_path: the path prefix a reverse proxy serves the app under (and strips).

    Raises:
        HttpServeError: the address cannot be bound or the app's startup failed.
    """
    sock = _bind(name, host, port)
    config = uvicorn.Config(
        app,
        lifespan=lifespan,
        root_path=root_path,
        log_config=None,  # the process has its logging set up already
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = _Server(config)
    task = asyncio.create_task(_serve(server, sock), name=f"{name.replace(' ', '_')}_service")
    listening = asyncio.create_task(server.listening.wait())
    await asyncio.wait({task, listening}, return_when=asyncio.FIRST_COMPLETED)
    if not server.listening.is_set():
        listening.cancel()
        sock.close()
        exc = task.exception() if not task.cancelled() else None
        raise HttpServeError(name, host, port, str(exc) or "startup failed") from exc
    running = AsgiServer(server, task, sock)
    log.info("%s serving HTTP on %s:%d", name, host, running.port)
    return running


async def _serve(server: _Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn's answer to a failed lifespan startup
        raise RuntimeError(f"application startup failed (exit {exc.code})") from None


def _bind(name: str, host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise HttpServeError(name, host, port, str(exc)) from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise HttpServeError(name, host, port, exc.strerror or str(exc)) from exc
    return sock
