"""The NameServer's branch of the error tree.

    OrbitMQError
      NamesrvError
        MissingFieldError       a required ext field is absent       -> SYSTEM_ERROR
        BadFieldError           an ext field does not parse          -> SYSTEM_ERROR
        BodyDecodeError         a request body does not decode       -> SYSTEM_ERROR
        Crc32MismatchError      REGISTER_BROKER bodyCrc32 is wrong    -> SYSTEM_ERROR
        TopicRouteNotFoundError no route for the topic               -> TOPIC_NOT_EXIST
        KvConfigNotFoundError   no such KV namespace / key           -> QUERY_NOT_FOUND
        ConfigBlacklistedError  UPDATE_NAMESRV_CONFIG of a locked key -> NO_PERMISSION
      ConfigError               orbitmq.config_file: a bad .properties value or config file

Handlers raise these; `orbitmq.remoting.dispatch` turns them into responses whose remark
is `str(exc)`, so every message names the field, topic or key at fault.
"""

from __future__ import annotations

from orbitmq.config_file import ConfigError
from orbitmq.errors import OrbitMQError
from orbitmq.protocol.codes import ResponseCode

__all__ = [
    "BadFieldError",
    "BodyDecodeError",
    "ConfigBlacklistedError",
    "ConfigError",
    "Crc32MismatchError",
    "KvConfigNotFoundError",
    "MissingFieldError",
    "NamesrvError",
    "TopicRouteNotFoundError",
]

# FAQUrl.suggestTodo(FAQUrl.APPLY_TOPIC_URL) in Java: clients show this text verbatim.
_APPLY_TOPIC_HINT = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."


class NamesrvError(OrbitMQError):
    """Something a NameServer request asked for cannot be done."""


class MissingFieldError(NamesrvError):
    def __init__(self, field: str) -> None:
        # Same wording as Java's RemotingCommandException for a missing @CFNotNull field.
        super().__init__(f"the custom field <{field}> is null")
        self.field = field


class BadFieldError(NamesrvError):
    def __init__(self, field: str, value: str, expected: str) -> None:
        super().__init__(f"the custom field <{field}> is not {expected}: {value!r}")
        self.field = field
        self.value = value


class BodyDecodeError(NamesrvError):
    """The body of a request could not be decoded (bad JSON, truncated zlib, …)."""


class Crc32MismatchError(NamesrvError):
    def __init__(self) -> None:
        super().__init__("crc32 not match")  # Java's exact remark


class TopicRouteNotFoundError(NamesrvError):
    response_code = ResponseCode.TOPIC_NOT_EXIST
    refresh_route = True

    def __init__(self, topic: str) -> None:
        super().__init__(
            f"No topic route info in name server for the topic: {topic}{_APPLY_TOPIC_HINT}"
        )
        self.topic = topic


class KvConfigNotFoundError(NamesrvError):
    response_code = ResponseCode.QUERY_NOT_FOUND

    def __init__(self, namespace: str, key: str | None = None) -> None:
        text = f"No config item, Namespace: {namespace}"
        if key is not None:
            text += f" Key: {key}"
        super().__init__(text)


class ConfigBlacklistedError(NamesrvError):
    response_code = ResponseCode.NO_PERMISSION

    def __init__(self, keys: list[str]) -> None:
        super().__init__(f"Can not update config in black list: {', '.join(keys)}")
