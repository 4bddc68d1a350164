"""TransactionProducer against an in-process NameServer and broker; the broker's check
pass is driven directly (`check_once`) instead of waiting for its 60 s period."""

from __future__ import annotations

from typing import Any

from orbitmq.broker.broker import BrokerController
from orbitmq.client import (
    LocalTransactionState,
    Message,
    MessageExt,
    TransactionProducer,
    TransactionSendResult,
)

from .conftest import Cluster, wait_for

COMMIT = LocalTransactionState.COMMIT_MESSAGE
UNKNOW = LocalTransactionState.UNKNOW


class Listener:
    def __init__(self, execute: Any, check: LocalTransactionState = UNKNOW) -> None:
        self.execute = execute
        self.check = check
        self.checked: list[MessageExt] = []

    async def execute_local_transaction(self, msg: Message, arg: Any) -> Any:
        if isinstance(self.execute, Exception):
            raise self.execute
        return self.execute

    def check_local_transaction(self, msg: MessageExt) -> LocalTransactionState:
        self.checked.append(msg)
        return self.check


def visible(broker: BrokerController, result: TransactionSendResult) -> int:
    mq = result.message_queue
    return broker.message_store.get_max_offset_in_queue(mq.topic, mq.queue_id)


async def test_a_raising_or_odd_listener_leaves_the_transaction_open(cluster: Cluster) -> None:
    broker = cluster.brokers["broker-a"]
    for answer in (RuntimeError("db down"), "COMMIT", None):
        listener = Listener(answer)
        async with TransactionProducer("PG_TX_ODD", cluster.namesrv_addr, listener) as producer:
            result = await producer.send_message_in_transaction(Message("TxOdd", b"x"))
        assert result.local_transaction_state is UNKNOW
        assert result.transaction_id == result.msg_id
    service = broker.transaction_service
    await wait_for(lambda: service.state.open_count(3) == 3)
    assert visible(broker, result) == 0


async def test_check_back_commits_an_open_transaction(cluster: Cluster) -> None:
    broker = cluster.brokers["broker-a"]
    broker.config.transaction_timeout = 0  # check at once
    listener = Listener(UNKNOW, check=COMMIT)
    async with TransactionProducer("PG_TX_LIVE", cluster.namesrv_addr, listener) as producer:
        result = await producer.send_message_in_transaction(Message("TxLive", b"y", tags="T"))
        assert result.local_transaction_state is UNKNOW
        await wait_for(lambda: "PG_TX_LIVE" in broker.client_manager.producer_groups)
        # A pass leaves half messages stored in its own millisecond to the next pass.
        assert await wait_for(broker.transaction_service.check_once) == 1
        await wait_for(lambda: visible(broker, result) == 1)
        assert await broker.transaction_service.check_once() == 0  # resolved: no more checks
    [checked] = listener.checked
    assert (checked.msg_id, checked.topic, checked.tags) == (result.msg_id, "TxLive", "T")
    assert checked.queue_id == result.message_queue.queue_id
