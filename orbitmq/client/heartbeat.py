"""HEART_BEAT (34) bodies and the client id (HeartbeatData.java, §3.3). Pure code.

  {"clientID": "<ip>@<pid>#<ns>",
   "producerDataSet": [{"groupName": "PG"}],
   "consumerDataSet": [{"groupName", "consumeType", "messageModel", "consumeFromWhere",
                        "unitMode", "subscriptionDataSet": [SubscriptionData...]}]}
Enums are written by name, as Java clients do.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import orjson

from orbitmq.client.message import local_ipv4
from orbitmq.protocol.subscription import SubscriptionData

CONSUME_ACTIVELY = "CONSUME_ACTIVELY"
CONSUME_PASSIVELY = "CONSUME_PASSIVELY"
CLUSTERING = "CLUSTERING"
BROADCASTING = "BROADCASTING"
CONSUME_FROM_LAST_OFFSET = "CONSUME_FROM_LAST_OFFSET"
CONSUME_FROM_FIRST_OFFSET = "CONSUME_FROM_FIRST_OFFSET"
CONSUME_FROM_TIMESTAMP = "CONSUME_FROM_TIMESTAMP"

MESSAGE_MODELS = (CLUSTERING, BROADCASTING)
CONSUME_FROM_WHERE = (CONSUME_FROM_LAST_OFFSET, CONSUME_FROM_FIRST_OFFSET, CONSUME_FROM_TIMESTAMP)


def make_client_id(instance_name: str | None = None, ip: str | None = None) -> str:
    """`<ip>@<pid>#<monotonic ns>`; `instance_name` replaces everything after the '@'."""
    ip = ip or local_ipv4()
    if instance_name:
        return f"{ip}@{instance_name}"
    return f"{ip}@{os.getpid()}#{time.monotonic_ns()}"


@dataclass(slots=True)
class ConsumerData:
    """One consumer group's entry in a heartbeat."""

    group_name: str
    consume_type: str = CONSUME_PASSIVELY
    message_model: str = CLUSTERING
    consume_from_where: str = CONSUME_FROM_LAST_OFFSET
    subscriptions: list[SubscriptionData] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "consumeFromWhere": self.consume_from_where,
            "consumeType": self.consume_type,
            "groupName": self.group_name,
            "messageModel": self.message_model,
            "subscriptionDataSet": [s.to_json() for s in self.subscriptions],
            "unitMode": False,
        }


def heartbeat_body(
    client_id: str,
    producer_groups: list[str] | None = None,
    consumers: list[ConsumerData] | None = None,
) -> bytes:
    """Encode a HeartbeatData body (compact JSON)."""
    return orjson.dumps(
        {
            "clientID": client_id,
            "consumerDataSet": [c.to_json() for c in consumers or []],
            "producerDataSet": [{"groupName": g} for g in producer_groups or []],
        }
    )
