"""Consumers: PushConsumer (rebalanced, listener-driven) and PullConsumer (explicit pulls)."""

from orbitmq.client.consumer.consume import ConsumeStatus, MessageListener
from orbitmq.client.consumer.pull import PullConsumer
from orbitmq.client.consumer.pull_codec import PullResult, PullStatus
from orbitmq.client.consumer.push import PushConsumer

__all__ = [
    "ConsumeStatus",
    "MessageListener",
    "PullConsumer",
    "PullResult",
    "PullStatus",
    "PushConsumer",
]
