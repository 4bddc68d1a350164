"""The stored message record, properties, tag hash codes and offset message ids.

Record V1 (MessageDecoder.java / CommitLog.java), big-endian, IPv4 hosts:
  totalSize i32 | magic i32 (0xDAA320A7) | bodyCRC i32 | queueId i32 | flag i32 |
  queueOffset i64 @20 | physicalOffset i64 @28 | sysFlag i32 @36 | bornTimestamp i64 @40 |
  bornHost 4+4 @48 | storeTimestamp i64 @56 | storeHost 4+4 @64 | reconsumeTimes i32 @72 |
  preparedTransactionOffset i64 @76 | bodyLen i32 | body | topicLen i8 | topic |
  propertiesLen i16 | properties
An IPv6 born host (sysFlag bit 4) or store host (bit 5) widens that field from 8 to 20 bytes.
Pull and query responses carry these records back to back, exactly as stored.
"""

from __future__ import annotations

import socket
import struct
import zlib
from dataclasses import dataclass, field

from orbitmq.errors import RemoteProtocolError

MESSAGE_MAGIC_CODE = -626843481  # 0xDAA320A7
BLANK_MAGIC_CODE = -875286124  # 0xCBD43194

NAME_VALUE_SEPARATOR = "\x01"
PROPERTY_SEPARATOR = "\x02"

QUEUE_OFFSET_POSITION = 20
PHYSICAL_OFFSET_POSITION = 28
SYS_FLAG_POSITION = 36
BORN_HOST_POSITION = 48

MAX_TOPIC_BYTES = 127
MAX_PROPERTIES_BYTES = 32767


class SysFlag:
    """MessageSysFlag.java bits."""

    COMPRESSED = 0x1
    MULTI_TAGS = 0x2
    TRANSACTION_PREPARED = 0x4
    TRANSACTION_COMMIT = 0x8
    TRANSACTION_ROLLBACK = 0xC
    TRANSACTION_MASK = 0xC
    BORNHOST_V6 = 0x10
    STOREHOST_V6 = 0x20


class MessageConst:
    """Well-known property keys (MessageConst.java)."""

    KEYS = "KEYS"
    TAGS = "TAGS"
    WAIT = "WAIT"
    DELAY = "DELAY"
    RETRY_TOPIC = "RETRY_TOPIC"
    REAL_TOPIC = "REAL_TOPIC"
    REAL_QID = "REAL_QID"
    TRANSACTION_PREPARED = "TRAN_MSG"
    PRODUCER_GROUP = "PGROUP"
    MIN_OFFSET = "MIN_OFFSET"
    MAX_OFFSET = "MAX_OFFSET"
    ORIGIN_MESSAGE_ID = "ORIGIN_MESSAGE_ID"
    RECONSUME_TIME = "RECONSUME_TIME"
    UNIQ_KEY = "UNIQ_KEY"
    MAX_RECONSUME_TIMES = "MAX_RECONSUME_TIMES"
    CONSUME_START_TIME = "CONSUME_START_TIME"
    CLUSTER = "CLUSTER"
    KEY_SEPARATOR = " "


_HEAD = struct.Struct(">iiiiiqqiq")  # totalSize .. bornTimestamp: 48 bytes
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_I16 = struct.Struct(">h")
_TAIL = struct.Struct(">iq")  # reconsumeTimes, preparedTransactionOffset
_TAIL_BODY = struct.Struct(">iqi")  # the same, then the body length
_EMPTY_BUFFER = bytearray()  # bytearray.join: the record comes out mutable in one copy
_HOST4 = struct.Struct(">4si")
_HOST6 = struct.Struct(">16si")


_MASK32 = 0xFFFFFFFF


def java_hash_unsigned(text: str) -> int:
    """Java String.hashCode over UTF-16 code units, as an unsigned 32-bit number.

    A plain loop, because message.pxd types it for the compiled build (setup.py), where
    it runs in C (~20 ns for a 32-character key); as plain Python it takes ~1.5 µs.
    """
    h = 0
    if text.isascii():
        data = text.encode()
        for unit in data:
            h = (31 * h + unit) & _MASK32
        return h
    utf16 = text.encode("utf-16-be")
    for i in range(0, len(utf16), 2):
        h = (31 * h + ((utf16[i] << 8) | utf16[i + 1])) & _MASK32
    return h


def java_hash(text: str) -> int:
    """Java String.hashCode over UTF-16 code units, as a signed 32-bit int."""
    h = java_hash_unsigned(text)
    return h - 0x100000000 if h & 0x80000000 else h


def tags_code(tags: str | None) -> int:
    return java_hash(tags) if tags else 0


def body_crc(body: bytes) -> int:
    return zlib.crc32(body) & 0x7FFFFFFF


def encode_properties(properties: dict[str, str]) -> str:
    """Java style: pairs joined by the separator, none after the last."""
    return PROPERTY_SEPARATOR.join(f"{k}{NAME_VALUE_SEPARATOR}{v}" for k, v in properties.items())


def decode_properties(text: str) -> dict[str, str]:
    """Accepts a trailing separator and drops malformed or empty pairs, as Java and C++ do."""
    result: dict[str, str] = {}
    if not text:
        return result
    for item in text.split(PROPERTY_SEPARATOR):
        key, sep, value = item.partition(NAME_VALUE_SEPARATOR)
        if sep and key and value:
            result[key] = value
    return result


_HOST_CACHE: dict[tuple[str, int], tuple[bytes, bool]] = {}
_MAX_CACHED_HOSTS = 4096


def encode_host(host: tuple[str, int]) -> tuple[bytes, bool]:
    """A record's host field (IP ‖ port i32) and whether it is IPv6."""
    # Every record carries the born and store hosts; there are few distinct ones.
    cached = _HOST_CACHE.get(host)
    if cached is not None:
        return cached
    address, port = host
    try:
        encoded = _HOST4.pack(socket.inet_aton(address), port), False
    except OSError:
        encoded = _HOST6.pack(socket.inet_pton(socket.AF_INET6, address), port), True
    if len(_HOST_CACHE) >= _MAX_CACHED_HOSTS:
        _HOST_CACHE.clear()
    _HOST_CACHE[host] = encoded
    return encoded


_V6_HOSTS = SysFlag.BORNHOST_V6 | SysFlag.STOREHOST_V6
_MIDDLE_V4 = struct.Struct(">4siq4siiqi")  # bornHost, storeTimestamp, storeHost, .. bodyLength
_IPV4_TEXT: dict[bytes, str] = {}


def _ipv4_text(raw: bytes) -> str:
    text = _IPV4_TEXT.get(raw)
    if text is None:
        if len(_IPV4_TEXT) >= _MAX_CACHED_HOSTS:
            _IPV4_TEXT.clear()
        text = _IPV4_TEXT[raw] = socket.inet_ntoa(raw)
    return text


def _decode_host(buf: bytes | bytearray | memoryview, pos: int, v6: bool) -> tuple[str, int, int]:
    if v6:
        raw, port = _HOST6.unpack_from(buf, pos)
        return socket.inet_ntop(socket.AF_INET6, raw), port, pos + 20
    raw, port = _HOST4.unpack_from(buf, pos)
    return socket.inet_ntoa(raw), port, pos + 8


def create_offset_msg_id(store_host: tuple[str, int], commit_log_offset: int) -> str:
    """Offset message id: storeHost ip ‖ port (i32) ‖ commit log offset (i64), upper hex."""
    raw, _ = encode_host(store_host)
    return (raw + _I64.pack(commit_log_offset)).hex().upper()


def decode_offset_msg_id(msg_id: str) -> tuple[str, int, int]:
    """Return (ip, port, commit_log_offset) from an offset message id."""
    try:
        raw = bytes.fromhex(msg_id)
    except ValueError as exc:
        raise ValueError(f"message id {msg_id!r} is not hexadecimal") from exc
    if len(raw) == 16:
        ip, port = socket.inet_ntoa(raw[:4]), _I32.unpack_from(raw, 4)[0]
    elif len(raw) == 28:
        ip, port = socket.inet_ntop(socket.AF_INET6, raw[:16]), _I32.unpack_from(raw, 16)[0]
    else:
        raise ValueError(f"message id {msg_id!r} is not an offset message id")
    return ip, port, _I64.unpack_from(raw, len(raw) - 8)[0]


@dataclass(slots=True)
class MessageExt:
    """A message as stored in the commit log and delivered to consumers."""

    topic: str
    body: bytes
    properties: dict[str, str] = field(default_factory=dict)
    queue_id: int = 0
    flag: int = 0
    queue_offset: int = 0
    commit_log_offset: int = 0
    sys_flag: int = 0
    born_timestamp: int = 0
    born_host: tuple[str, int] = ("127.0.0.1", 0)
    store_timestamp: int = 0
    store_host: tuple[str, int] = ("127.0.0.1", 0)
    reconsume_times: int = 0
    prepared_transaction_offset: int = 0
    body_crc: int = 0
    store_size: int = 0

    @property
    def tags(self) -> str | None:
        return self.properties.get(MessageConst.TAGS)

    @property
    def keys(self) -> list[str]:
        raw = self.properties.get(MessageConst.KEYS, "")
        return [k for k in raw.split(MessageConst.KEY_SEPARATOR) if k]

    @property
    def offset_msg_id(self) -> str:
        return create_offset_msg_id(self.store_host, self.commit_log_offset)

    @property
    def msg_id(self) -> str:
        """What applications call the message id: UNIQ_KEY when present."""
        return self.properties.get(MessageConst.UNIQ_KEY) or self.offset_msg_id


def record_size(body_len: int, topic_len: int, properties_len: int, sys_flag: int = 0) -> int:
    size = 91 + body_len + topic_len + properties_len
    if sys_flag & SysFlag.BORNHOST_V6:
        size += 12
    if sys_flag & SysFlag.STOREHOST_V6:
        size += 12
    return size


def store_timestamp_position(sys_flag: int) -> int:
    return 56 + (12 if sys_flag & SysFlag.BORNHOST_V6 else 0)


def encode_record(msg: MessageExt, properties_text: str | None = None) -> bytearray:
    """Encode a whole record; body CRC and size are computed here.

    `properties_text` lets a caller pass an already encoded properties string.
    """
    topic = msg.topic.encode()
    props = properties_text if properties_text is not None else encode_properties(msg.properties)
    props_bytes = props.encode()
    if len(topic) > MAX_TOPIC_BYTES:
        raise ValueError(f"topic is {len(topic)} bytes; the limit is {MAX_TOPIC_BYTES}")
    if len(props_bytes) > MAX_PROPERTIES_BYTES:
        raise ValueError(
            f"properties are {len(props_bytes)} bytes; the limit is {MAX_PROPERTIES_BYTES}"
        )
    born, born_v6 = encode_host(msg.born_host)
    store, store_v6 = encode_host(msg.store_host)
    sys_flag = msg.sys_flag & ~(SysFlag.BORNHOST_V6 | SysFlag.STOREHOST_V6)
    if born_v6:
        sys_flag |= SysFlag.BORNHOST_V6
    if store_v6:
        sys_flag |= SysFlag.STOREHOST_V6
    size = record_size(len(msg.body), len(topic), len(props_bytes), sys_flag)
    crc = body_crc(msg.body)
    msg.body_crc = crc
    msg.store_size = size
    msg.sys_flag = sys_flag
    return _EMPTY_BUFFER.join(
        (
            _HEAD.pack(
                size,
                MESSAGE_MAGIC_CODE,
                crc,
                msg.queue_id,
                msg.flag,
                msg.queue_offset,
                msg.commit_log_offset,
                sys_flag,
                msg.born_timestamp,
            ),
            born,
            _I64.pack(msg.store_timestamp),
            store,
            _TAIL_BODY.pack(msg.reconsume_times, msg.prepared_transaction_offset, len(msg.body)),
            msg.body,
            bytes((len(topic),)),
            topic,
            _I16.pack(len(props_bytes)),
            props_bytes,
        )
    )


def decode_record(
    buf: bytes | bytearray | memoryview, pos: int = 0, *, check_crc: bool = False
) -> MessageExt:
    """Decode one record starting at `pos`. Raises RemoteProtocolError if malformed."""
    try:
        (
            size,
            magic,
            crc,
            queue_id,
            flag,
            queue_offset,
            physical_offset,
            sys_flag,
            born_ts,
        ) = _HEAD.unpack_from(buf, pos)
        if magic != MESSAGE_MAGIC_CODE:
            raise RemoteProtocolError(f"bad magic code {magic:#x} at {pos}")
        p = pos + 48
        if sys_flag & _V6_HOSTS:
            born_ip, born_port, p = _decode_host(buf, p, bool(sys_flag & SysFlag.BORNHOST_V6))
            (store_ts,) = _I64.unpack_from(buf, p)
            p += 8
            store_ip, store_port, p = _decode_host(buf, p, bool(sys_flag & SysFlag.STOREHOST_V6))
            reconsume, prepared = _TAIL.unpack_from(buf, p)
            p += 12
            (body_len,) = _I32.unpack_from(buf, p)
            p += 4
        else:  # the usual IPv4 record: hosts to body length in one unpack
            (
                born_raw,
                born_port,
                store_ts,
                store_raw,
                store_port,
                reconsume,
                prepared,
                body_len,
            ) = _MIDDLE_V4.unpack_from(buf, p)
            born_ip = _ipv4_text(born_raw)
            store_ip = _ipv4_text(store_raw)
            p += _MIDDLE_V4.size
        body = bytes(buf[p : p + body_len])
        p += body_len
        topic_len = buf[p]
        p += 1
        topic = bytes(buf[p : p + topic_len]).decode()
        p += topic_len
        (props_len,) = _I16.unpack_from(buf, p)
        p += 2
        props = bytes(buf[p : p + props_len]).decode()
        p += props_len
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        raise RemoteProtocolError(f"truncated or malformed record at {pos}: {exc}") from exc
    if body_len < 0 or props_len < 0 or len(body) != body_len or p - pos != size:
        raise RemoteProtocolError(f"record at {pos} declares {size} bytes but holds {p - pos}")
    if check_crc and body_crc(body) != crc:
        raise RemoteProtocolError(f"body CRC mismatch in record at {pos}")
    return MessageExt(
        topic=topic,
        body=body,
        properties=decode_properties(props),
        queue_id=queue_id,
        flag=flag,
        queue_offset=queue_offset,
        commit_log_offset=physical_offset,
        sys_flag=sys_flag,
        born_timestamp=born_ts,
        born_host=(born_ip, born_port),
        store_timestamp=store_ts,
        store_host=(store_ip, store_port),
        reconsume_times=reconsume,
        prepared_transaction_offset=prepared,
        body_crc=crc,
        store_size=size,
    )


def decode_records(buf: bytes | bytearray | memoryview) -> list[MessageExt]:
    """Decode a pull/query body: records back to back."""
    out: list[MessageExt] = []
    pos = 0
    end = len(buf)
    while pos < end:
        msg = decode_record(buf, pos)
        out.append(msg)
        pos += msg.store_size
    return out


# Batch body entries (MessageDecoder.encodeMessage / decodeMessages):
#   totalSize i32 | magic i32 (0) | bodyCRC i32 (0) | flag i32 | bodyLen i32 | body |
#   propertiesLen i16 | properties
_BATCH_HEAD = struct.Struct(">iiiii")


@dataclass(slots=True)
class BatchEntry:
    body: bytes
    flag: int
    properties: dict[str, str]


def encode_batch(entries: list[BatchEntry]) -> bytes:
    parts: list[bytes] = []
    for entry in entries:
        props = encode_properties(entry.properties).encode()
        size = 22 + len(entry.body) + len(props)
        parts.append(_BATCH_HEAD.pack(size, 0, 0, entry.flag, len(entry.body)))
        parts.append(entry.body)
        parts.append(_I16.pack(len(props)))
        parts.append(props)
    return b"".join(parts)


def decode_batch(body: bytes) -> list[BatchEntry]:
    entries: list[BatchEntry] = []
    pos = 0
    try:
        while pos < len(body):
            size, _magic, _crc, flag, body_len = _BATCH_HEAD.unpack_from(body, pos)
            if body_len < 0:
                raise RemoteProtocolError(f"batch entry at {pos} has body length {body_len}")
            p = pos + 20
            payload = body[p : p + body_len]
            p += body_len
            (props_len,) = _I16.unpack_from(body, p)
            if props_len < 0:
                # It would step the cursor back: the same bytes decoded forever.
                raise RemoteProtocolError(
                    f"batch entry at {pos} has properties length {props_len}"
                )
            p += 2
            props = body[p : p + props_len].decode()
            p += props_len
            if size != p - pos or len(payload) != body_len:
                raise RemoteProtocolError(f"batch entry at {pos} declares {size} bytes")
            entries.append(BatchEntry(payload, flag, decode_properties(props)))
            pos = p
    except (struct.error, UnicodeDecodeError) as exc:
        raise RemoteProtocolError(f"malformed batch body at {pos}: {exc}") from exc
    return entries
