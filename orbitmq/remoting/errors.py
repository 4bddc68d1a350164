"""Transport errors. *Closed* means we closed it; *broken* means the peer or network did."""

from orbitmq.errors import OrbitMQError


class RemotingError(OrbitMQError):
    retriable = True


class RemotingConnectError(RemotingError):
    """Could not open a connection to the address."""


class RequestTimeoutError(RemotingError):
    """No response arrived within the request's timeout."""


class ConnectionClosedError(RemotingError):
    """The connection was closed by this side while the request was pending."""


class ConnectionBrokenError(RemotingError):
    """The peer closed the connection or the network failed."""
