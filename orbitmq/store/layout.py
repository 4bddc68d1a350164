"""Pure codecs for the store's on-disk structures (no I/O, no asyncio).

CQ unit (ConsumeQueue.java), 20 bytes, big-endian:
  commitLogOffset i64 | size i32 | tagsCode i64
Checkpoint (StoreCheckpoint.java), a 4096-byte file:
  physicMsgTimestamp i64 @0 | logicsMsgTimestamp i64 @8 | indexMsgTimestamp i64 @16
  [5.x: masterFlushedOffset @24 | confirmPhyOffset @32, written as 0 here]
  OrbitMQ extension, ignored by Java (it reads only up to @40):
  physicFlushedOffset i64 @40 | logicsFlushedOffset i64 @48 | indexFlushedOffset i64 @56 |
  extension magic i64 @64 ("ORBITCK1"; without it the three offsets are unknown)
End-of-file blank marker (CommitLog.java), 8 bytes at the end of a commit log segment:
  remaining i32 (whole free space of the file) | BLANK_MAGIC_CODE i32
Segment files are named by their start offset as 20 zero-padded decimal digits.

`check_record` is the record walker shared by reput (dispatch) and recovery
(CommitLog.checkMessageAndReturnSize): it validates one stored record and extracts
what the dispatchers need, without building a MessageExt.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

from orbitmq.protocol.message import (
    BLANK_MAGIC_CODE,
    MESSAGE_MAGIC_CODE,
    MessageExt,
    SysFlag,
    tags_code,
)

CQ_UNIT_SIZE = 20
CQ_UNIT = struct.Struct(">qiq")
# Units written before the first real unit of a queue that starts mid-file
# ("fill pre blank"); a reader skips them.
CQ_FILL_SIZE = 0x7FFFFFFF
CQ_FILL_UNIT = CQ_UNIT.pack(0, CQ_FILL_SIZE, 0)

CHECKPOINT_FILE_SIZE = 4096
_CHECKPOINT = struct.Struct(">qqqqqqqqq")
CHECKPOINT_EXT_MAGIC = int.from_bytes(b"ORBITCK1", "big")

BLANK_MARKER = struct.Struct(">ii")
END_FILE_MIN_BLANK_LENGTH = 8
OS_PAGE_SIZE = 4096

_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")
SIZE_MAGIC = struct.Struct(">ii")

# Fixed fields from totalSize to bodyLength, hosts skipped, one layout per IPv4/IPv6
# combination of (born host, store host), indexed by (sysFlag >> 4) & 3.
_FIXED = tuple(
    struct.Struct(f">iiiiiqqiq{born}xq{store}xiqi")
    for born, store in ((8, 8), (20, 8), (8, 20), (20, 20))
)
_SYS_FLAG_POS = 36
MIN_RECORD_SIZE = 91


def file_name(offset: int) -> str:
    """Segment file name for a start offset: 20 zero-padded decimal digits."""
    return f"{offset:020d}"


def parse_file_name(name: str) -> int | None:
    """Start offset encoded in a segment file name, or None if it is not one."""
    if len(name) == 20 and name.isdigit():
        return int(name)
    return None


def encode_cq_unit(commit_log_offset: int, size: int, tags_code_: int) -> bytes:
    return CQ_UNIT.pack(commit_log_offset, size, tags_code_)


def decode_cq_unit(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int, int]:
    """(commitLogOffset, size, tagsCode) of the unit at `pos`."""
    offset, size, code = CQ_UNIT.unpack_from(buf, pos)
    return offset, size, code


def cq_unit_is_valid(commit_log_offset: int, size: int) -> bool:
    """Recovery's rule: a zero-filled (never written) unit has size 0."""
    return commit_log_offset >= 0 and size > 0


@dataclass(frozen=True, slots=True)
class CheckpointData:
    physic_msg_timestamp: int = 0
    logics_msg_timestamp: int = 0
    index_msg_timestamp: int = 0
    # OrbitMQ extension: commit-log offsets below which data is known to be on disk;
    # -1 when unknown (a checkpoint written by Java or by an older OrbitMQ).
    physic_flushed_offset: int = -1  # commit log fsynced up to here (a record boundary)
    logics_flushed_offset: int = -1  # every record below has its CQ units on disk
    index_flushed_offset: int = -1  # every record below has its index entries on disk

    @property
    def min_timestamp(self) -> int:
        """RocketMQ's recovery bound: older of the two, less 3 s of slack, floored at 0."""
        return max(0, min(self.physic_msg_timestamp, self.logics_msg_timestamp) - 3000)


def encode_checkpoint(data: CheckpointData) -> bytes:
    head = _CHECKPOINT.pack(
        data.physic_msg_timestamp,
        data.logics_msg_timestamp,
        data.index_msg_timestamp,
        0,
        0,
        data.physic_flushed_offset,
        data.logics_flushed_offset,
        data.index_flushed_offset,
        CHECKPOINT_EXT_MAGIC,
    )
    return head + bytes(CHECKPOINT_FILE_SIZE - len(head))


def decode_checkpoint(buf: bytes | bytearray | memoryview) -> CheckpointData:
    if len(buf) < 24:
        return CheckpointData()
    if len(buf) < _CHECKPOINT.size:
        buf = bytes(buf) + bytes(_CHECKPOINT.size - len(buf))
    physic, logics, index, _, _, flushed, cq_flushed, index_flushed, magic = (
        _CHECKPOINT.unpack_from(buf, 0)
    )
    if magic != CHECKPOINT_EXT_MAGIC:
        return CheckpointData(physic, logics, index)
    return CheckpointData(physic, logics, index, flushed, cq_flushed, index_flushed)


def encode_blank(remaining: int) -> bytes:
    return BLANK_MARKER.pack(remaining, BLANK_MAGIC_CODE)


class RecordKind(enum.Enum):
    MESSAGE = "message"  # a valid record; DispatchRequest attached
    BLANK = "blank"  # end-of-file marker; continue in the next file
    END = "end"  # zero bytes: nothing was written here
    CORRUPT = "corrupt"  # anything else: a torn or damaged record


@dataclass(slots=True)
class DispatchRequest:
    """What the dispatchers (consume queue, later index) need from one record."""

    topic: str
    queue_id: int
    commit_log_offset: int
    msg_size: int
    tags_code: int
    store_timestamp: int
    consume_queue_offset: int
    sys_flag: int
    prepared_transaction_offset: int
    keys: str | None
    uniq_key: str | None

    @property
    def enters_consume_queue(self) -> bool:
        """Only NOT and COMMIT transaction types get consume-queue units."""
        return (self.sys_flag & SysFlag.TRANSACTION_MASK) in (0, SysFlag.TRANSACTION_COMMIT)


# Tag strings repeat a lot; java_hash is a Python loop, so remember recent results.
_TAGS_CACHE: dict[bytes, int] = {}
_TOPIC_CACHE: dict[bytes, str] = {}
_CACHE_LIMIT = 4096


def _property(props: bytes, key: bytes, sep_key: bytes) -> bytes | None:
    """Value of `key` (given as b"NAME\\x01") in an encoded properties string.

    Avoids decoding the whole string; `sep_key` is b"\\x02" + key, precomputed.
    """
    if props.startswith(key):
        start = len(key)
    else:
        found = props.find(sep_key)
        if found < 0:
            return None
        start = found + len(sep_key)
    end = props.find(b"\x02", start)
    return props[start:] if end < 0 else props[start:end]


_TAGS = (b"TAGS\x01", b"\x02TAGS\x01")
_KEYS = (b"KEYS\x01", b"\x02KEYS\x01")
_UNIQ_KEY = (b"UNIQ_KEY\x01", b"\x02UNIQ_KEY\x01")


def _tags_code(raw: bytes | None) -> int:
    if not raw:
        return 0
    code = _TAGS_CACHE.get(raw)
    if code is None:
        if len(_TAGS_CACHE) >= _CACHE_LIMIT:
            _TAGS_CACHE.clear()
        code = _TAGS_CACHE[raw] = tags_code(raw.decode())
    return code


_TAGS_TEXT_CACHE: dict[str, int] = {}


def cached_tags_code(tags: str | None) -> int:
    """tags_code with a small cache (tag strings repeat; java_hash is a Python loop)."""
    if not tags:
        return 0
    code = _TAGS_TEXT_CACHE.get(tags)
    if code is None:
        if len(_TAGS_TEXT_CACHE) >= _CACHE_LIMIT:
            _TAGS_TEXT_CACHE.clear()
        code = _TAGS_TEXT_CACHE[tags] = tags_code(tags)
    return code


def dispatch_request_for(msg: MessageExt) -> DispatchRequest:
    """The request check_record would parse back from `msg`'s stored record.

    The append path hands these to reput so that records it has just written need
    not be parsed again; tests/unit/store/test_layout.py checks the two agree.
    """
    props = msg.properties
    return DispatchRequest(
        topic=msg.topic,
        queue_id=msg.queue_id,
        commit_log_offset=msg.commit_log_offset,
        msg_size=msg.store_size,
        tags_code=cached_tags_code(props.get("TAGS")),
        store_timestamp=msg.store_timestamp,
        consume_queue_offset=msg.queue_offset,
        sys_flag=msg.sys_flag,
        prepared_transaction_offset=msg.prepared_transaction_offset,
        keys=props.get("KEYS") or None,
        uniq_key=props.get("UNIQ_KEY") or None,
    )


def _topic(raw: bytes) -> str:
    topic = _TOPIC_CACHE.get(raw)
    if topic is None:
        if len(_TOPIC_CACHE) >= _CACHE_LIMIT:
            _TOPIC_CACHE.clear()
        topic = _TOPIC_CACHE[raw] = raw.decode()
    return topic


def check_record(
    buf: bytes | bytearray | memoryview,
    pos: int,
    limit: int,
    *,
    check_crc: bool,
    torn_tail_checks: bool = False,
) -> tuple[RecordKind, int, DispatchRequest | None]:
    """Validate the record at `pos` (bytes up to `limit` are readable).

    Returns (kind, size, request): for MESSAGE the record size and its request; for
    BLANK the marker's declared size; for END and CORRUPT the declared size (may be
    meaningless) and None. A record must be exactly self-consistent: the declared
    TOTALSIZE equals the sum of the parsed field lengths, and the topic holds no NUL.

    `torn_tail_checks` (recovery) also rejects a record whose properties end in a NUL
    byte. RocketMQ records have no whole-record checksum, so a tail cut short inside the
    properties would otherwise pass: sizes still add up and the body CRC still matches.
    """
    if pos + 8 > limit:
        tail_written = any(buf[pos:limit])
        return (RecordKind.CORRUPT if tail_written else RecordKind.END), 0, None
    size, magic = SIZE_MAGIC.unpack_from(buf, pos)
    if magic == BLANK_MAGIC_CODE:
        return RecordKind.BLANK, size, None
    if magic != MESSAGE_MAGIC_CODE:
        kind = RecordKind.END if size == 0 and magic == 0 else RecordKind.CORRUPT
        return kind, size, None
    if size < MIN_RECORD_SIZE or pos + size > limit:
        return RecordKind.CORRUPT, size, None
    try:
        return RecordKind.MESSAGE, size, _parse(buf, pos, size, check_crc, torn_tail_checks)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError):
        return RecordKind.CORRUPT, size, None


def _parse(
    buf: bytes | bytearray | memoryview, pos: int, size: int, check_crc: bool, torn: bool
) -> DispatchRequest:
    (sys_flag,) = _I32.unpack_from(buf, pos + _SYS_FLAG_POS)
    fixed = _FIXED[(sys_flag >> 4) & 3]
    (
        _size,
        _magic,
        crc,
        queue_id,
        _flag,
        queue_offset,
        physical_offset,
        _sys_flag,
        _born_ts,
        store_ts,
        _reconsume,
        prepared,
        body_len,
    ) = fixed.unpack_from(buf, pos)
    end = pos + size
    p = pos + fixed.size
    if body_len < 0 or p + body_len + 3 > end:
        raise ValueError("body length out of range")
    if check_crc and zlib.crc32(buf[p : p + body_len]) & 0x7FFFFFFF != crc:
        raise ValueError("body CRC mismatch")
    p += body_len
    topic_len = buf[p]
    p += 1
    topic = _topic(bytes(buf[p : p + topic_len]))
    p += topic_len
    (props_len,) = _I16.unpack_from(buf, p)
    p += 2
    if props_len < 0 or p + props_len != end:
        raise ValueError("record length does not match its fields")
    # Zeros where the topic should be: the write never reached the disk.
    if "\x00" in topic or (torn and props_len and buf[end - 1] == 0):
        raise ValueError("record ends in zeros")
    props = bytes(buf[p:end])
    keys = _property(props, *_KEYS)
    uniq = _property(props, *_UNIQ_KEY)
    return DispatchRequest(
        topic=topic,
        queue_id=queue_id,
        commit_log_offset=physical_offset,
        msg_size=size,
        tags_code=_tags_code(_property(props, *_TAGS)),
        store_timestamp=store_ts,
        consume_queue_offset=queue_offset,
        sys_flag=sys_flag,
        prepared_transaction_offset=prepared,
        keys=keys.decode() if keys else None,
        uniq_key=uniq.decode() if uniq else None,
    )


def record_problem(buf: bytes | bytearray | memoryview, pos: int, limit: int) -> str:
    """Why check_record (with CRC and torn-tail checks) rejects the record at `pos`.

    Only for log lines on the recovery path; repeats the checks to name the failure.
    """
    if pos + 8 > limit:
        return "a partial record header at the end of the segment"
    size, magic = SIZE_MAGIC.unpack_from(buf, pos)
    if magic == BLANK_MAGIC_CODE:
        return f"an end-of-file marker of {size} bytes where {limit - pos} remain"
    if magic != MESSAGE_MAGIC_CODE:
        return "zeros" if size == 0 and magic == 0 else f"bad magic code {magic & 0xFFFFFFFF:#x}"
    if size < MIN_RECORD_SIZE or pos + size > limit:
        return f"a record size of {size} bytes that does not fit"
    try:
        _parse(buf, pos, size, True, True)
    except UnicodeDecodeError:
        return "a topic that is not UTF-8"
    except (struct.error, IndexError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return "a record that claims another physical offset"
