"""Binary "ROCKETMQ" header serialisation (serializeType 1).

Layout (RocketMQSerializable.java), big-endian:
  code i16 | language u8 | version i16 | opaque i32 | flag i32 |
  remarkLen i32 | remark | extLen i32 | { keyLen i16 | key | valLen i32 | value }*
"""

from __future__ import annotations

import struct

from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.codes import LanguageCode, SerializeType
from orbitmq.protocol.command import RemotingCommand, language_name

_FIXED = struct.Struct(">hBhii")
_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")


def _language_code(name: str) -> int:
    try:
        return LanguageCode[name]
    except KeyError:
        return LanguageCode.OTHER


def encode_rocketmq_header(command: RemotingCommand) -> bytes:
    remark = command.remark.encode() if command.remark else b""
    ext = bytearray()
    for key, value in command.ext_fields.items():
        k = key.encode()
        v = value.encode()
        ext += _I16.pack(len(k)) + k + _I32.pack(len(v)) + v
    return b"".join(
        (
            _FIXED.pack(
                command.code,
                _language_code(command.language),
                command.version,
                command.opaque,
                command.flag,
            ),
            _I32.pack(len(remark)),
            remark,
            _I32.pack(len(ext)),
            bytes(ext),
        )
    )


def decode_rocketmq_header(data: bytes | memoryview, body: bytes) -> RemotingCommand:
    view = memoryview(data)
    try:
        code, language, version, opaque, flag = _FIXED.unpack_from(view, 0)
        pos = _FIXED.size
        (remark_len,) = _I32.unpack_from(view, pos)
        pos += 4
        remark = bytes(view[pos : pos + remark_len]).decode() if remark_len > 0 else None
        pos += max(remark_len, 0)
        (ext_len,) = _I32.unpack_from(view, pos)
        pos += 4
        end = pos + ext_len
        if ext_len < 0 or end > len(view):
            raise RemoteProtocolError("binary header ext map overruns the header")
        ext: dict[str, str] = {}
        while pos < end:
            (key_len,) = _I16.unpack_from(view, pos)
            pos += 2
            # A negative length would step back and loop forever over the same bytes.
            if key_len < 0 or pos + key_len > end:
                raise RemoteProtocolError(f"binary header ext key length {key_len} at {pos}")
            key = bytes(view[pos : pos + key_len]).decode()
            pos += key_len
            (val_len,) = _I32.unpack_from(view, pos)
            pos += 4
            if val_len < 0 or pos + val_len > end:
                raise RemoteProtocolError(f"binary header ext value length {val_len} at {pos}")
            ext[key] = bytes(view[pos : pos + val_len]).decode()
            pos += val_len
        if pos != end:
            raise RemoteProtocolError("binary header ext map length mismatch")
    except (struct.error, UnicodeDecodeError) as exc:
        raise RemoteProtocolError(f"undecodable ROCKETMQ header: {exc}") from exc
    return RemotingCommand(
        code=code,
        opaque=opaque,
        flag=flag,
        language=language_name(language),
        version=version,
        remark=remark,
        ext_fields=ext,
        body=body,
        serialize_type=SerializeType.ROCKETMQ,
    )
