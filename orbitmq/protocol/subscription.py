"""Tag subscription expressions (FilterAPI.java): `*`, or tags separated by `||`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orbitmq.protocol.message import java_hash

SUB_ALL = "*"


@dataclass(slots=True)
class SubscriptionData:
    topic: str
    sub_string: str = SUB_ALL
    tags_set: list[str] = field(default_factory=list)
    code_set: set[int] = field(default_factory=set)
    sub_version: int = 0
    expression_type: str = "TAG"

    @property
    def matches_all(self) -> bool:
        return self.sub_string == SUB_ALL or not self.tags_set

    def matches_tags_code(self, tags_code: int) -> bool:
        return self.matches_all or tags_code in self.code_set

    def matches_tag(self, tag: str | None) -> bool:
        """The client-side exact re-check, after the broker's hash filter."""
        return self.matches_all or (tag is not None and tag in self.tags_set)

    def to_json(self) -> dict[str, Any]:
        return {
            "classFilterMode": False,
            "codeSet": sorted(self.code_set),
            "expressionType": self.expression_type,
            "subString": self.sub_string,
            "subVersion": self.sub_version,
            "tagsSet": list(self.tags_set),
            "topic": self.topic,
        }


def parse_subscription(
    topic: str, expression: str | None, sub_version: int = 0
) -> SubscriptionData:
    if expression is None or not expression.strip() or expression.strip() == SUB_ALL:
        return SubscriptionData(topic, SUB_ALL, [], set(), sub_version)
    tags = [t.strip() for t in expression.split("||") if t.strip()]
    if not tags:
        return SubscriptionData(topic, SUB_ALL, [], set(), sub_version)
    return SubscriptionData(topic, expression, tags, {java_hash(t) for t in tags}, sub_version)


def subscription_from_json(data: dict[str, Any]) -> SubscriptionData:
    """From a heartbeat. Hash codes are recomputed: C++ sends atoi(tag) as `codeSet`."""
    topic = str(data.get("topic", ""))
    sub_string = str(data.get("subString") or SUB_ALL)
    try:
        sub_version = int(data.get("subVersion") or 0)
    except (TypeError, ValueError):
        sub_version = 0
    tags = [str(t) for t in data.get("tagsSet") or [] if str(t).strip()]
    result = parse_subscription(topic, sub_string, sub_version)
    if tags and result.tags_set != tags:
        result.tags_set = tags
        result.code_set = {java_hash(t) for t in tags}
    result.expression_type = str(data.get("expressionType") or "TAG")
    return result
