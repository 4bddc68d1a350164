"""Dead letters as a download: JSON lines or CSV, one message a line, with the body in
base64 so any bytes survive (rocketmq-dashboard writes xlsx; these need no library and load
anywhere)."""

from __future__ import annotations

import base64
import csv
import io

import orjson

from orbitmq.dashboard.pages.common import format_ms
from orbitmq.protocol.message import MessageExt

FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
CSV_COLUMNS = (
    "msgId", "offsetMsgId", "topic", "keys", "tags", "storeTimestamp", "storeTime",
    "reconsumeTimes", "properties", "bodyBase64",
)  # fmt: skip


def export_row(msg: MessageExt) -> dict[str, object]:
    return {
        "msgId": msg.msg_id,
        "offsetMsgId": msg.offset_msg_id,
        "topic": msg.topic,
        "keys": " ".join(msg.keys),
        "tags": msg.tags or "",
        "storeTimestamp": msg.store_timestamp,
        "storeTime": format_ms(msg.store_timestamp),
        "reconsumeTimes": msg.reconsume_times,
        "properties": dict(sorted(msg.properties.items())),
        "bodyBase64": base64.b64encode(msg.body).decode("ascii"),
    }


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: object) -> object:
    """A text cell a spreadsheet shows as text: a leading quote before a formula start."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def export_text(messages: list[MessageExt], fmt: str) -> bytes:
    """The messages as `fmt` ("jsonl" or "csv"; properties as a JSON object in CSV, and
    text cells that a spreadsheet would run as a formula quoted with a leading ')."""
    rows = [export_row(m) for m in messages]
    if fmt == "jsonl":
        return b"".join(orjson.dumps(row) + b"\n" for row in rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in rows:
        cells = {**row, "properties": orjson.dumps(row["properties"]).decode()}
        writer.writerow({name: _inert(value) for name, value in cells.items()})
    return out.getvalue().encode("utf-8")
