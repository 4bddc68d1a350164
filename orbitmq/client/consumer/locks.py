"""Broker-side queue locks for orderly consumers: LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42).

Body of both: {"clientId","consumerGroup","mqSet":[{"brokerName","queueId","topic"}]};
41 answers {"lockOKMQSet":[...]} with the queues the client holds afterwards. A lock
lives 60 s at the broker; the consumer renews it every 20 s and trusts it for 30 s after
the request that won it was sent (ProcessQueue.LOCK_EXPIRE_SECONDS).

`QueueLocks` sends one request per broker set (to its master) for a list of queues.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

import orjson

from orbitmq.client.errors import MQClientError
from orbitmq.client.instance import ClientInstance
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.fastjson import loads_tolerant

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 1.0  # Java's lockBatchMQ timeout (1000 ms)
UNLOCK_TIMEOUT = 1.0


def lock_body(group: str, client_id: str, mqs: Iterable[MessageQueue]) -> bytes:
    return orjson.dumps(
        {
            "clientId": client_id,
            "consumerGroup": group,
            "mqSet": [
                {"brokerName": mq.broker_name, "queueId": mq.queue_id, "topic": mq.topic}
                for mq in mqs
            ],
        }
    )


def parse_lock_response(body: bytes) -> set[MessageQueue]:
    """The queues of a lockOKMQSet.

    Raises:
        MQClientError: the body is not a lock answer.
    """
    try:
        data = loads_tolerant(body) if body else {}
        return {
            MessageQueue(str(q["topic"]), str(q["brokerName"]), int(q["queueId"]))
            for q in data.get("lockOKMQSet") or []
        }
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise MQClientError(f"bad LOCK_BATCH_MQ answer: {body[:200]!r}") from exc


class QueueLocks:
    """Locks and unlocks queues at their brokers on behalf of one consumer group."""

    def __init__(self, instance: ClientInstance, group: str) -> None:
        self._instance = instance
        self._group = group

    @staticmethod
    def _by_broker(mqs: Iterable[MessageQueue]) -> dict[str, list[MessageQueue]]:
        grouped: dict[str, list[MessageQueue]] = defaultdict(list)
        for mq in mqs:
            grouped[mq.broker_name].append(mq)
        return grouped

    async def lock(self, mqs: Iterable[MessageQueue]) -> set[MessageQueue]:
        """Lock `mqs`; return those now held. A broker that fails grants nothing."""
        granted: set[MessageQueue] = set()
        inst = self._instance
        for broker_name, queues in self._by_broker(mqs).items():
            try:
                addr = await inst.routes.find_master(broker_name, queues[0].topic)
                body = lock_body(self._group, inst.client_id, queues)
                command = RemotingCommand.request(RequestCode.LOCK_BATCH_MQ, {}, body)
                response = await inst.invoke_checked(addr, command, LOCK_TIMEOUT)
                granted |= parse_lock_response(response.body) & set(queues)
            except Exception as exc:
                log.warning("locking %d queues of %s failed: %s", len(queues), broker_name, exc)
        return granted

    async def unlock(self, mqs: Iterable[MessageQueue]) -> None:
        """Release `mqs` (waits for each broker's answer; failures are logged)."""
        inst = self._instance
        for broker_name, queues in self._by_broker(mqs).items():
            try:
                addr = await inst.routes.find_master(broker_name, queues[0].topic)
                body = lock_body(self._group, inst.client_id, queues)
                command = RemotingCommand.request(RequestCode.UNLOCK_BATCH_MQ, {}, body)
                await inst.invoke_checked(addr, command, UNLOCK_TIMEOUT)
            except Exception as exc:
                log.warning("unlocking %d queues of %s failed: %s", len(queues), broker_name, exc)
