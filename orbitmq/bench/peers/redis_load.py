"""Redis Streams load: pipelined XADD, and XREADGROUP + XACK.

produce  `_PIPELINES` pipelines, each on its own connection with window/_PIPELINES XADDs,
         so about `window` entries are in flight at once, as with `bench producer
         --mode async`; one RT sample per pipeline (like a batch), counting its entries
consume  a consumer group read with XREADGROUP COUNT `batch`; the XACK of a batch goes
         in the same round trip as the next read
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from orbitmq.bench.common import Budget
from orbitmq.bench.peers.frame import PeerLoad
from orbitmq.bench.stats import SendStats

__all__ = ["RedisLoad"]

STREAM = "orbitmq-bench"
_PIPELINES = 4
_BLOCK_MS = 1000


class RedisLoad(PeerLoad):
    _redis: aioredis.Redis | None = None

    async def connect(self) -> None:
        self._redis = aioredis.Redis.from_url(self._url, max_connections=_PIPELINES + 1)
        await self._redis.ping()

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def produce(self, budget: Budget, stats: SendStats) -> None:
        depth = max(1, self._window // _PIPELINES)
        loops = [self._pipeline_loop(budget, stats, depth) for _ in range(_PIPELINES)]
        await asyncio.gather(*loops)

    async def _pipeline_loop(self, budget: Budget, stats: SendStats, depth: int) -> None:
        assert self._redis is not None
        fields: dict[Any, Any] = {"body": self._body}
        while n := budget.take(depth):
            pipe = self._redis.pipeline(transaction=False)
            for _ in range(n):
                pipe.xadd(STREAM, fields)
            started = time.perf_counter_ns()
            try:
                await pipe.execute()
            except RedisError:
                stats.record_send_failed(n)
                await asyncio.sleep(0.1)
            else:
                stats.record_ok((time.perf_counter_ns() - started) // 1000, n)

    async def consume(self, received: Callable[[int], None], done: asyncio.Event) -> None:
        assert self._redis is not None
        r = self._redis
        try:
            await r.xgroup_create(STREAM, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # another worker created it first
                raise
        consumer = f"c{os.getpid()}"
        to_ack: list[bytes] = []
        while not done.is_set():
            pipe = r.pipeline(transaction=False)
            if to_ack:
                pipe.xack(STREAM, self._group, *to_ack)
            pipe.xreadgroup(
                self._group, consumer, {STREAM: ">"}, count=self._batch, block=_BLOCK_MS
            )
            replies = await pipe.execute()
            entries = replies[-1][0][1] if replies[-1] else []
            to_ack = [entry_id for entry_id, _fields in entries]
            if to_ack:
                received(len(to_ack))
        if to_ack:
            await r.xack(STREAM, self._group, *to_ack)
