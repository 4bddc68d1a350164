"""Running the user's listener concurrently (ConsumeMessageConcurrentlyService.java).

Theory of operation: pulled batches wait in one FIFO backlog, taken by at most
`consume_thread_max` worker tasks (Java's consume thread pool). A new worker is started
when work arrives, or is taken while more waits, unless one was started and has not run
yet. So a listener that awaits I/O gets up to `consume_thread_max` calls in flight, while
one that returns without suspending has a pull's batches run back to back by one worker
(no task per batch). A worker ends when the backlog is empty. A plain `def` listener
runs on a thread pool of that size, an `async def` one on the event loop.
CONSUME_SUCCESS removes the batch from its ProcessQueue and records the new
lowest-unconsumed offset (once per run of one queue's batches). Otherwise
(RECONSUME_LATER, an exception, or None) in clustering mode every message of the batch is
sent back to the broker (CONSUMER_SEND_MSG_BACK, delay level 0 = broker decides); a
message whose send-back fails stays in the ProcessQueue and is consumed again locally
after 5 s. Broadcasting mode drops failed messages, as Java does.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import time
from collections import deque
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


class ConsumeStatus(enum.StrEnum):
    """What a listener returns; prints as its name."""

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

    @property
    def coroutine_listener(self) -> Callable[[list[MessageExt]], Awaitable[object]] | None:
        """The listener if it is `async def`: a caller on the loop may await it directly
        (then `raised()` is what an exception gives)."""
        return self.listener if self._async else None

    def raised(self) -> object:
        """Log the listener's exception (call from an `except` block); gives `RAISED`."""
        log.exception("listener of %s raised; messages will be consumed later", self._group)
        return RAISED

    async def call(self, msgs: list[MessageExt]) -> object:
        """The listener's return value; an exception is logged and gives `RAISED`."""
        try:
            if self._async:
                return await self.listener(msgs)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.listener, msgs)
        except Exception:
            return self.raised()

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
        self._backlog: deque[tuple[MessageQueue, ProcessQueue, list[MessageExt]]] = deque()
        self._workers: set[asyncio.Task[None]] = set()
        self._max_workers = max(1, max_in_flight)
        self._starting = False  # a worker was created and has not run yet

    def submit(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        """Queue one batch (already put into `pq`) for the workers."""
        self._backlog.append((mq, pq, msgs))
        if not self._starting and len(self._workers) < self._max_workers:
            self._start_worker()

    def _start_worker(self) -> None:
        self._starting = True
        task = asyncio.get_running_loop().create_task(self._worker())
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _worker(self) -> None:
        """Run batches until the backlog is empty. The offset a batch lets commit is
        recorded once per run of batches of one queue: a later one supersedes it.

        The usual case, an `async def` listener without trace, is awaited right here and
        a success settled in place; everything else goes through `_consume`.
        """
        self._starting = False
        backlog = self._backlog
        listener = self._invoker.coroutine_listener if self._trace is None else None
        success = ConsumeStatus.CONSUME_SUCCESS
        last: tuple[MessageQueue, ProcessQueue, int] | None = None
        try:
            while backlog:
                mq, pq, msgs = backlog.popleft()
                if backlog and not self._starting and len(self._workers) < self._max_workers:
                    self._start_worker()  # in case this listener call awaits
                if last is not None and last[1] is not pq:
                    self._commit(*last)
                if listener is None or pq.dropped:
                    offset = await self._consume(mq, pq, msgs)
                else:
                    try:
                        result = await listener(msgs)
                    except Exception:
                        result = self._invoker.raised()
                    if result is success:
                        offset = pq.remove(msgs)
                    else:
                        offset = await self._settle(mq, pq, msgs, result)
                last = mq, pq, offset
        finally:
            if last is not None:
                self._commit(*last)

    def _commit(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        if offset >= 0 and not pq.dropped:
            self._offsets.update(mq, offset, increase_only=True)

    def _as_status(self, result: object) -> ConsumeStatus:
        if isinstance(result, ConsumeStatus):
            return result
        if result is not RAISED:
            log.warning(
                "listener of %s returned %r; treated as RECONSUME_LATER", self._group, result
            )
        return ConsumeStatus.RECONSUME_LATER

    async def _consume(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> int:
        """Run the listener on one batch; returns the offset that may now be committed
        (-1: none)."""
        if pq.dropped:
            return -1
        result = await self._invoker.call_traced(msgs, self._trace, ConsumeStatus.CONSUME_SUCCESS)
        return await self._settle(mq, pq, msgs, result)

    async def _settle(
        self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt], result: object
    ) -> int:
        """Act on what the listener returned; returns the offset that may be committed."""
        status = self._as_status(result)
        done = msgs
        if status is not ConsumeStatus.CONSUME_SUCCESS and self._clustering:
            retry_locally = await self._send_back(mq, msgs)
            if retry_locally:
                kept = {id(m) for m in retry_locally}
                done = [m for m in msgs if id(m) not in kept]
                self._retry_later(mq, pq, retry_locally)
        elif status is not ConsumeStatus.CONSUME_SUCCESS:
            log.warning("broadcast consume of %d messages failed; dropped", len(msgs))
        return pq.remove(done)

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
                self.submit(mq, pq, msgs)

        task = asyncio.get_running_loop().create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self, timeout: float = 5.0) -> None:
        """Wait up to `timeout` for queued and running batches, cancel the rest, stop the
        threads."""
        # Local retries (5 s away) are given up: their messages stay unconsumed, so the
        # committed offset stays below them and they come again.
        for task in list(self._tasks):
            task.cancel()
        await finish_tasks(list(self._tasks | self._workers), timeout)
        self._backlog.clear()
        self._invoker.shutdown()
