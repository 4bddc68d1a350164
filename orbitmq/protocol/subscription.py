"""Tag subscription expressions (FilterAPI.java, §5.8), for the broker and the client.

`*` (or empty) matches every message. Otherwise the expression is tags separated by `||`,
each trimmed, empties and repeats dropped: `"TagA || TagB"` -> tagsSet [TagA, TagB],
codeSet [2598919, 2598920] (Java String.hashCode). Brokers filter by hash code
(`code_set`); the client filters again by the exact tag string (`matches`), dropping
messages without a tag.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orbitmq.protocol.message import java_hash

SUB_ALL = "*"
EXPRESSION_TYPE_TAG = "TAG"


class CodeSet(frozenset[int]):
    """Tag hash codes: a frozenset (C-speed `in`, the broker's pull filter) that
    remembers the order of its tags for the heartbeat's `codeSet` list.

    Equal to a set with the same codes, or to a list or tuple of them in tag order.
    """

    __slots__ = ("_order",)
    _order: tuple[int, ...]

    def __new__(cls, codes: Iterable[int] = ()) -> CodeSet:
        order = tuple(dict.fromkeys(codes))
        self = super().__new__(cls, order)
        self._order = order
        return self

    def __iter__(self) -> Any:
        return iter(self._order)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list | tuple):
            return list(self._order) == list(other)
        return frozenset.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = frozenset.__hash__

    def __repr__(self) -> str:
        return f"CodeSet({list(self._order)!r})"


@dataclass(slots=True)
class SubscriptionData:
    """What a consumer group wants from one topic."""

    topic: str
    sub_string: str = SUB_ALL
    tags_set: list[str] = field(default_factory=list)
    code_set: CodeSet = field(default_factory=CodeSet)
    sub_version: int = 0
    expression_type: str = EXPRESSION_TYPE_TAG

    @property
    def matches_all(self) -> bool:
        return self.sub_string == SUB_ALL or not self.tags_set

    def matches_tags_code(self, tags_code: int) -> bool:
        """The broker's filter on a consume-queue unit's tags hash code."""
        return self.matches_all or tags_code in self.code_set

    def matches(self, tags: str | None) -> bool:
        """Exact client-side filter on a message's TAGS value, after the broker's."""
        return self.matches_all or (tags is not None and tags in self.tags_set)

    def to_json(self) -> dict[str, Any]:
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
    if expression is None or expression.strip() in ("", SUB_ALL):
        return SubscriptionData(topic, SUB_ALL, [], CodeSet(), version)
    tags = list(dict.fromkeys(t for piece in expression.split("||") if (t := piece.strip())))
    if not tags:
        raise ValueError(f"subscription expression {expression!r} names no tag")
    # Java keeps the expression as written (FilterAPI.buildSubscriptionData).
    return SubscriptionData(topic, expression, tags, CodeSet(java_hash(t) for t in tags), version)


def subscription_from_json(data: dict[str, Any]) -> SubscriptionData:
    """From a heartbeat. Hash codes are recomputed: C++ sends atoi(tag) as `codeSet`."""
    topic = str(data.get("topic", ""))
    sub_string = str(data.get("subString") or SUB_ALL)
    try:
        sub_version = int(data.get("subVersion") or 0)
    except (TypeError, ValueError):
        sub_version = 0
    tags = [str(t) for t in data.get("tagsSet") or [] if str(t).strip()]
    try:
        result = parse_subscription(topic, sub_string, sub_version)
    except ValueError:  # "||": a heartbeat is stored, not refused; tagsSet decides
        result = SubscriptionData(topic, SUB_ALL, [], CodeSet(), sub_version)
    if tags and result.tags_set != tags:
        result.tags_set = tags
        result.code_set = CodeSet(java_hash(t) for t in tags)
    result.expression_type = str(data.get("expressionType") or EXPRESSION_TYPE_TAG)
    return result
