"""NATS JetStream load: pipelined publishes with acks, and a pull consumer.

produce  up to `window` `publish_async` calls awaiting their PubAck at once (the same
         in-flight window as `bench producer --mode async`); RT is publish to PubAck
consume  a durable pull consumer (AckPolicy.ALL) fetching `batch` messages per request
         and acking the last one of each batch, as RocketMQ commits an offset per batch
The stream (file storage, one subject) is created if missing; every worker asks for the
same configuration, so creating it is idempotent.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable

import nats
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api

from orbitmq.bench.common import Budget
from orbitmq.bench.peers.frame import PeerLoad
from orbitmq.bench.stats import SendStats

__all__ = ["NatsLoad"]

STREAM = "ORBITMQ_BENCH"
SUBJECT = "orbitmq.bench"
_ACK_TIMEOUT = 5.0


class NatsLoad(PeerLoad):
    _nc: nats.NATS | None = None

    async def connect(self) -> None:
        self._nc = await nats.connect(self._url, allow_reconnect=False)
        js = self._nc.jetstream()
        await js.add_stream(name=STREAM, subjects=[SUBJECT], storage=api.StorageType.FILE)

    async def aclose(self) -> None:
        if self._nc is not None:
            await self._nc.close()

    async def produce(self, budget: Budget, stats: SendStats) -> None:
        assert self._nc is not None
        js = self._nc.jetstream(publish_async_max_pending=self._window)
        window = asyncio.Semaphore(self._window)
        pending: set[asyncio.Future[api.PubAck]] = set()

        def acked(started: int, future: asyncio.Future[api.PubAck]) -> None:
            pending.discard(future)
            window.release()
            if future.cancelled() or future.exception() is not None:
                stats.record_send_failed()
            else:
                stats.record_ok((time.perf_counter_ns() - started) // 1000)

        while budget.take(1):
            await window.acquire()
            started = time.perf_counter_ns()
            try:
                future = await js.publish_async(SUBJECT, self._body)
            except NatsError:
                window.release()
                stats.record_send_failed()
                continue
            pending.add(future)
            future.add_done_callback(functools.partial(acked, started))
        if pending:
            await asyncio.wait(set(pending), timeout=_ACK_TIMEOUT)

    async def consume(self, received: Callable[[int], None], done: asyncio.Event) -> None:
        assert self._nc is not None
        js = self._nc.jetstream()
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.ALL, deliver_policy=api.DeliverPolicy.ALL
        )
        sub = await js.pull_subscribe(SUBJECT, durable=self._group, stream=STREAM, config=config)
        while not done.is_set():
            try:
                msgs = await sub.fetch(self._batch, timeout=1.0)
            except NatsTimeoutError:
                continue  # nothing new within the second: ask again (or stop)
            received(len(msgs))
            await msgs[-1].ack()
