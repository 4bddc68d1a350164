"""Consumers: PushConsumer (rebalanced, listener-driven) and PullConsumer (explicit pulls)."""

from orbitmq.client.consumer.consume import ConsumeStatus, MessageListener
from orbitmq.client.consumer.consume_orderly import ConsumeOrderlyStatus, MessageListenerOrderly
from orbitmq.client.consumer.pull import PullConsumer
from orbitmq.client.consumer.pull_codec import PullResult, PullStatus
from orbitmq.client.consumer.push import PushConsumer
from orbitmq.client.consumer.selector import MessageSelector, SqlSyntaxError

__all__ = [
    "ConsumeOrderlyStatus",
    "ConsumeStatus",
    "MessageListener",
    "MessageListenerOrderly",
    "MessageSelector",
    "PullConsumer",
    "PullResult",
    "PullStatus",
    "PushConsumer",
    "SqlSyntaxError",
]
