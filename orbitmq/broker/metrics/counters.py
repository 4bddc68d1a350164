"""What the broker did, counted in plain dicts and lists (the hot-path half of metrics).

The send lane, the send and pull handlers and the request dispatcher add integers here,
once per read batch where there is one; nothing here knows prometheus-client. The
collector (collector.py) turns these tables into metric families at scrape time, on the
event loop, so no lock is needed.

Tables (keys hold raw values; label text is made at scrape time):
  messages_in    (topic, message_type) -> [messages, bytes, size bucket counts..., +Inf]
  messages_out   (topic, consumer_group) -> [messages, bytes]
  pull_offsets   (consumer_group, topic, queue_id) -> next offset the group pulls from
  send_to_dlq    (topic, consumer_group) -> messages
  rpc            (request_code, response_code, is_long_polling, oneway)
                     -> [latency bucket counts..., +Inf, sum of ms]
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any

NORMAL = "normal"
FIFO = "fifo"
TRANSACTION = "transaction"
DELAY = "delay"

# RocketMQ 5's views: message sizes 1 KB .. 4 MB, RPC latency 1 ms .. 3 s (upper bounds).
MESSAGE_SIZE_BOUNDS: tuple[int, ...] = (
    1024,
    4 * 1024,
    512 * 1024,
    1024 * 1024,
    2 * 1024 * 1024,
    4 * 1024 * 1024,
)
RPC_LATENCY_BOUNDS_MS: tuple[float, ...] = (1, 3, 5, 7, 10, 100, 1000, 2000, 3000)

SHARDING_KEY = "__SHARDINGKEY"  # MessageConst.PROPERTY_SHARDING_KEY: set on FIFO messages
_SHARDING_KEY_FIELD = (SHARDING_KEY + "\x01").encode()
_TIMER_PROPERTIES = ("__STARTDELIVERTIME", "TIMER_DELIVER_MS", "TIMER_DELAY_SEC", "TIMER_DELAY_MS")

_IN_COUNT, _IN_BYTES, _IN_BUCKETS = 0, 1, 2
_SIZE_SLOTS = len(MESSAGE_SIZE_BOUNDS) + 1
_RPC_SLOTS = len(RPC_LATENCY_BOUNDS_MS) + 1


def message_type(properties: Mapping[str, str], *, prepared: bool, delayed: bool) -> str:
    """BrokerMetricsManager.getMessageType: transaction, then FIFO, then delay."""
    if prepared:
        return TRANSACTION
    if SHARDING_KEY in properties:
        return FIFO
    if delayed or any(name in properties for name in _TIMER_PROPERTIES):
        return DELAY
    return NORMAL


class RpcLatency:
    """Every answered request: how long from reading it to answering, in ms buckets."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: dict[tuple[int, int, bool, bool], list[Any]] = {}

    def record(
        self,
        request_code: int,
        response_code: int,
        long_polling: bool,
        oneway: bool,
        seconds: float,
        count: int = 1,
    ) -> None:
        """`count` requests of one kind answered `seconds` after they were read."""
        key = (request_code, response_code, long_polling, oneway)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = [0] * _RPC_SLOTS + [0.0]
        ms = seconds * 1000.0
        row[bisect_left(RPC_LATENCY_BOUNDS_MS, ms)] += count
        row[_RPC_SLOTS] += ms * count


class BrokerMetrics:
    """The broker's counters; one per broker, present only when an exporter is on."""

    __slots__ = ("messages_in", "messages_out", "pull_offsets", "rpc", "send_to_dlq")

    def __init__(self) -> None:
        self.messages_in: dict[tuple[str, str], list[int]] = {}
        self.messages_out: dict[tuple[str, str], list[int]] = {}
        self.pull_offsets: dict[tuple[str, str, int], int] = {}
        self.send_to_dlq: dict[tuple[str, str], int] = {}
        self.rpc = RpcLatency()

    def _in_row(self, topic: str, kind: str) -> list[int]:
        row = self.messages_in.get((topic, kind))
        if row is None:
            row = self.messages_in[(topic, kind)] = [0, 0] + [0] * _SIZE_SLOTS
        return row

    def record_put(self, topic: str, kind: str, count: int, wrote_bytes: int) -> None:
        """`count` messages a producer sent were stored in `wrote_bytes` of commit log
        (a batch counts each message, at the batch's mean record size)."""
        row = self._in_row(topic, kind)
        row[_IN_COUNT] += count
        row[_IN_BYTES] += wrote_bytes
        row[_IN_BUCKETS + bisect_left(MESSAGE_SIZE_BOUNDS, wrote_bytes // count)] += count

    def record_sends(
        self, entries: Sequence[tuple[Any, ...]], sizes: Sequence[int], first: int, stop: int
    ) -> None:
        """The send lane stored entries first..stop (SendEntry tuples: topic first,
        encoded properties tenth) as records of `sizes` bytes."""
        bounds = MESSAGE_SIZE_BOUNDS
        topic: str | None = None
        kind = NORMAL
        row: list[int] = []
        for i in range(first, stop):
            entry = entries[i]
            entry_kind = FIFO if _SHARDING_KEY_FIELD in entry[9] else NORMAL
            if entry[0] != topic or entry_kind is not kind:  # a read mostly has one topic
                topic = entry[0]
                kind = entry_kind
                row = self._in_row(topic, kind)
            size = sizes[i]
            row[_IN_COUNT] += 1
            row[_IN_BYTES] += size
            row[_IN_BUCKETS + bisect_left(bounds, size)] += 1

    def record_pull(
        self,
        topic: str,
        group: str,
        queue_id: int,
        count: int,
        size: int,
        next_begin_offset: int,
    ) -> None:
        """A pull delivered `count` messages of `size` bytes; the group goes on from
        `next_begin_offset`."""
        key = (topic, group)
        row = self.messages_out.get(key)
        if row is None:
            row = self.messages_out[key] = [0, 0]
        row[0] += count
        row[1] += size
        self.pull_offsets[(group, topic, queue_id)] = next_begin_offset

    def record_dlq(self, topic: str, group: str) -> None:
        """A message of `topic` consumed by `group` was stored in the group's DLQ."""
        key = (topic, group)
        self.send_to_dlq[key] = self.send_to_dlq.get(key, 0) + 1
