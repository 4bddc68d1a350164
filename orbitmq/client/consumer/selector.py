"""MessageSelector: what a consumer subscribes with (MessageSelector.java).

    consumer.subscribe("Orders", "TagA || TagB")                      # tags
    consumer.subscribe("Orders", MessageSelector.by_tag("TagA"))      # the same, explicit
    consumer.subscribe("Orders", MessageSelector.by_sql("a > 5 AND region = 'eu'"))

An SQL92 selector is evaluated by the broker against each message's properties (TAGS
included); the broker needs `enablePropertyFilter=true`. Selectors are checked when
built: a bad SQL92 expression raises `SqlSyntaxError` (a ValueError) naming the column.
"""

from __future__ import annotations

from dataclasses import dataclass

from orbitmq.protocol.sql92 import SqlSyntaxError, compile_sql
from orbitmq.protocol.subscription import (
    EXPRESSION_TYPE_SQL92,
    EXPRESSION_TYPE_TAG,
    SUB_ALL,
    SubscriptionData,
    parse_subscription,
)

__all__ = ["MessageSelector", "SqlSyntaxError", "subscription_for"]


@dataclass(frozen=True, slots=True)
class MessageSelector:
    """A TAG or SQL92 subscription expression."""

    expression_type: str
    expression: str

    @classmethod
    def by_tag(cls, expression: str | None = SUB_ALL) -> MessageSelector:
        """`*` (everything) or tags separated by `||`."""
        return cls(EXPRESSION_TYPE_TAG, expression or SUB_ALL)

    @classmethod
    def by_sql(cls, expression: str) -> MessageSelector:
        """An SQL92 property selector.

        Raises:
            SqlSyntaxError: the expression does not parse; the message names the column.
        """
        compile_sql(expression)
        return cls(EXPRESSION_TYPE_SQL92, expression)


def subscription_for(
    topic: str, selector: str | MessageSelector | None, sub_version: int | None = None
) -> SubscriptionData:
    """SubscriptionData for a plain tag expression or a MessageSelector.

    Raises:
        ValueError: the expression is invalid (SqlSyntaxError for SQL92).
    """
    if selector is None or isinstance(selector, str):
        return parse_subscription(topic, selector, sub_version)
    return parse_subscription(topic, selector.expression, sub_version, selector.expression_type)
