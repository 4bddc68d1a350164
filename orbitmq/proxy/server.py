"""The gRPC server of the proxy: MessagingService on `grpcServerPort`."""

from __future__ import annotations

import asyncio
import logging

import grpc

from orbitmq.acl.errors import AclConfigError
from orbitmq.acl.signature import SessionCredentials
from orbitmq.acl.store import AclStore, resolve_acl_path
from orbitmq.config_file import ConfigError
from orbitmq.proxy.apis import service_pb2_grpc as sgrpc
from orbitmq.proxy.auth import GrpcAuthenticator
from orbitmq.proxy.backend import BrokerBackend
from orbitmq.proxy.config import ProxyConfig
from orbitmq.proxy.messaging import MessagingService
from orbitmq.remoting.tls import server_pem

log = logging.getLogger(__name__)


class ProxyStartError(RuntimeError):
    """The gRPC port could not be bound, or the ACL file cannot be used."""


class ProxyServer:
    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        credentials = (
            SessionCredentials(config.access_key, config.secret_key) if config.access_key else None
        )
        self.backend = BrokerBackend(config.namesrv_addr, credentials, config.tls)
        self.acl = AclStore(resolve_acl_path(config.acl_plain_file)) if config.acl_enable else None
        auth = GrpcAuthenticator(self.acl) if self.acl is not None else None
        self.service = MessagingService(config, self.backend, auth)
        self._server: grpc.aio.Server | None = None
        self._acl_reload: asyncio.Task[None] | None = None
        self.port = config.grpc_server_port
        self.tls_enabled = False

    async def start(self) -> None:
        """Raises:
        ProxyStartError: the port is taken or cannot be bound.
        """
        if self.acl is not None:
            try:
                self.acl.load()
            except AclConfigError as exc:
                raise ProxyStartError(f"aclEnable=true: {exc}") from None
            self._acl_reload = asyncio.ensure_future(self.acl.reload_service())
        size = self.config.grpc_max_inbound_message_size
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", size),
                ("grpc.max_send_message_length", size),
                # Telemetry streams stay open and idle: let clients keep them alive.
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
                ("grpc.so_reuseport", 0),
            ]
        )
        sgrpc.add_MessagingServiceServicer_to_server(self.service, server)
        address = f"{self.config.bind_address}:{self.config.grpc_server_port}"
        credentials = self._tls_credentials()
        self.tls_enabled = credentials is not None
        try:
            if credentials is None:
                self.port = server.add_insecure_port(address)
            else:
                self.port = server.add_secure_port(address, credentials)
        except RuntimeError as exc:
            raise ProxyStartError(f"grpcServerPort: cannot listen on {address}: {exc}") from exc
        if self.port == 0:
            raise ProxyStartError(f"grpcServerPort: cannot listen on {address}")
        await server.start()
        self._server = server
        log.info(
            "gRPC proxy (RocketMQ 5 clients) listening on %s:%d (%s), NameServer %s",
            self.config.bind_address, self.port, "TLS" if self.tls_enabled else "plain",
            self.config.namesrv_addr,
        )  # fmt: skip

    def _tls_credentials(self) -> grpc.ServerCredentials | None:
        """TLS only with tls.server.mode=enforcing: grpcio cannot tell plain from TLS on
        one port, so RocketMQ's permissive mode is served plain here.

        Raises:
            ProxyStartError: the TLS settings cannot be used.
        """
        tls = self.config.tls
        if tls.server_mode != "enforcing":
            return None
        try:
            cert, key, trust = server_pem(tls)
        except ConfigError as exc:
            raise ProxyStartError(f"gRPC TLS: {exc}") from exc
        return grpc.ssl_server_credentials(
            [(key, cert)],
            root_certificates=trust,
            require_client_auth=trust is not None and tls.server_need_client_auth == "require",
        )

    async def aclose(self) -> None:
        if self._acl_reload is not None:
            self._acl_reload.cancel()
            await asyncio.gather(self._acl_reload, return_exceptions=True)
        if self._server is not None:
            await self._server.stop(grace=1.0)
            self._server = None
        await self.service.aclose()
        await self.backend.aclose()
