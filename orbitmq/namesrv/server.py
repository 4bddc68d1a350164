"""The NameServer process core (namesrv/NamesrvController.java): wires the route table,
the KV store and the handlers to a RemotingServer, and runs the broker expiry scan.

    controller = NamesrvController(load_namesrv_config("namesrv.properties"))
    await controller.start()      # returns once listening; controller.port is the real port
    ...
    await controller.aclose()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType

from orbitmq.acl.errors import AclConfigError
from orbitmq.acl.store import AclStore, resolve_acl_path
from orbitmq.config_file import ConfigError
from orbitmq.namesrv.config import NamesrvConfig
from orbitmq.namesrv.handlers import CONNECTION_KEY_ATTRIBUTE, NamesrvHandlers, now_ms
from orbitmq.namesrv.kv_config import KvConfigManager
from orbitmq.namesrv.route_table import RouteTable
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.limits import limits_from
from orbitmq.remoting.server import RemotingServer
from orbitmq.remoting.tls import ServerTls

log = logging.getLogger(__name__)


class NamesrvController:
    """Args:
    config: the NameServer settings; `listen_port=0` binds a free port (see `port`).
    clock: wall-clock milliseconds for broker liveness; injectable for tests.
    """

    def __init__(
        self, config: NamesrvConfig | None = None, *, clock: Callable[[], int] = now_ms
    ) -> None:
        self.config = config if config is not None else NamesrvConfig()
        self._clock = clock
        self.route_table = RouteTable(self.config.broker_channel_expired_ms)
        self.kv_config = KvConfigManager(self.config.kv_config_file)
        self.dispatcher = RequestDispatcher("namesrv")
        self.handlers = NamesrvHandlers(self.route_table, self.kv_config, self.config, clock=clock)
        self.handlers.register(self.dispatcher)
        self.acl: AclStore | None = None
        if self.config.acl_enable:
            self.acl = AclStore(resolve_acl_path(self.config.acl_plain_file))
            self.dispatcher.validator = self.acl.validator(namesrv=True)
        self._acl_task: asyncio.Task[None] | None = None
        self._server: RemotingServer | None = None
        self._expiry_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load the KV store, listen, start the expiry scan; return once listening.

        Raises:
            ConfigError: the KV file is corrupt, or aclEnable=true with a bad plain_acl.yml.
            OSError: the port cannot be bound.
        """
        self.kv_config.load()
        if self.acl is not None:
            try:
                self.acl.load()
            except AclConfigError as exc:
                raise ConfigError(f"aclEnable=true: {exc}") from None
        server = RemotingServer(
            self.dispatcher,
            self.config.host,
            [self.config.listen_port],
            limits=limits_from(self.config),
            tls=ServerTls.from_config(self.config.tls),
        )
        server.add_close_listener(self._on_connection_closed)
        await server.start()
        self._server = server
        self._expiry_task = asyncio.create_task(
            self.expire_inactive_service(), name="expire_inactive_service"
        )
        if self.acl is not None:
            self._acl_task = asyncio.create_task(
                self.acl.reload_service(), name="acl_reload_service"
            )
        log.info("NameServer listening on %s:%d", self.config.host, self.port)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.bound_ports:
            raise RuntimeError("NameServer is not listening")
        return self._server.bound_ports[0]

    async def expire_inactive_service(self) -> None:
        """RouteInfoManager.scanNotActiveBroker every 10 s, first after 5 s."""
        await asyncio.sleep(self.config.scan_initial_delay_ms / 1000)
        while True:
            self.scan_not_active_broker()
            await asyncio.sleep(self.config.scan_not_active_broker_interval_ms / 1000)

    def scan_not_active_broker(self) -> list[str]:
        try:
            removed = self.route_table.expire_inactive(self._clock())
        except Exception:
            # A bug in one scan must not end expiry for the life of the process.
            log.exception("broker expiry scan failed")
            return []
        for addr in removed:
            log.warning(
                "broker %s expired: no registration for %d ms",
                addr,
                self.route_table.broker_expired_ms,
            )
        return removed

    def _on_connection_closed(self, connection: RemotingConnection) -> None:
        key = connection.attributes.get(CONNECTION_KEY_ATTRIBUTE)
        if key is None:
            return  # a client, not a broker: nothing registered over it
        for addr in self.route_table.on_connection_closed(key):
            log.info("broker %s removed: its connection %s closed", addr, connection.peer_address)

    async def aclose(self) -> None:
        if self._acl_task is not None:
            self._acl_task.cancel()
            await asyncio.gather(self._acl_task, return_exceptions=True)
            self._acl_task = None
        task, self._expiry_task = self._expiry_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise  # we are being cancelled ourselves, not just the scan
        server, self._server = self._server, None
        if server is not None:
            await server.aclose()

    async def __aenter__(self) -> NamesrvController:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
