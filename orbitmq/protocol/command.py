"""RemotingCommand: one request or response of the remoting protocol.

Upstream: apache/rocketmq remoting/.../protocol/RemotingCommand.java.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orbitmq.protocol.codes import (
    ORBITMQ_VERSION_ORDINAL,
    LanguageCode,
    ResponseCode,
    SerializeType,
)

FLAG_RESPONSE = 0x1
FLAG_ONEWAY = 0x2

_TRUE_TEXTS = frozenset({"true", "1"})


@dataclass(slots=True)
class RemotingCommand:
    """A decoded frame. `ext_fields` values are always strings (numbers are normalised)."""

    code: int
    opaque: int = 0
    flag: int = 0
    language: str = "PYTHON"
    version: int = ORBITMQ_VERSION_ORDINAL
    remark: str | None = None
    ext_fields: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    serialize_type: SerializeType = SerializeType.JSON

    @property
    def is_response(self) -> bool:
        return bool(self.flag & FLAG_RESPONSE)

    @property
    def is_oneway(self) -> bool:
        return bool(self.flag & FLAG_ONEWAY)

    @classmethod
    def request(
        cls,
        code: int,
        ext_fields: dict[str, str] | None = None,
        body: bytes = b"",
        *,
        oneway: bool = False,
    ) -> RemotingCommand:
        return cls(
            code=code,
            flag=FLAG_ONEWAY if oneway else 0,
            ext_fields=ext_fields if ext_fields is not None else {},
            body=body,
        )

    def response(
        self,
        code: int = ResponseCode.SUCCESS,
        remark: str | None = None,
        ext_fields: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> RemotingCommand:
        """Build the answer to this request: same opaque and serialisation, response flag."""
        return RemotingCommand(
            code=code,
            opaque=self.opaque,
            flag=FLAG_RESPONSE,
            language="JAVA",
            remark=remark,
            ext_fields=ext_fields if ext_fields is not None else {},
            body=body,
            serialize_type=self.serialize_type,
        )


def parse_bool(text: str | None, default: bool = False) -> bool:
    """Booleans arrive as `true`/`false` (Java, Go) or `1`/`0` (C++)."""
    if text is None or text == "":
        return default
    return text.strip().lower() in _TRUE_TEXTS


def language_name(value: int | str) -> str:
    if isinstance(value, str):
        return value
    try:
        return LanguageCode(value).name
    except ValueError:
        return "OTHER"
