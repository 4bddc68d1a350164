"""Bodies of requests brokers send to consumers (§3.6). Pure code.

RESET_CONSUMER_CLIENT_OFFSET (220) body, two forms:
  Java (fastjson object keys): {"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:5}}
  C++ list form:               {"offsetTable":[{"brokerName":"b","queueId":0,"topic":"t",
                                                "offset":5}]}
GET_CONSUMER_RUNNING_INFO (307) answer: ConsumerRunningInfo in fastjson's shape (its
mqTable has MessageQueue object keys, see running_info.py; its statusTable has a
ConsumeStatus per subscribed topic, see consume_stats.py); no jstack.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import orjson

from orbitmq.client.message import MessageQueue
from orbitmq.protocol import fastjson
from orbitmq.protocol.fastjson import ObjectKey
from orbitmq.protocol.subscription import SubscriptionData

_OBJECT_KEY_ENTRY = re.compile(rb"(\{[^{}]*\})\s*:\s*(-?\d+)")


def _mq_from(raw: dict[str, Any]) -> MessageQueue:
    return MessageQueue(str(raw["topic"]), str(raw["brokerName"]), int(raw["queueId"]))


def parse_reset_offsets(body: bytes) -> dict[MessageQueue, int]:
    """Decode a RESET_CONSUMER_CLIENT_OFFSET body in either form; bad entries are skipped."""
    table: dict[MessageQueue, int] = {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("offsetTable"), list):
        for item in data["offsetTable"]:
            try:
                table[_mq_from(item)] = int(item["offset"])
            except (KeyError, TypeError, ValueError):
                continue
        return table
    if isinstance(data, dict) and isinstance(data.get("offsetTable"), dict):
        entries = data["offsetTable"].items()
        pairs = [(k.encode() if isinstance(k, str) else b"", v) for k, v in entries]
    else:
        pairs = [(m.group(1), m.group(2)) for m in _OBJECT_KEY_ENTRY.finditer(body)]
    for key, value in pairs:
        try:
            table[_mq_from(orjson.loads(key))] = int(value)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return table


def running_info_body(
    consume_type: str,
    thread_max: int,
    start_timestamp: int,
    subscriptions: list[SubscriptionData],
    orderly: bool = False,
    mq_table: Mapping[ObjectKey, dict[str, Any]] | None = None,
    status_table: Mapping[str, dict[str, Any]] | None = None,
) -> bytes:
    """ConsumerRunningInfo: properties, subscriptions, `mq_table` (ProcessQueueInfo by
    MessageQueue key, running_info.mq_table) and `status_table` (ConsumeStatus by topic,
    ConsumerStatsManager.consume_status)."""
    return fastjson.dumps(
        {
            "jstack": "",
            "mqTable": mq_table or {},
            "properties": {
                "PROP_CONSUME_TYPE": consume_type,
                "PROP_CONSUMEORDERLY": "true" if orderly else "false",
                "PROP_THREADPOOL_CORE_SIZE": str(thread_max),
                "PROP_CONSUMER_START_TIMESTAMP": str(start_timestamp),
                "PROP_CLIENT_SDK_VERSION": "orbitmq-python",
            },
            "statusTable": dict(status_table or {}),
            "subscriptionSet": [s.to_json() for s in subscriptions],
        }
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000
