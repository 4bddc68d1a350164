"""Message trace: send and consume records in RMQ_SYS_TRACE_TOPIC (client/.../trace in
apache/rocketmq: TraceDataEncoder, AsyncTraceDispatcher, the send/consume trace hooks).

A record is fields separated by \\x01 and ended by \\x02 (TraceDataEncoder); one trace
message carries many records, and its KEYS are the message ids (and keys) they are about,
so the broker's index finds them by message id:

  Pub        type|timestamp|regionId|group|topic|msgId|tags|keys|storeHost|bodyLength|
             costTime|msgType|offsetMsgId|success
  SubBefore  type|timestamp|regionId|group|requestId|msgId|retryTimes|keys
  SubAfter   type|requestId|msgId|costTime|success|keys|contextCode|timestamp|group

`TraceDispatcher` collects records from the send/consume paths without blocking them
and sends them in the background (one message per batch, through its own producer in
group `_INNER_TRACE_PRODUCER-<group>`); a failed trace send is logged and dropped.
Closing lets the background loop send what is queued, for up to CLOSE_TIMEOUT seconds
(AsyncTraceDispatcher.shutdown also waits for its queue), then drops and counts the rest.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from orbitmq.client.message import Message, SendResult, SendStatus, create_uniq_id
from orbitmq.protocol.message import MessageConst, MessageExt, decode_offset_msg_id

log = logging.getLogger(__name__)

TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC"
TRACE_PRODUCER_GROUP_PREFIX = "_INNER_TRACE_PRODUCER-"
CONTENT_SPLITOR = "\x01"
FIELD_SPLITOR = "\x02"
DEFAULT_REGION = "DefaultRegion"
MAX_BATCH_RECORDS = 100
MAX_BATCH_BYTES = 128 * 1024
CLOSE_TIMEOUT = 3.0


class TraceType(enum.Enum):
    Pub = "Pub"
    SubBefore = "SubBefore"
    SubAfter = "SubAfter"


class ConsumeReturnType(enum.IntEnum):
    """The contextCode of a SubAfter record."""

    SUCCESS = 0
    TIME_OUT = 1
    EXCEPTION = 2
    RETURNNULL = 3
    FAILED = 4


def _java_bool(value: bool) -> str:
    return "true" if value else "false"


def _text(value: object) -> str:
    return "null" if value is None else str(value)


@dataclass(slots=True)
class TraceRecord:
    """One trace record; which fields are set depends on `trace_type`."""

    trace_type: TraceType
    msg_id: str
    timestamp: int = 0
    region_id: str = DEFAULT_REGION
    group: str = ""
    topic: str = ""
    tags: str | None = None
    keys: str | None = None
    store_host: str = ""
    body_length: int = 0
    cost_time: int = 0
    msg_type: int = 0  # 0 normal, 1 half, 2 commit, 3 delay (TraceBean.MessageType ordinal)
    offset_msg_id: str = ""
    success: bool = True
    request_id: str = ""
    retry_times: int = 0
    context_code: int = 0
    fields: list[str] = field(default_factory=list)  # as decoded

    def encode(self) -> str:
        t = self.trace_type
        if t is TraceType.Pub:
            parts = [
                t.value,
                str(self.timestamp),
                self.region_id,
                self.group,
                self.topic,
                self.msg_id,
                _text(self.tags),
                _text(self.keys),
                self.store_host,
                str(self.body_length),
                str(self.cost_time),
                str(self.msg_type),
                self.offset_msg_id,
                _java_bool(self.success),
            ]
        elif t is TraceType.SubBefore:
            parts = [
                t.value,
                str(self.timestamp),
                self.region_id,
                self.group,
                self.request_id,
                self.msg_id,
                str(self.retry_times),
                _text(self.keys),
            ]
        else:
            parts = [
                t.value,
                self.request_id,
                self.msg_id,
                str(self.cost_time),
                _java_bool(self.success),
                _text(self.keys),
                str(self.context_code),
                str(self.timestamp),
                self.group,
            ]
        return CONTENT_SPLITOR.join(parts) + FIELD_SPLITOR

    def index_keys(self) -> set[str]:
        """What the trace message is indexed under: the message id and its keys."""
        keys = {self.msg_id}
        if self.keys:
            keys.update(k for k in self.keys.split(MessageConst.KEY_SEPARATOR) if k)
        return keys


def decode_traces(data: str | bytes) -> list[TraceRecord]:
    """TraceDataEncoder.decoderFromTraceDataString; unknown record types are skipped."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    records = []
    for raw in text.split(FIELD_SPLITOR):
        parts = raw.split(CONTENT_SPLITOR)
        try:
            kind = TraceType(parts[0])
        except ValueError:
            continue
        try:
            if kind is TraceType.Pub:
                record = TraceRecord(
                    kind,
                    parts[5],
                    timestamp=int(parts[1]),
                    region_id=parts[2],
                    group=parts[3],
                    topic=parts[4],
                    tags=parts[6],
                    keys=parts[7],
                    store_host=parts[8],
                    body_length=int(parts[9]),
                    cost_time=int(parts[10]),
                    msg_type=int(parts[11]),
                    offset_msg_id=parts[12] if len(parts) > 12 else "",
                    success=len(parts) <= 13 or parts[13] == "true",
                )
            elif kind is TraceType.SubBefore:
                record = TraceRecord(
                    kind,
                    parts[5],
                    timestamp=int(parts[1]),
                    region_id=parts[2],
                    group=parts[3],
                    request_id=parts[4],
                    retry_times=int(parts[6]),
                    keys=parts[7],
                )
            else:
                record = TraceRecord(
                    kind,
                    parts[2],
                    request_id=parts[1],
                    cost_time=int(parts[3]),
                    success=parts[4] == "true",
                    keys=parts[5],
                    context_code=int(parts[6]) if len(parts) > 6 else 0,
                    timestamp=int(parts[7]) if len(parts) > 7 else 0,
                    group=parts[8] if len(parts) > 8 else "",
                )
        except (IndexError, ValueError):
            continue
        record.fields = parts
        records.append(record)
    return records


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class TraceDispatcher:
    """Collects trace records and sends them to the trace topic in the background.

    Args:
        namesrv_addr: NameServers of the cluster the traces go to.
        group: the traced client's group (names the inner producer).
        trace_topic: RMQ_SYS_TRACE_TOPIC unless the broker uses another one.
        client_options: the traced client's `credentials` and `tls`, used for its traces.
    """

    def __init__(
        self,
        namesrv_addr: str,
        group: str,
        trace_topic: str | None = None,
        **client_options: Any,
    ) -> None:
        from orbitmq.client.producer import Producer  # a producer is part of a dispatcher

        self.trace_topic = trace_topic or TRACE_TOPIC
        self.group = group
        self._producer = Producer(
            TRACE_PRODUCER_GROUP_PREFIX + group, namesrv_addr, **client_options
        )
        self._pending: list[TraceRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.sent_records = 0
        self.dropped_records = 0

    async def start(self) -> None:
        if self._task is None:
            await self._producer.start()
            self._task = asyncio.get_running_loop().create_task(
                self._send_loop(), name="_trace_dispatch_loop"
            )

    def add(self, records: list[TraceRecord]) -> None:
        """Queue records (never blocks; dropped if the dispatcher is not running)."""
        if self._task is None or self._task.done():
            self.dropped_records += len(records)
            return
        self._pending.extend(records)
        self._wake.set()

    async def flush(self) -> None:
        """Send everything queued so far."""
        while self._pending:
            batch: list[TraceRecord] = []
            size = 0
            while self._pending and len(batch) < MAX_BATCH_RECORDS and size < MAX_BATCH_BYTES:
                record = self._pending.pop(0)
                batch.append(record)
                size += len(record.encode())
            await self._send(batch)

    async def _send(self, batch: list[TraceRecord]) -> None:
        keys: set[str] = set()
        for record in batch:
            keys |= record.index_keys()
        body = "".join(r.encode() for r in batch).encode()
        message = Message(self.trace_topic, body, keys=sorted(keys))
        try:
            await self._producer.send(message)
            self.sent_records += len(batch)
        except asyncio.CancelledError:
            self.dropped_records += len(batch)  # closing ran out of time mid-send
            raise
        except Exception as exc:
            self.dropped_records += len(batch)
            log.warning("sending %d trace records failed: %s", len(batch), exc)

    async def _send_loop(self) -> None:
        """Send batches as records come; once closing, send what is left and end."""
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def aclose(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Let the loop send what is queued (up to `timeout` seconds), then stop; records
        still unsent then are dropped, and how many is logged."""
        if self._task is None:
            return
        task, self._task = self._task, None  # add() drops from here on
        self._closing = True
        self._wake.set()
        dropped_before = self.dropped_records
        done, _ = await asyncio.wait([task], timeout=timeout)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.dropped_records += len(self._pending)
        self._pending.clear()
        dropped = self.dropped_records - dropped_before
        if dropped:
            log.warning(
                "trace dispatcher of %s closed: %d trace records dropped (%d sent in all)",
                self.group,
                dropped,
                self.sent_records,
            )
        await self._producer.shutdown()

    # Hooks -------------------------------------------------------------------------------
    def on_send(self, group: str, msg: Message, result: SendResult, started: float) -> None:
        """A Pub record for one sent message (SendMessageTraceHookImpl); `started` is the
        monotonic time the send began.

        As in Java, the record's timestamp is when the send began (TraceContext's creation
        in sendMessageBefore), its cost the time from then to the answer, and it counts as
        a success only for SEND_OK.
        """
        if msg.topic == self.trace_topic:
            return
        cost_ms = int((time.monotonic() - started) * 1000)
        begin_ms = now_ms() - cost_ms
        try:
            ip, port, _ = decode_offset_msg_id(result.offset_msg_id)
            store_host = f"{ip}:{port}"
        except ValueError:
            store_host = ""
        self.add(
            [
                TraceRecord(
                    TraceType.Pub,
                    result.msg_id,
                    timestamp=begin_ms,
                    group=group,
                    topic=msg.topic,
                    tags=msg.tags,
                    keys=msg.keys_text,
                    store_host=store_host,
                    body_length=len(msg.body),
                    cost_time=cost_ms,
                    msg_type=3 if msg.delay_time_level > 0 else 0,
                    offset_msg_id=result.offset_msg_id,
                    success=result.status is SendStatus.SEND_OK,
                )
            ]
        )

    def before_consume(self, group: str, msgs: list[MessageExt]) -> str:
        """SubBefore records for one listener call; returns its request id."""
        request_id = create_uniq_id()
        stamp = now_ms()
        self.add(
            [
                TraceRecord(
                    TraceType.SubBefore,
                    msg.msg_id,
                    timestamp=stamp,
                    region_id=msg.properties.get("MSG_REGION", DEFAULT_REGION),
                    group=group,
                    request_id=request_id,
                    retry_times=msg.reconsume_times,
                    keys=msg.properties.get(MessageConst.KEYS),
                )
                for msg in msgs
                if msg.topic != self.trace_topic
            ]
        )
        return request_id

    def after_consume(
        self,
        group: str,
        msgs: list[MessageExt],
        request_id: str,
        cost_ms: int,
        success: bool,
        code: ConsumeReturnType,
    ) -> None:
        """SubAfter records (ConsumeMessageTraceHookImpl.consumeMessageAfter)."""
        stamp = now_ms()
        self.add(
            [
                TraceRecord(
                    TraceType.SubAfter,
                    msg.msg_id,
                    timestamp=stamp,
                    group=group,
                    request_id=request_id,
                    cost_time=cost_ms,
                    success=success,
                    keys=msg.properties.get(MessageConst.KEYS),
                    context_code=int(code),
                )
                for msg in msgs
                if msg.topic != self.trace_topic
            ]
        )
