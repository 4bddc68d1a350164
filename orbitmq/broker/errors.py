"""Broker errors: each names its RocketMQ response code and what the client should do."""

from orbitmq.errors import OrbitMQError
from orbitmq.protocol.codes import ResponseCode


class BrokerError(OrbitMQError):
    response_code = ResponseCode.SYSTEM_ERROR


class MissingHeaderFieldError(BrokerError):
    def __init__(self, field: str) -> None:
        super().__init__(f"the custom field <{field}> is null: required request header missing")
        self.field = field


class BadHeaderFieldError(BrokerError):
    def __init__(self, field: str, value: str, expected: str) -> None:
        super().__init__(f"request header field <{field}>={value!r} is not {expected}")


class TopicNotExistError(BrokerError):
    response_code = ResponseCode.TOPIC_NOT_EXIST


class MessageIllegalError(BrokerError):
    response_code = ResponseCode.MESSAGE_ILLEGAL


class NoPermissionError(BrokerError):
    response_code = ResponseCode.NO_PERMISSION


class ServiceNotAvailableError(BrokerError):
    response_code = ResponseCode.SERVICE_NOT_AVAILABLE
    retriable = True


class SubscriptionGroupNotExistError(BrokerError):
    response_code = ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST


class SubscriptionNotExistError(BrokerError):
    response_code = ResponseCode.SUBSCRIPTION_NOT_EXIST


class SubscriptionNotLatestError(BrokerError):
    response_code = ResponseCode.SUBSCRIPTION_NOT_LATEST


class SubscriptionParseError(BrokerError):
    response_code = ResponseCode.SUBSCRIPTION_PARSE_FAILED


class InvalidParameterError(BrokerError):
    response_code = ResponseCode.INVALID_PARAMETER


class TopicAttributeError(BrokerError):
    """A topic attribute change breaks a rule (topic_attributes.py). RocketMQ answers
    these as SYSTEM_ERROR with the rule's message; the operator fixes the `-a` text."""


class MessageTypeMismatchError(MessageIllegalError):
    """The message's type is not the topic's `message.type` (message_type.py): the
    producer must send that type, or the topic's type be changed (or MIXED)."""
