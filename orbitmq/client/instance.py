"""ClientInstance: what every producer, consumer and admin client shares (MQClientInstance).

It owns the client id, one ClientTransport (one connection per address, requests
pipelined on it), the route cache, and the background services:
  _route_refresh_loop  every 30 s: refresh the routes of the owner's topics
  _heartbeat_loop      every 30 s: HEART_BEAT to the brokers (masters only for producers),
                       and at once when a refresh reveals a new broker address
Services are tasks with a period; a failing round is logged and the loop goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from orbitmq.acl.signature import SessionCredentials
from orbitmq.client.errors import MQClientError, error_for_code
from orbitmq.client.heartbeat import make_client_id
from orbitmq.client.route_cache import RouteCache
from orbitmq.client.transport import ClientTransport
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.errors import RemotingError
from orbitmq.remoting.tls import TlsConfig, client_tls

log = logging.getLogger(__name__)

ROUTE_REFRESH_INTERVAL = 30.0
HEARTBEAT_INTERVAL = 30.0


class ClientInstance:
    """Shared plumbing of one client object. Not part of the public API."""

    def __init__(
        self,
        namesrv_addr: str,
        *,
        instance_name: str | None = None,
        dispatcher: RequestDispatcher | None = None,
        credentials: SessionCredentials | None = None,
        tls: bool | TlsConfig = False,
    ) -> None:
        self.client_id = make_client_id(instance_name)
        self.dispatcher = dispatcher
        self.transport = ClientTransport(dispatcher, tls=client_tls(tls))
        self.transport.credentials = credentials  # signs every request (ACL)
        self.routes = RouteCache(self.transport, namesrv_addr)
        self.heartbeat_body: Callable[[], bytes] | None = None
        self.heartbeat_masters_only = True
        self.topics: Callable[[], Iterable[str]] = lambda: ()
        self.on_routes_refreshed: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._known_addrs: set[str] = set()
        self._greeting: asyncio.Task[Any] | None = None
        self.closed = False
        self.routes.on_brokers_changed = self._greet_new_brokers

    # Background work ---------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` as a tracked task, cancelled by `aclose()`."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("client task %s failed", task.get_name(), exc_info=task.exception())

    def run_every(
        self,
        name: str,
        period: float,
        fn: Callable[[], Awaitable[None]],
        first_delay: float = 0.0,
    ) -> asyncio.Task[Any]:
        """Call `fn` every `period` seconds until closed; errors are logged, not fatal."""

        async def loop() -> None:
            await asyncio.sleep(first_delay)
            while True:
                try:
                    await fn()
                except Exception:
                    log.exception("%s: round failed", name)
                await asyncio.sleep(period)

        return self.spawn(loop(), name)

    def start_services(self) -> None:
        """Start route refresh and heartbeats (after the owner set its hooks)."""
        self.run_every("_route_refresh_loop", ROUTE_REFRESH_INTERVAL, self.refresh_routes, 0.01)
        if self.heartbeat_body is not None:
            self.run_every(
                "_heartbeat_loop", HEARTBEAT_INTERVAL, self.send_heartbeat, HEARTBEAT_INTERVAL
            )

    async def refresh_routes(self) -> None:
        """Refresh every topic the owner uses, and greet brokers seen for the first time."""
        topics = set(self.topics()) | set(self.routes.routes) | set(self.routes.publish_topics)
        for topic in sorted(topics):
            try:
                await self.routes.refresh(topic)
            except (RemotingError, MQClientError) as exc:
                log.warning("route refresh of %s failed: %s", topic, exc)
            except Exception as exc:
                log.warning("route refresh of %s failed: %r", topic, exc)
        if self.on_routes_refreshed is not None:
            self.on_routes_refreshed()

    def _greet_new_brokers(self) -> None:
        """A route revealed brokers never sent a heartbeat: send one soon, in the background."""
        if self.heartbeat_body is None or self.closed:
            return
        if not self.routes.all_broker_addrs(self.heartbeat_masters_only) - self._known_addrs:
            return
        if self._greeting is None or self._greeting.done():
            self._greeting = self.spawn(self.send_heartbeat(), "_greet_new_brokers")

    async def send_heartbeat(self) -> None:
        """HEART_BEAT to every known broker (masters only if configured); errors are logged."""
        if self.heartbeat_body is None:
            return
        body = self.heartbeat_body()
        addrs = self.routes.all_broker_addrs(self.heartbeat_masters_only)
        self._known_addrs = set(addrs)
        results = await asyncio.gather(
            *(self._heartbeat_one(addr, body) for addr in sorted(addrs)), return_exceptions=True
        )
        for addr, result in zip(sorted(addrs), results, strict=True):
            if isinstance(result, BaseException):
                log.warning("heartbeat to %s failed: %s", addr, result)

    async def _heartbeat_one(self, addr: str, body: bytes) -> None:
        await self.invoke_checked(addr, RemotingCommand.request(RequestCode.HEART_BEAT, {}, body))

    # Requests ----------------------------------------------------------------------------
    async def invoke(
        self, addr: str, command: RemotingCommand, timeout: float = 3.0
    ) -> RemotingCommand:
        """Send a request and return the response, whatever its code."""
        transport = self.transport
        connection = transport.ready_connection(addr) or await transport.get_connection(addr)
        return await connection.invoke(command, timeout)

    async def invoke_checked(
        self, addr: str, command: RemotingCommand, timeout: float = 3.0
    ) -> RemotingCommand:
        """Send a request; raise the typed MQBrokerError unless it answers SUCCESS."""
        response = await self.invoke(addr, command, timeout)
        if response.code != ResponseCode.SUCCESS:
            raise error_for_code(response.code, response.remark)
        return response

    async def invoke_oneway(self, addr: str, command: RemotingCommand) -> None:
        await self.transport.invoke_oneway(addr, command)

    async def unregister(
        self, producer_group: str | None = None, consumer_group: str | None = None
    ) -> None:
        """UNREGISTER_CLIENT (35) to every known broker; failures are logged."""
        ext = {"clientID": self.client_id}
        if producer_group is not None:
            ext["producerGroup"] = producer_group
        if consumer_group is not None:
            ext["consumerGroup"] = consumer_group
        addrs = sorted(self.routes.all_broker_addrs(self.heartbeat_masters_only))

        async def one(addr: str) -> None:
            command = RemotingCommand.request(RequestCode.UNREGISTER_CLIENT, dict(ext))
            await self.invoke_checked(addr, command, 3.0)

        results = await asyncio.gather(*(one(a) for a in addrs), return_exceptions=True)
        for addr, result in zip(addrs, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("unregister from %s failed: %s", addr, result)

    async def aclose(self) -> None:
        """Cancel the services and close every connection."""
        self.closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.transport.aclose()
