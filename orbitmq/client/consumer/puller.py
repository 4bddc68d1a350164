"""The pull loop of one owned queue (PullMessageService + DefaultMQPushConsumerImpl.pullMessage).

Each round: wait while too many messages are unconsumed (flow control), send a
long-polling PULL_MESSAGE (sysFlag SUSPEND|SUBSCRIPTION, plus COMMIT_OFFSET once an
offset is known; the broker holds it up to 15 s, we wait 30 s), then:
  FOUND           put the filtered messages into the ProcessQueue, submit them in
                  batches of `consume_message_batch_max_size`, pull at nextBeginOffset
  NO_NEW_MSG /    pull again at nextBeginOffset; with nothing in flight, record it as the
  NO_MATCHED_MSG  consumed offset (the skipped range needs no consumer)
  OFFSET_ILLEGAL  jump to nextBeginOffset and persist it
Transport errors and error codes pause 3 s (FLOW_CONTROL 20 ms); a pull timeout re-pulls.
Pulls go to the broker id last suggested (0 after an error); a transport error also
refreshes the topic's route, so a dead master is soon replaced by its slave. A slave that
is behind answers NO_MATCHED_MSG without moving the offset: that retry waits a little.
An orderly consumer in clustering mode passes `lock_queue`: the queue is pulled only while
its broker lock is held (an unlocked queue tries to lock again every second).
A FOUND answer counts in `stats` (the running info's pullRT and pullTPS) under the
queue's topic, as DefaultMQPushConsumerImpl's pull callback does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from orbitmq.client.consumer.consume_stats import ConsumerStatsManager
from orbitmq.client.consumer.offset_store import OffsetStore
from orbitmq.client.consumer.process_queue import ProcessQueue
from orbitmq.client.consumer.pull_codec import (
    PullStatus,
    parse_pull_response,
    pull_ext,
    pull_sys_flag,
)
from orbitmq.client.errors import ClientError, FlowControlError, RequestTimeoutError
from orbitmq.client.instance import ClientInstance
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import MessageConst, MessageExt
from orbitmq.protocol.subscription import SubscriptionData
from orbitmq.protocol.topics import retry_topic
from orbitmq.remoting.errors import RemotingError

log = logging.getLogger(__name__)

PULL_THRESHOLD_FOR_QUEUE = 1000
CONSUME_CONCURRENTLY_MAX_SPAN = 2000
FLOW_CONTROL_DELAY = 0.05
PULL_ERROR_DELAY = 3.0
BROKER_FLOW_CONTROL_DELAY = 0.02
SUSPEND_TIMEOUT_MS = 15_000
PULL_TIMEOUT = 30.0
PULL_LATER_WHEN_NOT_LOCKED = 1.0
PULL_RETRY_WITHOUT_PROGRESS_DELAY = 0.5


class ConsumeSink(Protocol):
    """Where pulled messages go: ConsumeService or OrderlyConsumeService."""

    def submit(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None: ...


class QueuePuller:
    """Pulls one MessageQueue for a push consumer until stopped."""

    def __init__(
        self,
        instance: ClientInstance,
        group: str,
        mq: MessageQueue,
        offset: int,
        subscriptions: dict[str, SubscriptionData],
        offsets: OffsetStore,
        consume: ConsumeSink,
        *,
        pull_batch_size: int,
        consume_batch_size: int,
        commit_offsets: bool,
        stats: ConsumerStatsManager,
        lock_queue: Callable[[MessageQueue, ProcessQueue], Awaitable[bool]] | None = None,
    ) -> None:
        self.mq = mq
        self.pq = ProcessQueue()
        self.offset = offset
        self.task: asyncio.Task[Any] | None = None
        self._instance = instance
        self._group = group
        self._subscriptions = subscriptions
        self._offsets = offsets
        self._consume = consume
        self._pull_batch_size = pull_batch_size
        self._consume_batch_size = max(1, consume_batch_size)
        self._commit_offsets = commit_offsets
        self._retry_topic = retry_topic(group)
        self._broker_id = 0
        self._lock_queue = lock_queue
        self._stats = stats

    def stop(self) -> None:
        """Cancel the loop (an in-flight pull is abandoned)."""
        if self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        pq = self.pq
        while not pq.dropped:
            if pq.count > PULL_THRESHOLD_FOR_QUEUE or pq.span > CONSUME_CONCURRENTLY_MAX_SPAN:
                await asyncio.sleep(FLOW_CONTROL_DELAY)
                continue
            subscription = self._subscriptions.get(self.mq.topic)
            if subscription is None:
                return
            if (
                self._lock_queue is not None
                and not pq.locked
                and not await self._lock_queue(self.mq, pq)
            ):
                await asyncio.sleep(PULL_LATER_WHEN_NOT_LOCKED)
                continue
            try:
                delay = await self._pull_once(subscription)
            except Exception:
                log.exception("pull round of %s failed unexpectedly", self.mq)
                delay = PULL_ERROR_DELAY
            if delay:
                await asyncio.sleep(delay)

    async def _pull_once(self, subscription: SubscriptionData) -> float:
        """One pull round; returns how long to pause before the next one."""
        mq = self.mq
        self.pq.last_pull_time = time.monotonic()  # lastPullTimestamp of the running info
        addr = self._instance.routes.find_subscribe_addr(mq.broker_name, self._broker_id)
        if addr is None:
            log.warning("no broker address for %s; retrying later", mq)
            return PULL_ERROR_DELAY
        commit = self._offsets.read_memory(mq) if self._commit_offsets else -1
        sys_flag = pull_sys_flag(commit > 0, True, True)
        ext = pull_ext(
            self._group,
            mq,
            self.offset,
            self._pull_batch_size,
            sys_flag,
            max(commit, 0),
            SUSPEND_TIMEOUT_MS,
            subscription,
        )
        command = RemotingCommand(code=RequestCode.PULL_MESSAGE, ext_fields=ext)
        started = time.monotonic()
        try:
            response = await self._instance.invoke(addr, command, PULL_TIMEOUT)
            result = parse_pull_response(response, subscription)
        except RequestTimeoutError:
            return 0.0
        except FlowControlError:
            return BROKER_FLOW_CONTROL_DELAY
        except (RemotingError, ClientError) as exc:
            log.warning("pull of %s from %s failed: %s", mq, addr, exc)
            self._broker_id = 0
            if isinstance(exc, RemotingError):
                await self._instance.routes.refresh_after_failure(mq.topic)
            return PULL_ERROR_DELAY
        if result.status is PullStatus.FOUND:
            self._stats.inc_pull_rt(mq.topic, int((time.monotonic() - started) * 1000))
            if result.messages:
                self._stats.inc_pull_tps(mq.topic, len(result.messages))
        if self.pq.dropped:
            return 0.0
        self._broker_id = result.suggest_which_broker_id
        if result.status is PullStatus.OFFSET_ILLEGAL:
            log.warning(
                "offset %d of %s is illegal; moving to %d",
                self.offset,
                mq,
                result.next_begin_offset,
            )
            self.offset = result.next_begin_offset
            self._offsets.update(mq, self.offset, increase_only=False)
            await self._offsets.persist(mq)
            return 0.0
        if result.status is PullStatus.NO_MATCHED_MSG and result.next_begin_offset == self.offset:
            return PULL_RETRY_WITHOUT_PROGRESS_DELAY
        self.offset = result.next_begin_offset
        self.pq.advance(result.next_begin_offset)
        msgs = result.messages
        if msgs:
            self._dispatch(msgs)
        elif self.pq.count == 0:
            self._offsets.update(mq, self.pq.commit_offset(), increase_only=True)
        return 0.0

    def _dispatch(self, msgs: list[MessageExt]) -> None:
        retry_topic = self._retry_topic
        for msg in msgs:
            if msg.topic == retry_topic:
                original = msg.properties.get(MessageConst.RETRY_TOPIC)
                if original:
                    msg.topic = original
        self.pq.put(msgs)
        size = self._consume_batch_size
        for i in range(0, len(msgs), size):
            self._consume.submit(self.mq, self.pq, msgs[i : i + size])
