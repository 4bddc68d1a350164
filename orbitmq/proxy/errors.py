"""The proxy's typed errors: each carries the RocketMQ 5 `Code` its answer gets."""

from __future__ import annotations

from orbitmq.errors import OrbitMQError
from orbitmq.proxy.apis import definition_pb2 as pb


class ProxyError(OrbitMQError):
    """Answered in-band as `Status{code, message}`; the gRPC call itself stays OK."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def status(self) -> pb.Status:
        return pb.Status(code=self.code, message=str(self))  # type: ignore[arg-type]
