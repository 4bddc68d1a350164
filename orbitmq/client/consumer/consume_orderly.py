"""Running an orderly listener (ConsumeMessageOrderlyService.java).

Theory of operation. Each owned queue has one worker task; nothing else calls the
listener for that queue, so its messages are consumed one batch at a time in offset
order. A worker loops:

  1. In clustering mode, check the queue's broker lock (ProcessQueue.lock_valid: locked
     and renewed less than 30 s ago). Without it, try to lock the queue again and wait
     LOCK_RETRY_DELAY between attempts: an unlocked queue is never consumed.
  2. Take the `batch_size` lowest pulled messages; sleep until the puller adds some.
  3. Under the queue's consume lock (which a rebalance acquires before it unlocks the
     queue at the broker, so a released queue has no batch in flight), call the
     listener, also bounded by the consumer-wide `max_in_flight` semaphore.
  4. SUCCESS: remove the batch and record the new offset. Anything else
     (SUSPEND_CURRENT_QUEUE_A_MOMENT, RECONSUME_LATER, an exception, None): no send-back;
     each message's reconsume_times goes up and the same batch is retried after
     `suspend_seconds`. A message that already failed `max_reconsume_times` times is sent
     to the group's dead-letter queue instead (CONSUMER_SEND_MSG_BACK with delay level -1)
     and skipped, as Java does once maxReconsumeTimes is set; the default (-1) retries
     forever, Java's Integer.MAX_VALUE.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from orbitmq.client import broker_api
from orbitmq.client.consumer.consume import (
    RAISED,
    ConsumeStatus,
    ListenerService,
    finish_tasks,
)
from orbitmq.client.consumer.offset_store import OffsetStore
from orbitmq.client.consumer.process_queue import ProcessQueue
from orbitmq.client.instance import ClientInstance
from orbitmq.client.message import MessageQueue
from orbitmq.client.trace import TraceDispatcher
from orbitmq.protocol.message import MessageExt

log = logging.getLogger(__name__)

LOCK_RETRY_DELAY = 0.5


class ConsumeOrderlyStatus(enum.StrEnum):
    """What an orderly listener returns; prints as its name."""

    SUCCESS = "SUCCESS"
    SUSPEND_CURRENT_QUEUE_A_MOMENT = "SUSPEND_CURRENT_QUEUE_A_MOMENT"


MessageListenerOrderly = Callable[
    [list[MessageExt]], "ConsumeOrderlyStatus | Awaitable[ConsumeOrderlyStatus]"
]
LockQueue = Callable[[MessageQueue, ProcessQueue], Awaitable[bool]]


@dataclass(slots=True, eq=False)
class _Worker:
    mq: MessageQueue
    pq: ProcessQueue
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    consume_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None
    batch: list[MessageExt] = field(default_factory=list)  # taken, result not yet settled


class OrderlyConsumeService(ListenerService):
    """One worker per queue; see the module docstring."""

    def __init__(
        self,
        instance: ClientInstance,
        group: str,
        message_model: str,
        offset_store: OffsetStore,
        listener: MessageListenerOrderly,
        max_in_flight: int,
        *,
        batch_size: int,
        max_reconsume_times: int,
        suspend_seconds: float,
        lock_queue: LockQueue,
        trace: TraceDispatcher | None = None,
    ) -> None:
        super().__init__(
            instance,
            group,
            message_model,
            offset_store,
            listener,
            max_in_flight,
            max_reconsume_times,
            trace,
        )
        self._batch_size = max(1, batch_size)
        self._suspend_seconds = suspend_seconds
        self._lock_queue = lock_queue
        self._workers: dict[MessageQueue, _Worker] = {}
        self._closing = False

    def submit(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        """Messages were added to `pq`: wake (or start) the queue's worker."""
        if self._closing:
            return
        worker = self._workers.get(mq)
        if worker is None or worker.pq is not pq:
            if worker is not None:
                worker.wake.set()  # the old one sees its dropped queue and ends
            worker = self._workers[mq] = _Worker(mq, pq)
            worker.task = asyncio.get_running_loop().create_task(
                self._run(worker), name=f"_consume_orderly({mq})"
            )
        worker.wake.set()

    def consuming(self, mq: MessageQueue) -> list[MessageExt]:
        """The batch of `mq` given to the listener and not yet settled (Java's
        consumingMsgOrderlyTreeMap)."""
        worker = self._workers.get(mq)
        return list(worker.batch) if worker is not None else []

    async def wait_idle(self, mq: MessageQueue, pq: ProcessQueue) -> None:
        """Return once no batch of `pq` is in the listener (call after dropping it)."""
        worker = self._workers.get(mq)
        if worker is None or worker.pq is not pq:
            return
        worker.wake.set()
        async with worker.consume_lock:
            pass
        if self._workers.get(mq) is worker:
            del self._workers[mq]

    async def _run(self, worker: _Worker) -> None:
        pq = worker.pq
        while not pq.dropped and not self._closing:
            try:
                delay = await self._step(worker)
            except Exception:
                log.exception("orderly consumption of %s failed unexpectedly", worker.mq)
                delay = self._suspend_seconds
            if delay:
                await asyncio.sleep(delay)

    async def _step(self, worker: _Worker) -> float:
        """One round of the worker loop; returns how long to pause before the next."""
        pq = worker.pq
        if (
            self._clustering
            and not pq.lock_valid(time.monotonic())
            and not await self._lock_queue(worker.mq, pq)
        ):
            return LOCK_RETRY_DELAY
        msgs = pq.take(self._batch_size)
        if not msgs:
            worker.wake.clear()
            if not pq.take(1) and not pq.dropped and not self._closing:
                await worker.wake.wait()
            return 0.0
        async with worker.consume_lock:
            if pq.dropped or self._closing:
                return 0.0
            if self._clustering and not pq.lock_valid(time.monotonic()):
                return 0.0
            worker.batch = msgs
            try:
                return await self._consume(worker, msgs)
            finally:
                worker.batch = []

    async def _consume(self, worker: _Worker, msgs: list[MessageExt]) -> float:
        """Call the listener on one batch and settle it; returns the pause before the next."""
        async with self._slots:
            status = await self._invoker.call_traced(
                msgs, self._trace, ConsumeOrderlyStatus.SUCCESS
            )
        if status in (ConsumeOrderlyStatus.SUCCESS, ConsumeStatus.CONSUME_SUCCESS):
            self._commit(worker, msgs)
            return 0.0
        if status is not RAISED and not isinstance(status, ConsumeOrderlyStatus | ConsumeStatus):
            log.warning(
                "orderly listener of %s returned %r; suspending %s",
                self._group,
                status,
                worker.mq,
            )
        self._commit(worker, await self._give_up_on_spent(worker.mq, msgs))
        return self._suspend_seconds

    def _commit(self, worker: _Worker, msgs: list[MessageExt]) -> None:
        if not msgs:
            return
        offset = worker.pq.remove(msgs)
        # Also after a drop: the release persists only once this batch is done.
        if offset >= 0:
            self._offsets.update(worker.mq, offset, increase_only=True)

    async def _give_up_on_spent(self, mq: MessageQueue, msgs: list[MessageExt]) -> list[MessageExt]:
        """checkReconsumeTimes: count a failure on each message; those past the limit go to
        the DLQ and are returned (to be skipped), unless the send-back failed."""
        spent = []
        limit = self._max_reconsume_times
        for msg in msgs:
            if 0 <= limit <= msg.reconsume_times and await self._send_to_dlq(mq, msg):
                spent.append(msg)
            else:
                msg.reconsume_times += 1
        return spent

    async def _send_to_dlq(self, mq: MessageQueue, msg: MessageExt) -> bool:
        target = self._send_back_target(mq, msg)
        try:
            await broker_api.consumer_send_msg_back(
                self._instance,
                target,
                self._group,
                msg,
                delay_level=-1,
                max_reconsume_times=self._max_reconsume_times,
            )
        except Exception as exc:
            log.warning("moving %s to the DLQ of %s failed: %s", msg.msg_id, self._group, exc)
            return False
        log.warning(
            "message %s of %s failed %d times; moved to the DLQ of %s",
            msg.msg_id,
            mq,
            msg.reconsume_times + 1,
            self._group,
        )
        return True

    async def aclose(self, timeout: float = 5.0) -> None:
        """Stop after the batches in the listener (up to `timeout`), then stop the threads."""
        self._closing = True
        tasks = [w.task for w in self._workers.values() if w.task is not None]
        for worker in self._workers.values():
            worker.wake.set()
        await finish_tasks(tasks, timeout)
        self._workers.clear()
        self._invoker.shutdown()
