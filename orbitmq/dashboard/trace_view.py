"""A message's trace as the MessageTrace page shows it (rocketmq-dashboard's
MessageTraceServiceImpl): the send, then each consume attempt per group, and a timeline.

Records come from the trace topic (orbitmq/client/trace.py decodes them); the client host
of a record is the host that sent its trace message. A consume attempt is a SubBefore
record (begin, retries) joined to the SubAfter record of the same request id (cost,
outcome); a send that the producer retried leaves one Pub record per attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orbitmq.client.trace import ConsumeReturnType, TraceRecord, TraceType, decode_traces
from orbitmq.protocol.message import MessageConst, MessageExt

# TraceBean.MessageType, by ordinal.
MESSAGE_TYPES = ("Normal_Msg", "Trans_Msg_Half", "Trans_msg_Commit", "Delay_Msg")
MIN_BAR_PERCENT = 0.8


@dataclass(frozen=True, slots=True)
class SendView:
    group: str
    topic: str
    tags: str
    keys: str
    time: int
    cost: int
    status: str
    store_host: str
    client_host: str
    retries: int
    msg_type: str
    offset_msg_id: str


@dataclass(frozen=True, slots=True)
class ConsumeView:
    group: str
    request_id: str
    begin: int
    end: int
    cost: int
    status: str
    retries: int
    client_host: str


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    kind: str  # send, ok, failed
    left: float
    width: float
    begin: int
    end: int


@dataclass(slots=True)
class MessageTraceView:
    msg_id: str
    send: SendView | None = None
    consumes: dict[str, list[ConsumeView]] = field(default_factory=dict)
    bars: list[Bar] = field(default_factory=list)


def _about(record: TraceRecord, query: str) -> bool:
    keys = (record.keys or "").split(MessageConst.KEY_SEPARATOR)
    return record.msg_id == query or query in keys


def _null(text: str | None) -> str:
    return "-" if text in (None, "", "null") else str(text)


def send_view(pubs: list[tuple[TraceRecord, str]]) -> SendView:
    """The last successful Pub record (else the last one); earlier ones were retries."""
    record, client = next((p for p in reversed(pubs) if p[0].success), pubs[-1])
    msg_type = record.msg_type
    return SendView(
        group=record.group,
        topic=record.topic,
        tags=_null(record.tags),
        keys=_null(record.keys),
        time=record.timestamp,
        cost=record.cost_time,
        status="SUCCESS" if record.success else "FAILED",
        store_host=record.store_host,
        client_host=client,
        retries=len(pubs) - 1,
        msg_type=MESSAGE_TYPES[msg_type] if 0 <= msg_type < len(MESSAGE_TYPES) else str(msg_type),
        offset_msg_id=record.offset_msg_id,
    )


def consume_status(after: TraceRecord | None) -> str:
    if after is None:
        return "UNKNOWN"
    if after.success:
        return "SUCCESS"
    try:
        return ConsumeReturnType(after.context_code).name
    except ValueError:
        return "FAILED"


def consume_views(
    befores: list[tuple[TraceRecord, str]], afters: list[tuple[TraceRecord, str]]
) -> list[ConsumeView]:
    after_of = {record.request_id: record for record, _ in afters}
    views = []
    for before, client in befores:
        after = after_of.pop(before.request_id, None)
        cost = after.cost_time if after else 0
        views.append(
            ConsumeView(
                before.group, before.request_id, before.timestamp, before.timestamp + cost,
                cost, consume_status(after), before.retry_times, client,
            )
        )  # fmt: skip
    for record, client in afters:  # a SubAfter whose SubBefore is missing
        if record.request_id in after_of:
            begin = record.timestamp - record.cost_time if record.timestamp else 0
            views.append(
                ConsumeView(
                    record.group, record.request_id, begin, record.timestamp,
                    record.cost_time, consume_status(record), 0, client,
                )
            )  # fmt: skip
    return sorted(views, key=lambda v: (v.begin, v.request_id))


def timeline(view: MessageTraceView) -> list[Bar]:
    """Bars placed by time across the span from the send to the last consume's end."""
    spans: list[tuple[str, str, int, int]] = []
    if view.send is not None and view.send.time:
        kind = "send" if view.send.status == "SUCCESS" else "failed"
        spans.append(
            (f"send {view.send.group}", kind, view.send.time, view.send.time + view.send.cost)
        )
    for group, consumes in view.consumes.items():
        for c in consumes:
            if c.begin:
                kind = "ok" if c.status == "SUCCESS" else "failed"
                spans.append((f"{group} #{c.retries}", kind, c.begin, max(c.end, c.begin)))
    if not spans:
        return []
    first = min(s[2] for s in spans)
    span = max(max(s[3] for s in spans) - first, 1)
    bars = []
    for label, kind, begin, end in spans:
        left = (begin - first) / span * 100
        width = max((end - begin) / span * 100, MIN_BAR_PERCENT)
        bars.append(Bar(label, kind, round(min(left, 100 - width), 2), round(width, 2), begin, end))
    return bars


def trace_views(trace_messages: list[MessageExt], query: str) -> list[MessageTraceView]:
    """The traces of the messages whose id is `query` or whose keys include it."""
    by_msg: dict[str, dict[TraceType, list[tuple[TraceRecord, str]]]] = {}
    for message in trace_messages:
        client = message.born_host[0]
        for record in decode_traces(message.body):
            if _about(record, query):
                kinds = by_msg.setdefault(record.msg_id, {})
                kinds.setdefault(record.trace_type, []).append((record, client))
    views = []
    for msg_id, kinds in by_msg.items():
        view = MessageTraceView(msg_id)
        pubs = sorted(kinds.get(TraceType.Pub, []), key=lambda p: p[0].timestamp)
        if pubs:
            view.send = send_view(pubs)
        for c in consume_views(
            kinds.get(TraceType.SubBefore, []), kinds.get(TraceType.SubAfter, [])
        ):
            view.consumes.setdefault(c.group, []).append(c)
        view.bars = timeline(view)
        views.append(view)
    return sorted(views, key=lambda v: (v.send.time if v.send else 0, v.msg_id))
