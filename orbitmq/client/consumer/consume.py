"""Running the user's listener concurrently (ConsumeMessageConcurrentlyService.java).

Theory of operation: each pulled batch becomes one task; a semaphore caps in-flight
batches at `consume_thread_max`. A plain `def` listener runs on a thread pool of that
size, an `async def` one on the event loop. CONSUME_SUCCESS removes the batch from its
ProcessQueue and records the new lowest-unconsumed offset. Otherwise (RECONSUME_LATER,
an exception, or None) in clustering mode every message of the batch is sent back to the
broker (CONSUMER_SEND_MSG_BACK, delay level 0 = broker decides); a message whose send-back
fails stays in the ProcessQueue and is consumed again locally after 5 s. Broadcasting
mode drops failed messages, as Java does.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orbitmq.client import broker_api
from orbitmq.client.consumer.offset_store import OffsetStore
from orbitmq.client.consumer.process_queue import ProcessQueue
from orbitmq.client.heartbeat import CLUSTERING
from orbitmq.client.instance import ClientInstance
from orbitmq.client.message import MessageQueue
from orbitmq.client.trace import ConsumeReturnType, TraceDispatcher
from orbitmq.protocol.message import MessageExt

log = logging.getLogger(__name__)

LOCAL_RETRY_DELAY = 5.0
RAISED = object()  # what ListenerInvoker.call returns when the listener raised


class ConsumeStatus(enum.Enum):
    """What a listener returns."""

    CONSUME_SUCCESS = "CONSUME_SUCCESS"
    RECONSUME_LATER = "RECONSUME_LATER"


MessageListener = Callable[[list[MessageExt]], "ConsumeStatus | Awaitable[ConsumeStatus]"]


def is_async_listener(listener: Callable[..., Any]) -> bool:
    call = getattr(listener, "__call__", None)  # noqa: B004  (async callable objects)
    return inspect.iscoroutinefunction(listener) or inspect.iscoroutinefunction(call)


class ListenerInvoker:
    """Calls a listener: `async def` on the loop, plain `def` on a pool of `threads`."""

    def __init__(self, listener: Callable[..., Any], group: str, threads: int) -> None:
        self.listener = listener
        self._group = group
        self._async = is_async_listener(listener)
        self._executor = (
            None
            if self._async
            else ThreadPoolExecutor(threads, thread_name_prefix=f"orbitmq-consume-{group}")
        )

    async def call(self, msgs: list[MessageExt]) -> object:
        """The listener's return value; an exception is logged and gives `RAISED`."""
        try:
            if self._async:
                return await self.listener(msgs)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.listener, msgs)
        except Exception:
            log.exception("listener of %s raised; messages will be consumed later", self._group)
            return RAISED

    async def call_traced(
        self, msgs: list[MessageExt], trace: TraceDispatcher | None, success: object
    ) -> object:
        """`call`, recording SubBefore/SubAfter trace records when `trace` is set;
        `success` is the status that counts as a success."""
        if trace is None:
            return await self.call(msgs)
        request_id = trace.before_consume(self._group, msgs)
        started = time.monotonic()
        result = await self.call(msgs)
        if result is success:
            code = ConsumeReturnType.SUCCESS
        elif result is RAISED:
            code = ConsumeReturnType.EXCEPTION
        elif result is None:
            code = ConsumeReturnType.RETURNNULL
        else:
            code = ConsumeReturnType.FAILED
        cost = int((time.monotonic() - started) * 1000)
        trace.after_consume(self._group, msgs, request_id, cost, result is success, code)
        return result

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


async def finish_tasks(tasks: list[asyncio.Task[None]], timeout: float) -> None:
    """Wait up to `timeout` for `tasks`; cancel those still running and await them."""
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


class ListenerService:
    """What both consume services hold: the listener, the offsets and the in-flight cap."""

    def __init__(
        self,
        instance: ClientInstance,
        group: str,
        message_model: str,
        offset_store: OffsetStore,
        listener: Callable[..., Any],
        max_in_flight: int,
        max_reconsume_times: int,
        trace: TraceDispatcher | None,
    ) -> None:
        self._instance = instance
        self._trace = trace
        self._group = group
        self._clustering = message_model == CLUSTERING
        self._offsets = offset_store
        self._invoker = ListenerInvoker(listener, group, max_in_flight)
        self._max_reconsume_times = max_reconsume_times
        self._slots = asyncio.Semaphore(max_in_flight)

    def _send_back_target(self, mq: MessageQueue, msg: MessageExt) -> str:
        """The master of `mq`'s broker, else the broker that stored `msg`."""
        addr = self._instance.routes.master_addr(mq.broker_name)
        return addr or f"{msg.store_host[0]}:{msg.store_host[1]}"


class ConsumeService(ListenerService):
    """Runs listener calls for a push consumer and settles their offsets."""

    def __init__(
        self,
        instance: ClientInstance,
        group: str,
        message_model: str,
        offset_store: OffsetStore,
        listener: MessageListener,
        max_in_flight: int,
        max_reconsume_times: int = broker_api.DEFAULT_MAX_RECONSUME_TIMES,
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
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        """Schedule one batch (already put into `pq`)."""
        task = asyncio.get_running_loop().create_task(self._consume(mq, pq, msgs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call_listener(self, msgs: list[MessageExt]) -> ConsumeStatus:
        status = await self._invoker.call_traced(msgs, self._trace, ConsumeStatus.CONSUME_SUCCESS)
        if isinstance(status, ConsumeStatus):
            return status
        if status is not RAISED:
            log.warning(
                "listener of %s returned %r; treated as RECONSUME_LATER", self._group, status
            )
        return ConsumeStatus.RECONSUME_LATER

    async def _consume(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        async with self._slots:
            if pq.dropped:
                return
            status = await self._call_listener(msgs)
        done = msgs
        if status is not ConsumeStatus.CONSUME_SUCCESS and self._clustering:
            retry_locally = await self._send_back(mq, msgs)
            if retry_locally:
                kept = {id(m) for m in retry_locally}
                done = [m for m in msgs if id(m) not in kept]
                self._retry_later(mq, pq, retry_locally)
        elif status is not ConsumeStatus.CONSUME_SUCCESS:
            log.warning("broadcast consume of %d messages failed; dropped", len(msgs))
        offset = pq.remove(done)
        if offset >= 0 and not pq.dropped:
            self._offsets.update(mq, offset, increase_only=True)

    async def _send_back(self, mq: MessageQueue, msgs: list[MessageExt]) -> list[MessageExt]:
        """Send failed messages back; return those the broker did not take."""
        failed = []
        for msg in msgs:
            target = self._send_back_target(mq, msg)
            try:
                await broker_api.consumer_send_msg_back(
                    self._instance,
                    target,
                    self._group,
                    msg,
                    max_reconsume_times=self._max_reconsume_times,
                )
            except Exception as exc:
                log.warning("send back of %s to %s failed: %s", msg.msg_id, target, exc)
                failed.append(msg)
        return failed

    def _retry_later(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        async def later() -> None:
            await asyncio.sleep(LOCAL_RETRY_DELAY)
            if not pq.dropped:
                for msg in msgs:
                    msg.reconsume_times += 1
                await self._consume(mq, pq, msgs)

        task = asyncio.get_running_loop().create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self, timeout: float = 5.0) -> None:
        """Wait up to `timeout` for running batches, cancel the rest, stop the threads."""
        await finish_tasks(list(self._tasks), timeout)
        self._invoker.shutdown()
