"""LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42) for orderly consumers (AdminBrokerProcessor.java).

Request body (LockBatchRequestBody / UnlockBatchRequestBody, §3.4):
  {"clientId":"...","consumerGroup":"G","mqSet":[{"brokerName":"b","queueId":0,"topic":"T"}]}
41 answers SUCCESS with {"lockOKMQSet":[...]} (the queues the client now holds, in the
request's form); 42 answers SUCCESS without a body (Java clients may send it one-way).
A client that is not a member of the group (no heartbeat for it on this broker) is
granted nothing; see broker/rebalance_lock.py.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from orbitmq.broker.errors import BrokerError
from orbitmq.broker.rebalance_lock import RebalanceLockManager
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.fastjson import loads_tolerant
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

log = logging.getLogger(__name__)

QueueKey = tuple[str, str, int]  # topic, brokerName, queueId
PURGE_INTERVAL = 60.0


def _parse_body(request: RemotingCommand) -> tuple[str, str, dict[QueueKey, dict[str, Any]]]:
    """(group, client id, {queue key: the queue as sent})."""
    try:
        data = loads_tolerant(request.body) if request.body else None
    except orjson.JSONDecodeError as exc:
        raise BrokerError(f"lock request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BrokerError("lock request body is not a JSON object")
    group = str(data.get("consumerGroup") or "")
    client_id = str(data.get("clientId") or "")
    if not group or not client_id:
        raise BrokerError("lock request body needs consumerGroup and clientId")
    queues: dict[QueueKey, dict[str, Any]] = {}
    mq_set = data.get("mqSet") or []
    if not isinstance(mq_set, list):
        raise BrokerError("lock request mqSet is not a list")
    for raw in mq_set:
        try:
            key = (str(raw["topic"]), str(raw["brokerName"]), int(raw["queueId"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BrokerError(f"bad message queue in mqSet: {raw!r}") from exc
        queues[key] = {"brokerName": key[1], "queueId": key[2], "topic": key[0]}
    return group, client_id, queues


class LockHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker
        self.lock_manager: RebalanceLockManager[QueueKey] = RebalanceLockManager()
        self._last_purge = time.monotonic()

    def register(self, dispatcher: object) -> None:
        for code, handler in (
            (RequestCode.LOCK_BATCH_MQ, self.lock_batch_mq),
            (RequestCode.UNLOCK_BATCH_MQ, self.unlock_batch_mq),
        ):
            dispatcher.register(code, handler)  # type: ignore[attr-defined]

    def lock_batch_mq(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        group, client_id, queues = _parse_body(request)
        now = time.monotonic()
        if now - self._last_purge > PURGE_INTERVAL:
            self._last_purge = now
            self.lock_manager.purge_expired(now)
        members = self._broker.client_manager.consumer_ids(group)
        granted = self.lock_manager.try_lock_batch(group, queues, client_id, now, members)
        if len(granted) < len(queues):
            refused = sorted(set(queues) - set(granted))
            if client_id not in members:
                log.warning(
                    "lock of %d queues refused: %s is not a member of group %s",
                    len(queues),
                    client_id,
                    group,
                )
            else:
                log.info(
                    "group %s: %s could not lock %s (held by others)", group, client_id, refused
                )
        body = orjson.dumps({"lockOKMQSet": [queues[key] for key in granted]})
        return request.response(body=body)

    def unlock_batch_mq(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        group, client_id, queues = _parse_body(request)
        self.lock_manager.unlock_batch(group, queues, client_id)
        return request.response()
