"""The gRPC server of the proxy: MessagingService on `grpcServerPort`."""

from __future__ import annotations

import logging

import grpc

from orbitmq.proxy.apis import service_pb2_grpc as sgrpc
from orbitmq.proxy.backend import BrokerBackend
from orbitmq.proxy.config import ProxyConfig
from orbitmq.proxy.messaging import MessagingService

log = logging.getLogger(__name__)


class ProxyStartError(RuntimeError):
    """The gRPC port could not be bound."""


class ProxyServer:
    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.backend = BrokerBackend(config.namesrv_addr)
        self.service = MessagingService(config, self.backend)
        self._server: grpc.aio.Server | None = None
        self.port = config.grpc_server_port

    async def start(self) -> None:
        """Raises:
        ProxyStartError: the port is taken or cannot be bound.
        """
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
        try:
            self.port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ProxyStartError(f"grpcServerPort: cannot listen on {address}: {exc}") from exc
        if self.port == 0:
            raise ProxyStartError(f"grpcServerPort: cannot listen on {address}")
        await server.start()
        self._server = server
        log.info(
            "gRPC proxy (RocketMQ 5 clients) listening on %s:%d, NameServer %s",
            self.config.bind_address, self.port, self.config.namesrv_addr,
        )  # fmt: skip

    async def aclose(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=1.0)
            self._server = None
        await self.service.aclose()
        await self.backend.aclose()
