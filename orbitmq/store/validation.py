"""Checks a put must pass before anything is written (store-and-replication.md §2.4, §2.5).

Remarks name the limit and the actual size, as the broker returns them to the producer.
"""

from __future__ import annotations

from orbitmq.protocol.message import (
    MAX_PROPERTIES_BYTES,
    MAX_TOPIC_BYTES,
    MessageExt,
    SysFlag,
    encode_properties,
    record_size,
)
from orbitmq.store.results import PutMessageResult, PutMessageStatus

# Record size without body, topic and properties, if both hosts were IPv6.
_MAX_RECORD_OVERHEAD = record_size(0, 0, 0, SysFlag.BORNHOST_V6 | SysFlag.STOREHOST_V6)
_MAX_CACHED_TOPICS = 100_000


def check_messages(
    msgs: list[MessageExt],
    topic_lengths: dict[str, int],
    max_message_size: int,
    max_record_size: int,
) -> tuple[PutMessageResult | None, list[str]]:
    """(refusal or None, each message's encoded properties string).

    `topic_lengths` caches topics already found valid (topic -> length in bytes), so
    the hot path checks a topic once.
    """
    if not msgs:
        return _illegal("empty message batch"), []
    first = msgs[0]
    topic = first.topic
    topic_len = topic_lengths.get(topic)
    if topic_len is None:
        problem = _topic_problem(topic)
        if problem:
            return _illegal(problem), []
        if len(topic_lengths) >= _MAX_CACHED_TOPICS:
            topic_lengths.clear()
        topic_len = topic_lengths[topic] = len(topic.encode())
    properties: list[str] = []
    total_body = 0
    total_size = 0
    for msg in msgs:
        if msg.topic != topic or msg.queue_id != first.queue_id:
            return _illegal("a batch must hold one topic and queue"), []
        text = encode_properties(msg.properties)
        size = len(text) if text.isascii() else len(text.encode())
        if size > MAX_PROPERTIES_BYTES:
            return PutMessageResult(
                PutMessageStatus.PROPERTIES_SIZE_EXCEEDED,
                None,
                f"properties are {size} bytes; the limit is {MAX_PROPERTIES_BYTES}",
            ), []
        if text.endswith("\x00"):
            # Recovery reads a record ending in zeros as torn (see layout.check_record).
            return _illegal("a property value must not end with a NUL character"), []
        properties.append(text)
        total_body += len(msg.body)
        total_size += _MAX_RECORD_OVERHEAD + len(msg.body) + topic_len + size
    if total_body > max_message_size:
        what = "message body" if len(msgs) == 1 else "batch bodies"
        return _illegal(f"{what} {total_body} bytes; maxMessageSize is {max_message_size}"), []
    if total_size > max_record_size:
        return _illegal(
            f"records of up to {total_size} bytes exceed the {max_record_size} bytes "
            "one commit log segment can hold"
        ), []
    return None, properties


def _illegal(remark: str) -> PutMessageResult:
    return PutMessageResult(PutMessageStatus.MESSAGE_ILLEGAL, None, remark)


def _topic_problem(topic: str) -> str | None:
    """Why `topic` cannot be stored, or None. It names a directory, so no path tricks."""
    size = len(topic.encode())
    if size == 0:
        return "topic is empty"
    if size > MAX_TOPIC_BYTES:
        return f"topic is {size} bytes; the limit is {MAX_TOPIC_BYTES}"
    if topic in (".", "..") or "/" in topic or "\x00" in topic:
        return f"topic {topic!r} is not a valid directory name"
    return None
