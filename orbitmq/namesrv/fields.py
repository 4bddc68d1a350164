"""Reading request ext fields the way Java's CommandCustomHeader decoding does.

A missing required field or a number that does not parse raises a typed error whose text
names the field, which the dispatcher sends back as the remark (SYSTEM_ERROR, as Java's
RemotingCommandException does).
"""

from __future__ import annotations

from orbitmq.namesrv.errors import BadFieldError, MissingFieldError
from orbitmq.protocol.command import RemotingCommand


def require(request: RemotingCommand, name: str) -> str:
    value = request.ext_fields.get(name)
    if value is None:
        raise MissingFieldError(name)
    return value


def require_int(request: RemotingCommand, name: str) -> int:
    return _to_int(name, require(request, name))


def optional_int(request: RemotingCommand, name: str, default: int = 0) -> int:
    value = request.ext_fields.get(name)
    if value is None or value == "":
        return default
    return _to_int(name, value)


def _to_int(name: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise BadFieldError(name, value, "an integer") from None
