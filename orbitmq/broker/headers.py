"""Typed access to request ext fields, raising errors that name the field."""

from __future__ import annotations

from orbitmq.broker.errors import BadHeaderFieldError, MissingHeaderFieldError
from orbitmq.protocol.command import RemotingCommand, parse_bool


class Header:
    """Wraps `ext_fields`; `names` maps long names to short aliases (SEND_MESSAGE_V2)."""

    __slots__ = ("_aliases", "_ext")

    def __init__(self, request: RemotingCommand, aliases: dict[str, str] | None = None) -> None:
        self._ext = request.ext_fields
        self._aliases = aliases

    def _raw(self, name: str) -> str | None:
        aliases = self._aliases
        if aliases is not None:
            # Requests that use aliases use them for every field: try the alias first.
            alias = aliases.get(name)
            if alias is not None:
                value = self._ext.get(alias)
                if value is not None:
                    return value
        return self._ext.get(name)

    def str(self, name: str, default: str | None = None) -> str:
        value = self._raw(name)
        if value is None:
            if default is None:
                raise MissingHeaderFieldError(name)
            return default
        return value

    def optional_str(self, name: str) -> str | None:
        return self._raw(name)

    def int(self, name: str, default: int | None = None) -> int:
        value = self._raw(name)
        if value is None or value == "":
            if default is None:
                raise MissingHeaderFieldError(name)
            return default
        try:
            return int(value)
        except ValueError:
            raise BadHeaderFieldError(name, value, "an integer") from None

    def bool(self, name: str, default: bool = False) -> bool:
        return parse_bool(self._raw(name), default)
