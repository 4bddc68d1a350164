"""Subscription expressions (FilterAPI.java, §5.8), for the broker and the client.

Two expression types, as `expressionType` says on the wire:
  TAG    `*` (or empty) matches every message. Otherwise tags separated by `||`, each
         trimmed, empties and repeats dropped: `"TagA || TagB"` -> tagsSet [TagA, TagB],
         codeSet [2598919, 2598920] (Java String.hashCode). Brokers filter by hash code
         (`code_set`); the client filters again by the exact tag string (`matches`),
         dropping messages without a tag.
  SQL92  a property selector (orbitmq.protocol.sql92), evaluated by the broker only;
         `sub_string` is the expression, tagsSet and codeSet are empty, and the tag
         filters (`matches_all`, `matches`, `matches_tags_code`) let everything through.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orbitmq.protocol.message import java_hash
from orbitmq.protocol.sql92 import compile_sql

SUB_ALL = "*"
EXPRESSION_TYPE_TAG = "TAG"
EXPRESSION_TYPE_SQL92 = "SQL92"


def normalize_expression_type(expression_type: str | None) -> str:
    """`None`/empty mean TAG (ExpressionType.isTagType); names are case-insensitive."""
    if not expression_type:
        return EXPRESSION_TYPE_TAG
    return expression_type.strip().upper()


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
        """The tag filter lets everything through (always so for SQL92)."""
        return self.sub_string == SUB_ALL or not self.tags_set

    @property
    def is_sql92(self) -> bool:
        return self.expression_type == EXPRESSION_TYPE_SQL92

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
    topic: str,
    expression: str | None = SUB_ALL,
    sub_version: int | None = None,
    expression_type: str | None = EXPRESSION_TYPE_TAG,
) -> SubscriptionData:
    """Build SubscriptionData from a TAG or SQL92 expression.

    Args:
        topic: the subscribed topic.
        expression: TAG: `*`, empty/None, or `TagA || TagB`; SQL92: a selector.
        sub_version: version (ms); defaults to the current time.
        expression_type: "TAG" (default; None or empty too) or "SQL92".

    Raises:
        ValueError: the TAG expression names no tag at all (e.g. `"||"`), the SQL92
            expression does not parse (an `SqlSyntaxError` naming the column), or the
            expression type is unknown.
    """
    version = sub_version if sub_version is not None else time.time_ns() // 1_000_000
    kind = normalize_expression_type(expression_type)
    if kind == EXPRESSION_TYPE_SQL92:
        if expression is None:
            raise ValueError("an SQL92 subscription needs an expression")
        compile_sql(expression)
        return SubscriptionData(topic, expression, [], CodeSet(), version, kind)
    if kind != EXPRESSION_TYPE_TAG:
        raise ValueError(f"unknown expression type {expression_type!r}; use TAG or SQL92")
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
    expression_type = normalize_expression_type(str(data.get("expressionType") or ""))
    if expression_type != EXPRESSION_TYPE_TAG:  # stored as sent; checked by the caller
        return SubscriptionData(
            topic, str(data.get("subString") or ""), [], CodeSet(), sub_version, expression_type
        )
    tags = [str(t) for t in data.get("tagsSet") or [] if str(t).strip()]
    try:
        result = parse_subscription(topic, sub_string, sub_version)
    except ValueError:  # "||": a heartbeat is stored, not refused; tagsSet decides
        result = SubscriptionData(topic, SUB_ALL, [], CodeSet(), sub_version)
    if tags and result.tags_set != tags:
        result.tags_set = tags
        result.code_set = CodeSet(java_hash(t) for t in tags)
    return result
