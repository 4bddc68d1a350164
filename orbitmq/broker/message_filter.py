"""Property (SQL92) filtering of pulled records (ExpressionMessageFilter.isMatchedByCommitLog).

The tag filter works on consume-queue units and stays in the store's scan. An SQL92
subscription needs each record's properties, so the pull handler passes the scan's
records through `filter_by_properties`, which decodes only the properties field of each
record (no body copy) and drops the records the selector does not make TRUE.

Record fields before the properties (protocol/message.py): 48 fixed bytes, born host
(8, or 20 if IPv6), store timestamp (8), store host (8 or 20), reconsume times and
prepared offset (12), body length + body, topic length (1) + topic, then
propertiesLength i16 | properties.
"""

from __future__ import annotations

import struct

from orbitmq.protocol.message import SYS_FLAG_POSITION, SysFlag, decode_properties
from orbitmq.protocol.sql92 import SqlFilter
from orbitmq.store.results import GetMessageResult, GetMessageStatus

_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")


def record_properties(record: memoryview | bytes) -> dict[str, str]:
    """The properties of one stored record, decoding nothing else.

    Raises:
        ValueError: the record is truncated or its properties are not UTF-8.
    """
    try:
        (sys_flag,) = _I32.unpack_from(record, SYS_FLAG_POSITION)
        pos = 48 + (20 if sys_flag & SysFlag.BORNHOST_V6 else 8) + 8
        pos += (20 if sys_flag & SysFlag.STOREHOST_V6 else 8) + 12
        (body_len,) = _I32.unpack_from(record, pos)
        pos += 4 + body_len
        pos += 1 + record[pos]
        (props_len,) = _I16.unpack_from(record, pos)
        pos += 2
        text = bytes(record[pos : pos + props_len]).decode()
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed record: {exc}") from exc
    return decode_properties(text)


def filter_by_properties(result: GetMessageResult, selector: SqlFilter) -> None:
    """Keep only the records `selector` matches; FOUND becomes NO_MATCHED_MESSAGE when
    none is left (nextBeginOffset stays past every scanned record, as Java's does)."""
    if result.status is not GetMessageStatus.FOUND:
        return
    kept: list[memoryview] = []
    total = 0
    for record in result.buffers:
        try:
            matched = selector.matches(record_properties(record))
        except ValueError:
            matched = False
        if matched:
            kept.append(record)
            total += len(record)
    result.buffers = kept
    result.message_count = len(kept)
    result.buffer_total_size = total
    if not kept:
        result.status = GetMessageStatus.NO_MATCHED_MESSAGE
