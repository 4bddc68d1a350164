"""TimerMessageService: holds timer messages until due (RocketMQ 5's TimerMessageStore).

Theory of operation: a send asking for a delivery time is parked at once, in the commit
log, in rmq_sys_wheel_timer queue 0 (`park`, transform.py), so it lives as long as any
stored message. On a master, one task (`timer_service`) first rebuilds the pending
timers from the store and the checkpoint (recovery.py), then loops:
  * units reput adds to the timer queue (`on_message_arrival` wakes the task) are read
    and pushed on a heap of (due ms, timer queue offset, commit-log offset);
  * every timer due is read back from the commit log and stored in its real topic and
    queue (transform.message_from_timer), and counted in the progress (progress.py);
  * the progress is written to config/timercheck.json every timerFlushIntervalMs when
    it changed, and when the task stops;
  * then it sleeps until the next timer is due, the next write, or a new unit.
A store that refuses a delivery is retried 100 ms later. Slaves do not run the task:
slave sync copies the master's checkpoint (GET_TIMER_CHECKPOINT, handler.py) into their
own file, from which they recover when they become master.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from orbitmq.broker.timer.progress import CheckpointError, TimerProgress
from orbitmq.broker.timer.recall import RecallHandle, cancel_key, recall_marker
from orbitmq.broker.timer.recovery import Pending, read_parked, recover
from orbitmq.broker.timer.transform import (
    TIMER_DEL_UNIQKEY,
    TIMER_QUEUE_ID,
    TIMER_TOPIC,
    TimerSettings,
    asks_for_time,
    message_from_timer,
    park_timer,
)
from orbitmq.config_file import load_json_file, persist_json_file
from orbitmq.protocol.message import MessageExt
from orbitmq.protocol.perm import PERM_READ

if TYPE_CHECKING:
    from orbitmq.broker.config import BrokerConfig
    from orbitmq.broker.topic_config import TopicConfigManager
    from orbitmq.store.message_store import MessageStore

log = logging.getLogger(__name__)

CHECKPOINT_FILE = os.path.join("config", "timercheck.json")
_ENQUEUE_BUDGET = 1024  # timer queue units read per pass
_DELIVER_BUDGET = 512  # deliveries per pass before yielding (~10 ms of the loop)
_RETRY_MS = 100  # a delivery the store refused is tried again this much later
_FAILURE_PAUSE_S = 1.0  # after an unexpected error


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class TimerMessageService:
    """Parks timer messages at send; delivers them when due on a master.

    Args:
        store: the broker's message store.
        config: the broker config; the timer keys are read when used, so
            UPDATE_BROKER_CONFIG changes take effect.
    """

    def __init__(self, store: MessageStore, config: BrokerConfig) -> None:
        self._store = store
        self._config = config
        self.path = os.path.join(config.store_path_root_dir, CHECKPOINT_FILE)
        self._progress: TimerProgress | None = None  # set while delivering
        self._heap: list[Pending] = []
        self._scanned = 0  # next timer queue offset to read
        self._wake = asyncio.Event()
        self._copied: dict[str, Any] | None = None  # the master's checkpoint last written
        # Keys of recalled timers (recall.py), from the markers read so far.
        self._recalled: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self._config.timer_wheel_enable

    @property
    def precision_ms(self) -> int:
        return self._config.timer_precision_ms

    @property
    def pending_count(self) -> int:
        return len(self._heap)

    def load(self, topics: TopicConfigManager) -> None:
        """Configure the timer topic (one queue), as RocketMQ's TopicConfigManager does:
        it is routed like the other system topics, and CLEAN_UNUSED_TOPIC keeps it.
        Read-only, unlike RocketMQ's: producers may not write records that would be
        delivered to the topic they name (the broker parks its own without asking)."""
        if self.enabled:
            topics.create_system_topic(TIMER_TOPIC, 1, PERM_READ)
            return
        waiting = self._store.get_max_offset_in_queue(TIMER_TOPIC, TIMER_QUEUE_ID) - max(
            self.load_checkpoint().low,
            self._store.get_min_offset_in_queue(TIMER_TOPIC, TIMER_QUEUE_ID),
        )
        if waiting > 0:
            log.warning(
                "timerWheelEnable=false: up to %d timer messages parked in %s wait until it "
                "is true again",
                waiting,
                TIMER_TOPIC,
            )

    # ------------------------------------------------------------------ send side

    def park(self, msg: MessageExt, *, prepared: bool) -> bool:
        """The send hook: park `msg` in the timer topic if it asks for a later time.

        Raises:
            BrokerError: see transform.park_timer.
        """
        if msg.topic != TIMER_TOPIC and not asks_for_time(msg.properties):
            return False
        config = self._config
        settings = TimerSettings(
            config.timer_wheel_enable,
            config.timer_max_delay_sec,
            config.timer_precision_ms,
            config.broker_name,
        )
        return park_timer(msg, settings, _now_ms(), prepared=prepared)

    # ------------------------------------------------------------------ checkpoint

    def load_checkpoint(self) -> TimerProgress:
        """The progress in timercheck.json (or its .bak); with none, or a bad one,
        recovery reads the whole timer queue and the log after it."""
        data = load_json_file(self.path)
        if data is None:
            return TimerProgress()
        try:
            return TimerProgress.from_json(data)
        except CheckpointError as exc:
            log.error("%s: %s; recovering timers without it", self.path, exc)
            return TimerProgress()

    def checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint as of now; None unless this broker delivers timers."""
        progress = self._progress
        if progress is None:
            return None
        return progress.checkpoint(self._store.get_commit_log_max_offset())

    def persist(self) -> None:
        progress = self._progress
        if progress is None:
            return
        stored_end = self._store.get_commit_log_max_offset()
        persist_json_file(self.path, progress.checkpoint(stored_end))
        progress.commit_log_offset = stored_end
        progress.changed = False
        self._copied = None

    def replace_checkpoint(self, data: dict[str, Any]) -> None:
        """Slave sync: the master's checkpoint becomes ours, written at once.

        Raises:
            CheckpointError: `data` is not a checkpoint (nothing is written).
        """
        if data == self._copied:
            return
        TimerProgress.from_json(data)
        persist_json_file(self.path, data)
        self._copied = data

    def _persist_due(self) -> bool:
        progress = self._progress
        return progress is not None and (
            progress.changed
            or progress.unconfirmed_count > 0
            or progress.commit_log_offset != self._store.get_commit_log_max_offset()
        )

    # ------------------------------------------------------------------ delivery

    def on_message_arrival(self) -> None:
        """Reput added units to the timer queue."""
        if self._progress is not None:
            self._wake.set()

    async def recover(self) -> None:
        """Rebuild the pending timers from the checkpoint and the store; from then on
        this broker delivers them (`deliver_due`) and answers GET_TIMER_CHECKPOINT."""
        progress = self.load_checkpoint()
        self._heap, self._scanned = await recover(self._store, progress, self.precision_ms)
        self._recalled = set()
        for _fire, _queue_offset, commit_log_offset in self._heap:
            parked = self._store.look_message_by_offset(commit_log_offset)
            if parked is not None and TIMER_DEL_UNIQKEY in parked.properties:
                self._recalled.add(parked.properties[TIMER_DEL_UNIQKEY])
        self._progress = progress

    # ------------------------------------------------------------------ recall

    def recall(self, handle: RecallHandle, store_host: tuple[str, int]) -> MessageExt:
        """The marker that recalls the timer `handle` names, for the caller to store.

        Raises:
            MessageIllegalError: the timer is due already.
        """
        return recall_marker(handle, self.precision_ms, _now_ms(), store_host)

    async def timer_service(self) -> None:
        """Background task (masters): recover, then deliver timers as they fall due."""
        while self._progress is None:
            try:
                await self.recover()
            except Exception:
                log.exception("recovering timer messages failed; retrying in 1 s")
                await asyncio.sleep(_FAILURE_PAUSE_S)
        try:
            next_persist = 0.0
            while True:
                self._wake.clear()
                try:
                    busy = self.deliver_due(_now_ms())
                except Exception:
                    log.exception("delivering timer messages failed; retrying in 1 s")
                    await asyncio.sleep(_FAILURE_PAUSE_S)
                    continue
                if time.monotonic() >= next_persist:
                    if self._persist_due():
                        self._persist_logged()
                    next_persist = time.monotonic() + self._config.timer_flush_interval_ms / 1000
                if busy:
                    await asyncio.sleep(0)  # a backlog: let sends and pulls run between passes
                    continue
                timeout = next_persist - time.monotonic()
                if self._heap:
                    timeout = min(timeout, (self._heap[0][0] - _now_ms()) / 1000)
                try:
                    async with asyncio.timeout(max(0.0, timeout)):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            self._persist_logged()
            self._progress = None
            self._heap = []

    def deliver_due(self, now_ms: int) -> bool:
        """One pass: take in new timer units, store every timer due by `now_ms` in its
        topic. Returns True if a budget ran out (more to do at once)."""
        progress = self._progress
        assert progress is not None, "recover() first"
        busy = self._enqueue_new(progress)
        return self._deliver(progress, now_ms) or busy

    def _persist_logged(self) -> None:
        try:
            self.persist()
        except OSError:
            log.exception("persisting %s failed", self.path)

    def _enqueue_new(self, progress: TimerProgress) -> bool:
        """Push the timers reput added since the last pass; True if more are waiting."""
        store = self._store
        if store.get_max_offset_in_queue(TIMER_TOPIC, TIMER_QUEUE_ID) <= self._scanned:
            return False
        timers, read, self._scanned = read_parked(
            store, progress, self._scanned, _ENQUEUE_BUDGET, self.precision_ms
        )
        for fire, parked in timers:
            key = parked.properties.get(TIMER_DEL_UNIQKEY)
            if key is not None:
                self._recalled.add(key)
            heapq.heappush(self._heap, (fire, parked.queue_offset, parked.commit_log_offset))
        return read >= _ENQUEUE_BUDGET

    def _skipped(self, parked: MessageExt) -> bool:
        """A recall marker (done once its slot comes), or a timer it recalled."""
        marker = parked.properties.get(TIMER_DEL_UNIQKEY)
        if marker is not None:
            self._recalled.discard(marker)
            return True
        key = cancel_key(parked)
        if key is None or key not in self._recalled:
            return False
        log.info("timer message %s recalled: not delivered", key)
        return True

    def _deliver(self, progress: TimerProgress, now_ms: int) -> bool:
        """Store every timer due by `now_ms` in its topic; True if the budget ran out."""
        store = self._store
        heap = self._heap
        budget = _DELIVER_BUDGET
        try:
            while heap and heap[0][0] <= now_ms:
                if budget == 0:
                    return True
                _fire, queue_offset, commit_log_offset = heap[0]
                parked = store.look_message_by_offset(commit_log_offset)
                if parked is not None and self._skipped(parked):
                    heapq.heappop(heap)
                    progress.mark_done(queue_offset)
                    continue
                msg = message_from_timer(parked, now_ms) if parked is not None else None
                if msg is None:
                    log.error(
                        "timer queue offset %d: no timer message at commit log offset %d; dropped",
                        queue_offset,
                        commit_log_offset,
                    )
                    heapq.heappop(heap)
                    progress.mark_done(queue_offset)
                    continue
                result = store.append_messages([msg])
                appended = result.append_result
                if appended is None:
                    log.warning(
                        "delivering timer message %s to %s failed (%s %s); retrying",
                        msg.msg_id,
                        msg.topic,
                        result.status.name,
                        result.remark,
                    )
                    heapq.heapreplace(heap, (now_ms + _RETRY_MS, queue_offset, commit_log_offset))
                    return False
                heapq.heappop(heap)
                progress.mark_delivered(
                    queue_offset,
                    appended.wrote_offset + appended.wrote_bytes,
                    store.get_commit_log_max_offset(),
                )
                budget -= 1
            return False
        finally:
            progress.confirm(store.get_commit_log_max_offset())
