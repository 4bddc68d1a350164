"""queryMsgTraceById: the send and consume trace of a message
(tools/command/message/QueryMsgTraceByIdSubCommand.java, client/trace/TraceView.java).

Traced producers and consumers write Pub / SubBefore / SubAfter records to the trace topic,
indexed by message id (orbitmq/client/trace.py); the command finds them with QUERY_MESSAGE
and prints the Pub records, then the SubAfter records grouped by consumer group.
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any

import click

from orbitmq.admin.runner import (
    CommandError,
    admin_command,
    client_options,
    output,
    resolve_namesrv,
    run_command,
)
from orbitmq.client.admin import MQAdmin
from orbitmq.client.trace import TRACE_TOPIC, TraceType, decode_traces
from orbitmq.protocol.message import MessageExt

TRACE_ROW = "%-10s %-20s %-20s %-20s %-10s %-10s"


def trace_views(msg_id: str, trace_messages: list[MessageExt]) -> list[dict[str, Any]]:
    """TraceView.decodeFromTraceTransData: the records about `msg_id`; the client host is
    the host that sent the trace message."""
    views = []
    for message in trace_messages:
        for record in decode_traces(message.body):
            if record.msg_id != msg_id:
                continue
            views.append(
                {
                    "type": record.trace_type.value,
                    "group": record.group,
                    "clientHost": message.born_host[0],
                    "timestamp": record.timestamp,
                    "costTime": record.cost_time,
                    "status": "success" if record.success else "failed",
                    "topic": record.topic,
                    "tags": record.tags,
                    "keys": record.keys,
                    "storeHost": record.store_host,
                    "offsetMsgId": record.offset_msg_id,
                }
            )
    return views


def _row(kind: str, view: dict[str, Any]) -> str:
    when = _dt.datetime.fromtimestamp(view["timestamp"] / 1000).strftime("%Y-%m-%d %H:%M:%S")
    return TRACE_ROW % (
        kind, view["group"], view["clientHost"], when, f"{view['costTime']}ms", view["status"]
    )  # fmt: skip


def trace_lines(views: list[dict[str, Any]]) -> list[str]:
    """QueryMsgTraceByIdSubCommand.printMessageTrace."""
    lines = []
    consumers: dict[str, list[dict[str, Any]]] = {}
    for view in views:
        if view["type"] == TraceType.Pub.value:
            head = ("#Type", "#ProducerGroup", "#ClientHost", "#SendTime", "#CostTimes", "#Status")
            lines += [TRACE_ROW % head, _row("Pub", view), ""]
        elif view["type"] == TraceType.SubAfter.value:
            consumers.setdefault(view["group"], []).append(view)
    for group_views in consumers.values():
        head = ("#Type", "#ConsumerGroup", "#ClientHost", "#ConsumerTime", "#CostTimes", "#Status")
        lines.append(TRACE_ROW % head)
        lines += [_row("Sub", view) for view in group_views]
        lines.append("")
    return lines


@admin_command("queryMsgTraceById", help="query a message trace")
@click.option("-i", "--msgId", "msg_id", required=True, help="Message Id")
@click.option(
    "-t",
    "--traceTopic",
    "trace_topic",
    default=TRACE_TOPIC,
    help="The name value of message trace topic",
)
def query_msg_trace_by_id(namesrv_addr: str | None, msg_id: str, trace_topic: str) -> None:
    namesrv = resolve_namesrv(namesrv_addr)
    msg_id, trace_topic = msg_id.strip(), trace_topic.strip()

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            found = await admin.query_message(
                trace_topic, msg_id, 64, 0, time.time_ns() // 1_000_000
            )
        views = trace_views(msg_id, found)
        if not views:
            raise CommandError(f"no trace of message {msg_id} in topic {trace_topic}")
        output().lines(trace_lines(views))
        output().result(views)

    run_command("queryMsgTraceById", body())


COMMANDS = [query_msg_trace_by_id]
