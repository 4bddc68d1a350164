"""OrbitMQ's exception tree.

    OrbitMQError
      ProtocolError                 bytes on the wire are wrong
        LocalProtocolError          our own code misused the codec
        RemoteProtocolError         the peer sent something undecodable
          FrameTooLargeError
      StoreError                    orbitmq.store.errors
      BrokerError                   orbitmq.broker.errors
      ClientError                   orbitmq.client.errors

Each error carries the RocketMQ `response_code` a server should answer with, so handlers
raise typed errors and only the dispatch edge turns them into responses.
"""

from orbitmq.protocol.codes import ResponseCode


class OrbitMQError(Exception):
    """Root of every error OrbitMQ raises on purpose."""

    response_code: int = ResponseCode.SYSTEM_ERROR
    retriable: bool = False


class ProtocolError(OrbitMQError):
    """Bytes that do not follow the remoting protocol."""


class LocalProtocolError(ProtocolError):
    """Our own code asked the codec for something impossible (a bug here, not the peer)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes we cannot decode; the connection should be closed."""


class FrameTooLargeError(RemoteProtocolError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit
