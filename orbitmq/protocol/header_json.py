"""JSON header serialisation (serializeType 0).

Requests from C++ end with a newline and carry some extFields values as JSON numbers;
responses must carry `extFields` as an object of strings and integer code/opaque/flag
(remoting-protocol.md §1.4, gotchas 2 and 3).
"""

from __future__ import annotations

from typing import Any

import orjson

from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.codes import SerializeType
from orbitmq.protocol.command import RemotingCommand, language_name

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def encode_json_header(command: RemotingCommand) -> bytes:
    return orjson.dumps(
        {
            "code": command.code,
            "extFields": command.ext_fields,
            "flag": command.flag,
            "language": command.language,
            "opaque": command.opaque,
            "remark": command.remark,
            "serializeTypeCurrentRPC": "JSON",
            "version": command.version,
        }
    )


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def decode_json_header(data: bytes | memoryview, body: bytes) -> RemotingCommand:
    return command_from_json(parse_json_header(data), body)


def parse_json_header(data: bytes | memoryview) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RemoteProtocolError(f"undecodable JSON header: {exc}") from exc


def command_from_json(header: Any, body: bytes) -> RemotingCommand:
    """The command of a parsed JSON header (see parse_json_header)."""
    if not isinstance(header, dict):
        raise RemoteProtocolError("JSON header is not an object")
    try:
        code = int(header["code"])
        opaque = int(header.get("opaque", 0))
        flag = int(header.get("flag", 0))
        version = int(header.get("version", 0) or 0)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise RemoteProtocolError(f"JSON header lacks a valid code/opaque/flag: {exc}") from exc
    # Java ints on the wire; a larger number could not even be written back in the
    # response, which echoes the opaque (orjson refuses integers past 64 bits).
    for name, value in (("code", code), ("opaque", opaque), ("flag", flag), ("version", version)):
        if not _INT_MIN <= value <= _INT_MAX:
            raise RemoteProtocolError(f"JSON header {name} {value} does not fit a 32-bit int")
    raw_ext = header.get("extFields") or {}
    if not isinstance(raw_ext, dict):
        raise RemoteProtocolError("extFields is not an object")
    # JSON object keys are always str; values usually are too (C++ sends some numbers),
    # and then the parsed object is used as it is.
    ext = raw_ext
    for value in raw_ext.values():
        if value.__class__ is not str:
            ext = {k: _as_text(v) for k, v in raw_ext.items() if v is not None}
            break
    remark = header.get("remark")
    return RemotingCommand(
        code=code,
        opaque=opaque,
        flag=flag,
        language=language_name(header.get("language", "OTHER")),
        version=version,
        remark=remark if isinstance(remark, str) else None,
        ext_fields=ext,
        body=body,
        serialize_type=SerializeType.JSON,
    )
