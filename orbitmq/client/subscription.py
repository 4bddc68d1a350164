"""Tag subscription expressions, client side (FilterAPI.java, §5.8). Pure code.

`*` (or empty) matches every message. Otherwise the expression is tags separated by `||`,
each trimmed, empties dropped: `"TagA || TagB"` -> tagsSet [TagA, TagB], codeSet
[2598919, 2598920] (Java String.hashCode). Brokers filter by hash code; the client filters
again by the exact tag string, dropping messages without a tag.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from orbitmq.protocol.message import java_hash

SUB_ALL = "*"
EXPRESSION_TYPE_TAG = "TAG"


@dataclass(slots=True)
class SubscriptionData:
    """What a consumer group wants from one topic."""

    topic: str
    sub_string: str = SUB_ALL
    tags_set: list[str] = field(default_factory=list)
    code_set: list[int] = field(default_factory=list)
    sub_version: int = 0
    expression_type: str = EXPRESSION_TYPE_TAG

    @property
    def matches_all(self) -> bool:
        return not self.tags_set

    def matches(self, tags: str | None) -> bool:
        """Exact client-side filter on a message's TAGS value."""
        return not self.tags_set or (tags is not None and tags in self.tags_set)

    def to_json(self) -> dict[str, object]:
        """As in a heartbeat's subscriptionDataSet (Java member names)."""
        return {
            "classFilterMode": False,
            "codeSet": list(self.code_set),
            "expressionType": self.expression_type,
            "subString": self.sub_string,
            "subVersion": self.sub_version,
            "tagsSet": list(self.tags_set),
            "topic": self.topic,
        }


def parse_subscription(
    topic: str, expression: str | None = SUB_ALL, sub_version: int | None = None
) -> SubscriptionData:
    """Build SubscriptionData from a TAG expression.

    Args:
        topic: the subscribed topic.
        expression: `*`, empty/None, or `TagA || TagB`.
        sub_version: version (ms); defaults to the current time.

    Raises:
        ValueError: the expression names no tag at all (e.g. `"||"`).
    """
    version = sub_version if sub_version is not None else time.time_ns() // 1_000_000
    text = (expression or "").strip()
    if not text or text == SUB_ALL:
        return SubscriptionData(topic, SUB_ALL, [], [], version)
    tags: list[str] = []
    for piece in text.split("||"):
        tag = piece.strip()
        if tag and tag not in tags:
            tags.append(tag)
    if not tags:
        raise ValueError(f"subscription expression {expression!r} names no tag")
    return SubscriptionData(topic, text, tags, [java_hash(t) for t in tags], version)
