import orbitmq.client


def test_public_names_are_pinned() -> None:
    assert sorted(orbitmq.client.__all__) == sorted(
        [
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
            "MessageSelector",
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
    )
    for name in orbitmq.client.__all__:
        assert getattr(orbitmq.client, name) is not None
