"""Errors raised by the OrbitMQ client SDK.

    OrbitMQError
      ClientError
        MQClientError               local: not started, no route, illegal message, ...
          NoRouteError              no NameServer route for the topic (nor TBW102)
          IllegalMessageError       rejected before it left the process
        MQBrokerError               a server answered with an error response code
          BrokerSystemError (1), SystemBusyError (2), RequestCodeNotSupportedError (3),
          MessageIllegalError (13), ServiceNotAvailableError (14), NoPermissionError (16),
          TopicNotExistError (17), TopicExistAlreadyError (18), QueryNotFoundError (22),
          Subscription*Error (23-26), NoBuyerIdError (204), NotInCurrentUnitError (205),
          ConsumerNotOnlineError (206), FlowControlError (215)
      RemotingError                 transport (orbitmq.remoting.errors, re-exported here)
        RemotingConnectError, RequestTimeoutError, ConnectionClosedError,
        ConnectionBrokenError

`retriable` follows the Java producer (remoting-protocol.md §2.2 "How clients react"): a
send answered with 1, 14, 16, 17, 204 or 205, or failed by the network, is retried on
another queue. `refresh_route` says the topic route is probably stale.
"""

from __future__ import annotations

from orbitmq.errors import OrbitMQError
from orbitmq.protocol.codes import ResponseCode
from orbitmq.remoting.errors import (
    ConnectionBrokenError,
    ConnectionClosedError,
    RemotingConnectError,
    RemotingError,
    RequestTimeoutError,
)

__all__ = [
    "BrokerSystemError",
    "ClientError",
    "ConnectionBrokenError",
    "ConnectionClosedError",
    "ConsumerNotOnlineError",
    "FlowControlError",
    "IllegalMessageError",
    "MQBrokerError",
    "MQClientError",
    "MessageIllegalError",
    "NoBuyerIdError",
    "NoPermissionError",
    "NoRouteError",
    "NotInCurrentUnitError",
    "QueryNotFoundError",
    "RemotingConnectError",
    "RemotingError",
    "RequestCodeNotSupportedError",
    "RequestTimeoutError",
    "ServiceNotAvailableError",
    "SubscriptionGroupNotExistError",
    "SubscriptionNotExistError",
    "SubscriptionNotLatestError",
    "SubscriptionParseFailedError",
    "SystemBusyError",
    "TopicExistAlreadyError",
    "TopicNotExistError",
    "error_for_code",
]


class ClientError(OrbitMQError):
    """Root of the errors the client SDK raises itself."""

    refresh_route: bool = False


class MQClientError(ClientError):
    """A local failure: the client was misused or cannot proceed (no route, not started)."""


class NoRouteError(MQClientError):
    """Neither the topic nor the default topic TBW102 has a usable route."""

    refresh_route = True


class IllegalMessageError(MQClientError):
    """The message breaks a limit checked before sending (size, topic name, empty body)."""

    response_code = ResponseCode.MESSAGE_ILLEGAL


class MQBrokerError(ClientError):
    """A NameServer or broker answered with an error code.

    Attributes:
        code: the response code.
        remark: the server's explanation, if any.
    """

    def __init__(self, code: int, remark: str | None = None) -> None:
        self.code = code
        self.remark = remark or ""
        super().__init__(f"CODE: {code} DESC: {self.remark}")

    @property
    def response_code(self) -> int:  # type: ignore[override]
        return self.code


class BrokerSystemError(MQBrokerError):
    retriable = True


class SystemBusyError(MQBrokerError):
    pass


class RequestCodeNotSupportedError(MQBrokerError):
    pass


class MessageIllegalError(MQBrokerError):
    pass


class ServiceNotAvailableError(MQBrokerError):
    retriable = True


class NoPermissionError(MQBrokerError):
    retriable = True
    refresh_route = True


class TopicNotExistError(MQBrokerError):
    """17: no route for the topic (NameServer), or the broker does not have it."""

    retriable = True
    refresh_route = True


class TopicExistAlreadyError(MQBrokerError):
    pass


class QueryNotFoundError(MQBrokerError):
    pass


class SubscriptionParseFailedError(MQBrokerError):
    pass


class SubscriptionNotExistError(MQBrokerError):
    pass


class SubscriptionNotLatestError(MQBrokerError):
    pass


class SubscriptionGroupNotExistError(MQBrokerError):
    pass


class NoBuyerIdError(MQBrokerError):
    retriable = True


class NotInCurrentUnitError(MQBrokerError):
    retriable = True


class ConsumerNotOnlineError(MQBrokerError):
    pass


class FlowControlError(MQBrokerError):
    pass


_BY_CODE: dict[int, type[MQBrokerError]] = {
    ResponseCode.SYSTEM_ERROR: BrokerSystemError,
    ResponseCode.SYSTEM_BUSY: SystemBusyError,
    ResponseCode.REQUEST_CODE_NOT_SUPPORTED: RequestCodeNotSupportedError,
    ResponseCode.MESSAGE_ILLEGAL: MessageIllegalError,
    ResponseCode.SERVICE_NOT_AVAILABLE: ServiceNotAvailableError,
    ResponseCode.NO_PERMISSION: NoPermissionError,
    ResponseCode.TOPIC_NOT_EXIST: TopicNotExistError,
    ResponseCode.TOPIC_EXIST_ALREADY: TopicExistAlreadyError,
    ResponseCode.QUERY_NOT_FOUND: QueryNotFoundError,
    ResponseCode.SUBSCRIPTION_PARSE_FAILED: SubscriptionParseFailedError,
    ResponseCode.SUBSCRIPTION_NOT_EXIST: SubscriptionNotExistError,
    ResponseCode.SUBSCRIPTION_NOT_LATEST: SubscriptionNotLatestError,
    ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST: SubscriptionGroupNotExistError,
    204: NoBuyerIdError,
    205: NotInCurrentUnitError,
    ResponseCode.CONSUMER_NOT_ONLINE: ConsumerNotOnlineError,
    ResponseCode.FLOW_CONTROL: FlowControlError,
}


def error_for_code(code: int, remark: str | None = None) -> MQBrokerError:
    """Map an error response code to a typed `MQBrokerError` (unknown codes: the base class).

    Args:
        code: the response code of the answer.
        remark: the answer's remark.

    Returns:
        An exception instance to raise.
    """
    return _BY_CODE.get(code, MQBrokerError)(code, remark)
