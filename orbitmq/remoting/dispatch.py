"""Maps request codes to handlers and turns typed errors into RocketMQ responses.

A handler is `def` or `async def (connection, request) -> RemotingCommand | None`.
Synchronous handlers answer without a task switch (the hot path); coroutines run as tasks.
With an `rpc_recorder`, the latency of every answer given here (from dispatch to answer)
is recorded; a handler that returns None and answers later records its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from time import perf_counter
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


# (request code, response code, long polling, oneway, seconds from read to answer):
# the broker passes BrokerMetrics.rpc.record (orbitmq/broker/metrics/counters.py).
RpcRecorder = Callable[[int, int, bool, bool, float], object]

# Checks a request before its handler runs (the ACL, orbitmq/acl/store.py); raises a typed
# error to refuse it. Like RocketMQ's RPCHook.doBeforeRequest.
Validator = Callable[["RemotingConnection", RemotingCommand], None]


_PULL_MESSAGE = int(RequestCode.PULL_MESSAGE)


class RequestDispatcher:
    def __init__(self, name: str = "server") -> None:
        # Set before connections are made: they read their frames through it.
        self.lane: FrameLane | None = None
        self.rpc_recorder: RpcRecorder | None = None
        # None unless ACL is on: then one attribute test per request is all it costs.
        self.validator: Validator | None = None
        self._handlers: dict[int, Handler] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._name = name

    def register(self, code: int, handler: Handler) -> None:
        self._handlers[code] = handler

    def handles(self, code: int) -> bool:
        return code in self._handlers

    def dispatch(self, connection: RemotingConnection, request: RemotingCommand) -> None:
        started = perf_counter() if self.rpc_recorder is not None else 0.0
        handler = self._handlers.get(request.code)
        if handler is None:
            response = request.response(
                ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
                f" request type {request.code} not supported",
            )
            self._answer(connection, request, response, started, False)
            return
        validator = self.validator
        if validator is not None:
            try:
                validator(connection, request)
            except Exception as exc:
                self._answer_error(connection, request, exc, started, False)
                return
        try:
            result = handler(connection, request)
        except Exception as exc:
            self._answer_error(connection, request, exc, started, False)
            return
        if isinstance(result, RemotingCommand) or result is None:
            self._answer(connection, request, result, started, False)
            return
        task = asyncio.ensure_future(self._finish(connection, request, result, started))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish(
        self,
        connection: RemotingConnection,
        request: RemotingCommand,
        pending: Awaitable[RemotingCommand | None],
        started: float,
    ) -> None:
        # A pull handler returns an awaitable only to hold the pull (long polling).
        long_polling = request.code == _PULL_MESSAGE
        try:
            response = await pending
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._answer_error(connection, request, exc, started, long_polling)
            return
        self._answer(connection, request, response, started, long_polling)

    def _answer(
        self,
        connection: RemotingConnection,
        request: RemotingCommand,
        response: RemotingCommand | None,
        started: float,
        long_polling: bool,
    ) -> None:
        if response is None:
            return
        oneway = request.is_oneway
        if not oneway:
            connection.send(response)
        recorder = self.rpc_recorder
        if recorder is not None:
            recorder(request.code, response.code, long_polling, oneway, perf_counter() - started)

    def _answer_error(
        self,
        connection: RemotingConnection,
        request: RemotingCommand,
        exc: Exception,
        started: float,
        long_polling: bool,
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
        self._answer(connection, request, error_response(request, exc), started, long_polling)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
