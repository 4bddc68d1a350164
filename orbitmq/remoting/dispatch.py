"""Maps request codes to handlers and turns typed errors into RocketMQ responses.

A handler is `def` or `async def (connection, request) -> RemotingCommand | None`.
Synchronous handlers answer without a task switch (the hot path); coroutines run as tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from orbitmq.errors import OrbitMQError
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand

if TYPE_CHECKING:
    from orbitmq.remoting.connection import RemotingConnection

log = logging.getLogger(__name__)

HandlerResult = RemotingCommand | None | Awaitable[RemotingCommand | None]
Handler = Callable[["RemotingConnection", RemotingCommand], HandlerResult]


def error_response(request: RemotingCommand, exc: BaseException) -> RemotingCommand:
    if isinstance(exc, OrbitMQError):
        return request.response(exc.response_code, str(exc))
    return request.response(ResponseCode.SYSTEM_ERROR, f"{type(exc).__name__}: {exc}")


def _code_name(code: int) -> str:
    try:
        return RequestCode(code).name
    except ValueError:
        return str(code)


class FrameLane(Protocol):
    def receive(self, connection: RemotingConnection, frames: bytes) -> None:
        """Handle whole frames, back to back; `connection.deliver` those not taken."""
        ...


class RequestDispatcher:
    def __init__(self, name: str = "server") -> None:
        # Set before connections are made: they read their frames through it.
        self.lane: FrameLane | None = None
        self._handlers: dict[int, Handler] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._name = name

    def register(self, code: int, handler: Handler) -> None:
        self._handlers[code] = handler

    def handles(self, code: int) -> bool:
        return code in self._handlers

    def dispatch(self, connection: RemotingConnection, request: RemotingCommand) -> None:
        handler = self._handlers.get(request.code)
        if handler is None:
            if not request.is_oneway:
                connection.send(
                    request.response(
                        ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
                        f" request type {request.code} not supported",
                    )
                )
            return
        try:
            result = handler(connection, request)
        except Exception as exc:
            self._answer_error(connection, request, exc)
            return
        if isinstance(result, RemotingCommand) or result is None:
            self._answer(connection, request, result)
            return
        task = asyncio.ensure_future(self._finish(connection, request, result))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish(
        self,
        connection: RemotingConnection,
        request: RemotingCommand,
        pending: Awaitable[RemotingCommand | None],
    ) -> None:
        try:
            response = await pending
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._answer_error(connection, request, exc)
            return
        self._answer(connection, request, response)

    @staticmethod
    def _answer(
        connection: RemotingConnection, request: RemotingCommand, response: RemotingCommand | None
    ) -> None:
        if response is not None and not request.is_oneway:
            connection.send(response)

    def _answer_error(
        self, connection: RemotingConnection, request: RemotingCommand, exc: Exception
    ) -> None:
        if not isinstance(exc, OrbitMQError):
            log.error(
                "%s: %s (opaque %d) from %s failed",
                self._name,
                _code_name(request.code),
                request.opaque,
                connection.peer_address,
                exc_info=exc,
            )
        if not request.is_oneway:
            connection.send(error_response(request, exc))

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
