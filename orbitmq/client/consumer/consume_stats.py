"""A push consumer's pull and consume figures per topic, for the statusTable of its
GET_CONSUMER_RUNNING_INFO answer (ConsumerStatsManager.java, ConsumeStatus.java).

Java keeps running totals per `topic@group` (StatsItem), samples them every 10 s, and
reports the change over the last minute (the last hour for consumeFailedMsgs):
  pullRT            mean ms of a pull that found messages (long polling included)
  pullTPS           messages found per second
  consumeRT         mean ms of a listener call (the last hour's if the minute had none)
  consumeOKTPS      messages per second the listener consumed
  consumeFailedTPS  messages per second it did not (not a success status, or it raised)
  consumeFailedMsgs messages it did not consume in the last hour
Here the totals go into 10-second buckets, and a window is the complete buckets in it:
the same figures without a sampling task. The topic is the queue's, as in Java: a
message redelivered from `%RETRY%<group>` counts there, though the listener sees it
under its original topic (it carries the RETRY_TOPIC property).

Pull figures come from the pull loop (puller.py). Consume figures come from a wrapper
around the listener (`counted_listener`), so calls made for CONSUME_MESSAGE_DIRECTLY,
which go to the bare listener, are not counted, as in Java.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from orbitmq.client.consumer.broker_requests import now_ms
from orbitmq.client.consumer.consume import ConsumeStatus, is_async_listener
from orbitmq.client.consumer.consume_orderly import ConsumeOrderlyStatus
from orbitmq.protocol.message import MessageConst, MessageExt
from orbitmq.protocol.topics import retry_topic

BUCKET_MS = 10_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000

PULL_RT = "PULL_RT"
PULL_TPS = "PULL_TPS"
CONSUME_RT = "CONSUME_RT"
CONSUME_OK_TPS = "CONSUME_OK_TPS"
CONSUME_FAILED_TPS = "CONSUME_FAILED_TPS"


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """What a window holds: the values' sum, per second, and per call."""

    sum: int = 0
    tps: float = 0.0
    avgpt: float = 0.0


class StatsItem:
    """One key's totals in 10-second buckets; an hour of buckets is kept."""

    def __init__(self, now_ms: int) -> None:
        self._first = now_ms // BUCKET_MS
        self._buckets: dict[int, list[int]] = {}  # bucket number -> [value, times]

    def add(self, now_ms: int, value: int, times: int = 1) -> None:
        slot = now_ms // BUCKET_MS
        bucket = self._buckets.get(slot)
        if bucket is None:
            bucket = self._buckets[slot] = [0, 0]
            oldest = slot - HOUR_MS // BUCKET_MS
            for old in [s for s in self._buckets if s < oldest]:
                del self._buckets[old]
        bucket[0] += value
        bucket[1] += times

    def snapshot(self, now_ms: int, window_ms: int) -> StatsSnapshot:
        """The complete buckets of the last `window_ms` (fewer while the item is younger)."""
        current = now_ms // BUCKET_MS
        start = max(current - window_ms // BUCKET_MS, self._first)
        if start >= current:
            return StatsSnapshot()
        value = times = 0
        for slot in range(start, current):
            bucket = self._buckets.get(slot)
            if bucket is not None:
                value += bucket[0]
                times += bucket[1]
        seconds = (current - start) * BUCKET_MS / 1000
        return StatsSnapshot(value, value / seconds, value / times if times else 0.0)


class ConsumerStatsManager:
    """The figures of one consumer group by topic. Thread-safe: plain `def` listeners
    report from the consume threads."""

    def __init__(self, clock: Callable[[], int] = now_ms) -> None:
        self._clock = clock
        self._items: dict[tuple[str, str], StatsItem] = {}  # (figure, topic) -> totals
        self._lock = threading.Lock()

    def _add(self, figure: str, topic: str, value: int) -> None:
        now = self._clock()
        with self._lock:
            self._add_locked(now, figure, topic, value)

    def _add_locked(self, now: int, figure: str, topic: str, value: int) -> None:
        item = self._items.get((figure, topic))
        if item is None:
            item = self._items[(figure, topic)] = StatsItem(now)
        item.add(now, value)

    def _snapshot(self, figure: str, topic: str, now: int, window_ms: int) -> StatsSnapshot:
        item = self._items.get((figure, topic))
        return item.snapshot(now, window_ms) if item is not None else StatsSnapshot()

    def inc_pull_rt(self, topic: str, rt_ms: int) -> None:
        self._add(PULL_RT, topic, rt_ms)

    def inc_pull_tps(self, topic: str, msgs: int) -> None:
        self._add(PULL_TPS, topic, msgs)

    def inc_consume_rt(self, topic: str, rt_ms: int) -> None:
        self._add(CONSUME_RT, topic, rt_ms)

    def inc_consume_ok_tps(self, topic: str, msgs: int) -> None:
        self._add(CONSUME_OK_TPS, topic, msgs)

    def inc_consume_failed_tps(self, topic: str, msgs: int) -> None:
        self._add(CONSUME_FAILED_TPS, topic, msgs)

    def inc_consume(self, topic: str, rt_ms: int, msgs: int, succeeded: bool) -> None:
        """One listener call: its time and its messages' outcome, under one lock (this runs
        once per consumed batch)."""
        now = self._clock()
        with self._lock:
            self._add_locked(now, CONSUME_RT, topic, rt_ms)
            self._add_locked(now, CONSUME_OK_TPS if succeeded else CONSUME_FAILED_TPS, topic, msgs)

    def consume_status(self, topic: str) -> dict[str, Any]:
        """ConsumeStatus of `topic` as fastjson writes it."""
        now = self._clock()
        with self._lock:
            consume_rt = self._snapshot(CONSUME_RT, topic, now, MINUTE_MS)
            if consume_rt.sum == 0:
                consume_rt = self._snapshot(CONSUME_RT, topic, now, HOUR_MS)
            return {
                "pullRT": self._snapshot(PULL_RT, topic, now, MINUTE_MS).avgpt,
                "pullTPS": self._snapshot(PULL_TPS, topic, now, MINUTE_MS).tps,
                "consumeRT": consume_rt.avgpt,
                "consumeOKTPS": self._snapshot(CONSUME_OK_TPS, topic, now, MINUTE_MS).tps,
                "consumeFailedTPS": self._snapshot(CONSUME_FAILED_TPS, topic, now, MINUTE_MS).tps,
                "consumeFailedMsgs": self._snapshot(CONSUME_FAILED_TPS, topic, now, HOUR_MS).sum,
            }


def stats_topic(msg: MessageExt, group: str) -> str:
    """The topic of the queue `msg` was pulled from (see the module docstring)."""
    return retry_topic(group) if MessageConst.RETRY_TOPIC in msg.properties else msg.topic


def is_success(status: object, orderly: bool) -> bool:
    """Whether the consume services take `status` as a success (consume.py and
    consume_orderly.py)."""
    if orderly:
        return status in (ConsumeOrderlyStatus.SUCCESS, ConsumeStatus.CONSUME_SUCCESS)
    return status is ConsumeStatus.CONSUME_SUCCESS


def counted_listener(
    listener: Callable[[list[MessageExt]], Any],
    stats: ConsumerStatsManager,
    group: str,
    orderly: bool,
) -> Callable[[list[MessageExt]], Any]:
    """`listener`, recording each call's time and outcome in `stats`; `async def` stays
    `async def`, so the consume services still await it on the loop."""

    def record(msgs: list[MessageExt], started: float, succeeded: bool) -> None:
        if not msgs:
            return
        rt_ms = int((time.monotonic() - started) * 1000)
        stats.inc_consume(stats_topic(msgs[0], group), rt_ms, len(msgs), succeeded)

    if is_async_listener(listener):
        call_async: Callable[[list[MessageExt]], Awaitable[Any]] = listener

        async def counted_async(msgs: list[MessageExt]) -> Any:
            started = time.monotonic()
            try:
                status = await call_async(msgs)
            except Exception:
                record(msgs, started, False)
                raise
            record(msgs, started, is_success(status, orderly))
            return status

        return counted_async

    def counted(msgs: list[MessageExt]) -> Any:
        started = time.monotonic()
        try:
            status = listener(msgs)
        except Exception:
            record(msgs, started, False)
            raise
        record(msgs, started, is_success(status, orderly))
        return status

    return counted
