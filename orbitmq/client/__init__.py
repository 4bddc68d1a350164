"""OrbitMQ's Python client SDK: speaks RocketMQ 4.x remoting to NameServers and brokers.

asyncio API: `Producer`, `TransactionProducer`, `PushConsumer`, `PullConsumer`, `MQAdmin`.
Blocking API for scripts: `SyncProducer`, `SyncPushConsumer`, `SyncPullConsumer`,
`SyncAdmin` (each runs the asyncio client on its own loop thread).
"""

from orbitmq.acl.signature import SessionCredentials
from orbitmq.client.admin import ClusterInfo, MQAdmin
from orbitmq.client.consumer import (
    ConsumeOrderlyStatus,
    ConsumeStatus,
    MessageListener,
    MessageListenerOrderly,
    MessageSelector,
    PullConsumer,
    PullResult,
    PullStatus,
    PushConsumer,
    SqlSyntaxError,
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
from orbitmq.client.transaction_producer import (
    LocalTransactionState,
    TransactionListener,
    TransactionProducer,
    TransactionSendResult,
)
from orbitmq.protocol.message import MessageExt

__all__ = [
    "BrokerData",
    "ClientError",
    "ClusterInfo",
    "ConnectionBrokenError",
    "ConnectionClosedError",
    "ConsumeOrderlyStatus",
    "ConsumeStatus",
    "IllegalMessageError",
    "LocalTransactionState",
    "MQAdmin",
    "MQBrokerError",
    "MQClientError",
    "Message",
    "MessageExt",
    "MessageListener",
    "MessageListenerOrderly",
    "MessageQueue",
    "MessageSelector",
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
    "SessionCredentials",
    "SqlSyntaxError",
    "SyncAdmin",
    "SyncProducer",
    "SyncPullConsumer",
    "SyncPushConsumer",
    "TopicNotExistError",
    "TopicRouteData",
    "TransactionListener",
    "TransactionProducer",
    "TransactionSendResult",
    "error_for_code",
    "select_by_hash",
]
