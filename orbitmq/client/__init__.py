"""OrbitMQ's Python client SDK: speaks RocketMQ 4.x remoting to NameServers and brokers.

asyncio API: `Producer`, `PushConsumer`, `PullConsumer`, `MQAdmin`.
Blocking API for scripts: `SyncProducer`, `SyncPushConsumer`, `SyncPullConsumer`,
`SyncAdmin` (each runs the asyncio client on its own loop thread).
"""

from orbitmq.client.admin import ClusterInfo, MQAdmin
from orbitmq.client.consumer import (
    ConsumeStatus,
    MessageListener,
    PullConsumer,
    PullResult,
    PullStatus,
    PushConsumer,
)
from orbitmq.client.errors import (
    ClientError,
    ConnectionBrokenError,
    ConnectionClosedError,
    IllegalMessageError,
    MQBrokerError,
    MQClientError,
    NoRouteError,
    RemotingConnectError,
    RemotingError,
    RequestTimeoutError,
    TopicNotExistError,
    error_for_code,
)
from orbitmq.client.message import Message, MessageQueue, SendResult, SendStatus
from orbitmq.client.producer import Producer, select_by_hash
from orbitmq.client.route import BrokerData, QueueData, TopicRouteData
from orbitmq.client.sync import SyncAdmin, SyncProducer, SyncPullConsumer, SyncPushConsumer
from orbitmq.protocol.message import MessageExt

__all__ = [
    "BrokerData",
    "ClientError",
    "ClusterInfo",
    "ConnectionBrokenError",
    "ConnectionClosedError",
    "ConsumeStatus",
    "IllegalMessageError",
    "MQAdmin",
    "MQBrokerError",
    "MQClientError",
    "Message",
    "MessageExt",
    "MessageListener",
    "MessageQueue",
    "NoRouteError",
    "Producer",
    "PullConsumer",
    "PullResult",
    "PullStatus",
    "PushConsumer",
    "QueueData",
    "RemotingConnectError",
    "RemotingError",
    "RequestTimeoutError",
    "SendResult",
    "SendStatus",
    "SyncAdmin",
    "SyncProducer",
    "SyncPullConsumer",
    "SyncPushConsumer",
    "TopicNotExistError",
    "TopicRouteData",
    "error_for_code",
    "select_by_hash",
]
