"""Delay-level messages (ScheduleMessageService.java; the 5.x put hook HookUtils.java).

A message sent with property DELAY=<level> (transaction type NOT or COMMIT) is parked
before it is stored: topic SCHEDULE_TOPIC_XXXX, queue level-1, with REAL_TOPIC/REAL_QID
saved (`park_delayed`). Levels come from `messageDelayLevel`
("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"); a level above the last
is clamped to it, as RocketMQ does.

Theory of operation: one task (`schedule_service`) delivers every level. Store
timestamps never go backwards, so the units of one level queue are in due-time order
(due = store timestamp + level delay). A pass walks each level that needs a look from its
saved offset: every due message is re-stored into its real topic and queue
(`message_from_schedule`: DELAY removed, UNIQ_KEY kept, so the message id is unchanged)
and the level's offset advances; the first message not yet due becomes that level's
`pending` due time. The task then sleeps until the earliest pending due time (a loop
timer, so delivery is prompt rather than polled) or until reput reports a new unit in a
level that had caught up (`on_message_arrival`). A failed put is retried after 100 ms.

Progress, `offsetTable{level -> next offset}`, is persisted to config/delayOffset.json
every `flushDelayOffsetInterval` ms when it changed, and at shutdown. Readers accept
fastjson's unquoted integer keys.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from orbitmq.broker.errors import MessageIllegalError
from orbitmq.broker.topic_config import SCHEDULE_TOPIC, TRANS_HALF_TOPIC
from orbitmq.config_file import ConfigError, load_json_file, persist_json_file
from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.message import MessageConst, MessageExt, SysFlag, decode_record
from orbitmq.store.message_store import GetMessageStatus

if TYPE_CHECKING:
    from orbitmq.store.message_store import MessageStore

log = logging.getLogger(__name__)

_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DELAYED_TRANSACTION_TYPES = (0, SysFlag.TRANSACTION_COMMIT)
_BATCH = 32  # units read per look at a level queue
_PASS_BUDGET = 512  # messages re-stored per pass before yielding (~10 ms of the loop)
_RETRY_MS = 100  # a failed put is retried this much later (DELAY_FOR_A_WHILE)


# --------------------------------------------------------------------------- pure core


def parse_delay_levels(text: str) -> list[int]:
    """`messageDelayLevel` -> delay in ms per level (index 0 is level 1).

    Raises:
        ConfigError: an entry is not a whole number followed by s, m, h or d.
    """
    delays: list[int] = []
    for item in text.split():
        number, unit = item[:-1], item[-1:]
        if unit not in _UNIT_MS or not number.isdigit():
            raise ConfigError(
                f"messageDelayLevel={text!r}: entry {item!r} is not a whole number "
                "followed by s, m, h or d"
            )
        delays.append(int(number) * _UNIT_MS[unit])
    if not delays:
        raise ConfigError(f"messageDelayLevel={text!r}: no delay level")
    return delays


def delay_level_of(properties: dict[str, str]) -> int:
    """The DELAY property as an int (0 when absent).

    Raises:
        MessageIllegalError: DELAY is not an integer.
    """
    text = properties.get(MessageConst.DELAY)
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        raise MessageIllegalError(f"message property DELAY={text!r} is not an integer") from None


def park_delayed(msg: MessageExt, max_level: int) -> bool:
    """Rewrite a delayed message to SCHEDULE_TOPIC_XXXX; True if it was delayed.

    Only transaction types NOT and COMMIT are delayed (a half message is not). A level
    above `max_level` is clamped to it, and DELAY is rewritten to the level used.
    """
    if msg.sys_flag & SysFlag.TRANSACTION_MASK not in _DELAYED_TRANSACTION_TYPES:
        return False
    level = delay_level_of(msg.properties)
    if level <= 0:
        return False
    if level > max_level:
        level = max_level
        msg.properties[MessageConst.DELAY] = str(level)
    msg.properties[MessageConst.REAL_TOPIC] = msg.topic
    msg.properties[MessageConst.REAL_QID] = str(msg.queue_id)
    msg.topic = SCHEDULE_TOPIC
    msg.queue_id = level - 1
    return True


def message_from_schedule(parked: MessageExt) -> MessageExt | None:
    """The message to store in the real topic once due (ScheduleMessageService.messageTimeup).

    Same body, flag, sysFlag, born and store host, reconsume times; properties minus
    DELAY. REAL_TOPIC/REAL_QID stay, as on a Java broker. None if the parked record does
    not say where it belongs.
    """
    properties = dict(parked.properties)
    properties.pop(MessageConst.DELAY, None)
    topic = properties.get(MessageConst.REAL_TOPIC)
    queue_id = properties.get(MessageConst.REAL_QID, "")
    if not topic or not queue_id.isdigit():
        return None
    return unparked(parked, topic, int(queue_id), properties)


def unparked(
    parked: MessageExt, topic: str, queue_id: int, properties: dict[str, str]
) -> MessageExt:
    """A parked record (delay level or timer) as the message to store in its real topic:
    the same body, flag, sysFlag, born and store host and reconsume times."""
    return MessageExt(
        topic=topic,
        body=parked.body,
        properties=properties,
        queue_id=queue_id,
        flag=parked.flag,
        sys_flag=parked.sys_flag,
        born_timestamp=parked.born_timestamp,
        born_host=parked.born_host,
        store_host=parked.store_host,
        reconsume_times=parked.reconsume_times,
        prepared_transaction_offset=parked.prepared_transaction_offset,
    )


def due_time(store_timestamp: int, delay_ms: int, now_ms: int) -> int:
    """When a parked message is due; a time implausibly far ahead (the clock went back
    after it was stored) counts as now, as Java's correctDeliverTimestamp does."""
    due = store_timestamp + delay_ms
    return now_ms if due > now_ms + delay_ms else due


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# --------------------------------------------------------------------------- the service


class ScheduleMessageService:
    """Delivers parked messages when due; owns config/delayOffset.json.

    Args:
        store: the broker's message store (started before `load`).
        message_delay_level: the `messageDelayLevel` text.
        store_path_root_dir: where `config/delayOffset.json` lives.
        flush_interval_ms: `flushDelayOffsetInterval`.

    Raises:
        ConfigError: `message_delay_level` does not parse.
    """

    def __init__(
        self,
        store: MessageStore,
        message_delay_level: str,
        store_path_root_dir: str,
        flush_interval_ms: int = 10_000,
    ) -> None:
        self._store = store
        self.delays_ms = parse_delay_levels(message_delay_level)
        self.path = os.path.join(store_path_root_dir, "config", "delayOffset.json")
        self._flush_interval = flush_interval_ms / 1000
        self.offset_table: dict[int, int] = {}
        # level -> (offset to report, commit-log end needed before offset_table's counts)
        self._unconfirmed: dict[int, tuple[int, int]] = {}
        self._pending: dict[int, int | None] = {}  # level -> due ms of its head message
        self._dirty_levels: set[int] = set(range(1, self.max_level + 1))
        self._wake = asyncio.Event()
        self._changed = False
        self.delivered_count = 0

    @property
    def max_level(self) -> int:
        return len(self.delays_ms)

    def delay_ms(self, level: int) -> int:
        return self.delays_ms[level - 1]

    # ------------------------------------------------------------------ progress

    def load(self) -> None:
        """Read delayOffset.json and clamp each offset into its queue's [min, max]."""
        data = load_json_file(self.path)
        table: dict[Any, Any] = (data or {}).get("offsetTable") or {}
        for key, value in table.items():
            try:
                self.offset_table[int(key)] = int(value)
            except (TypeError, ValueError):
                log.warning("%s: ignoring entry %r: %r", self.path, key, value)
        store = self._store
        for level in range(1, self.max_level + 1):
            low = store.get_min_offset_in_queue(SCHEDULE_TOPIC, level - 1)
            high = store.get_max_offset_in_queue(SCHEDULE_TOPIC, level - 1)
            offset = self.offset_table.get(level, low)
            self.offset_table[level] = min(max(offset, low), high)

    def to_json(self) -> dict[str, Any]:
        """The delayOffset.json / GET_ALL_DELAY_OFFSET value: each level's offset past
        the deliveries the commit log holds."""
        stored_end = self._store.get_commit_log_max_offset()
        for level, (_confirmed, needed_end) in list(self._unconfirmed.items()):
            if needed_end <= stored_end:
                del self._unconfirmed[level]
        table = {
            level: self._unconfirmed[level][0] if level in self._unconfirmed else offset
            for level, offset in self.offset_table.items()
        }
        return {"offsetTable": dict(sorted(table.items()))}

    def persist(self) -> None:
        persist_json_file(self.path, self.to_json())
        self._changed = False

    def replace_offsets(self, offset_table: dict[int, int]) -> None:
        """Slave sync: the master's progress becomes ours and is written at once. It is
        not clamped to our queues, whose parked messages may not be replicated yet."""
        self.offset_table = dict(offset_table)
        self._unconfirmed.clear()
        self.persist()

    async def persist_service(self) -> None:
        """Background task: persist the offsets every flushDelayOffsetInterval if changed."""
        while True:
            await asyncio.sleep(self._flush_interval)
            if self._changed:
                try:
                    self.persist()
                except OSError:
                    log.exception("persisting %s failed", self.path)

    # ------------------------------------------------------------------ delivery

    def on_message_arrival(self, queue_id: int) -> None:
        """Reput added a unit to SCHEDULE_TOPIC_XXXX queue `queue_id`."""
        level = queue_id + 1
        if 1 <= level <= self.max_level and self._pending.get(level) is None:
            self._dirty_levels.add(level)
            self._wake.set()

    async def schedule_service(self) -> None:
        """Background task: deliver due messages, then sleep until the next one is due."""
        while True:
            self._wake.clear()
            next_due, busy = self.deliver_due(_now_ms())
            if busy:
                await asyncio.sleep(0)  # a backlog: let sends and pulls run between passes
                continue
            timeout = None if next_due is None else max(0.0, (next_due - _now_ms()) / 1000)
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def deliver_due(self, now_ms: int) -> tuple[int | None, bool]:
        """One pass over the levels that need a look.

        Returns:
            (earliest pending due time in ms or None, whether the pass budget ran out).
        """
        budget = _PASS_BUDGET
        for level in range(1, self.max_level + 1):
            pending = self._pending.get(level)
            if level not in self._dirty_levels and (pending is None or pending > now_ms):
                continue
            self._dirty_levels.discard(level)
            try:
                self._pending[level], budget = self._deliver_level(level, now_ms, budget)
            except Exception:
                log.exception("delivering delay level %d failed; retrying in 10 s", level)
                self._pending[level] = now_ms + 10_000
            if budget <= 0:
                return None, True
        dues = [due for due in self._pending.values() if due is not None]
        return (min(dues) if dues else None), False

    def _deliver_level(self, level: int, now_ms: int, budget: int) -> tuple[int | None, int]:
        """Deliver the due head of one level; return (its next due time or None, budget)."""
        store = self._store
        delay = self.delay_ms(level)
        offset = self.offset_table.get(level, 0)
        needed_end = 0  # commit-log end the deliveries of this pass need to be stored
        try:
            while budget > 0:
                result = store.get_message(SCHEDULE_TOPIC, level - 1, offset, _BATCH)
                status = result.status
                if status is not GetMessageStatus.FOUND:
                    result.release()
                    if status in (
                        GetMessageStatus.NO_MESSAGE_IN_QUEUE,
                        GetMessageStatus.OFFSET_OVERFLOW_ONE,
                    ):
                        return None, budget
                    if result.next_begin_offset == offset:  # nothing to skip over
                        return None, budget
                    offset = result.next_begin_offset  # too small / too big / hole
                    continue
                try:
                    for buffer in result.buffers:
                        try:
                            parked = decode_record(buffer)
                        except RemoteProtocolError as exc:
                            log.error("skipping a bad record in delay level %d: %s", level, exc)
                            offset += 1
                            continue
                        due = due_time(parked.store_timestamp, delay, now_ms)
                        if due > now_ms:
                            return due, budget
                        end = self._deliver(parked)
                        if end is None:
                            return now_ms + _RETRY_MS, budget
                        needed_end = max(needed_end, end)
                        offset = parked.queue_offset + 1
                        budget -= 1
                        if budget <= 0:
                            break
                    else:  # the whole batch is done: skip what the scan skipped too
                        offset = max(offset, result.next_begin_offset)
                finally:
                    result.release()
            return now_ms, budget  # budget spent: due again at once
        finally:
            old = self.offset_table.get(level, 0)
            if old != offset:
                if needed_end > store.get_commit_log_max_offset():
                    # DLedger mode: proposed, not yet committed. Until it is, the offset
                    # we report to followers and persist stays where it was, so a new
                    # leader delivers these again rather than never.
                    confirmed = self._unconfirmed.get(level, (old, 0))[0]
                    self._unconfirmed[level] = (confirmed, needed_end)
                self.offset_table[level] = offset
                self._changed = True

    def _deliver(self, parked: MessageExt) -> int | None:
        """Store the real message; return the commit-log end it needs (0: nothing to
        store), or None if the store refused it (retry later)."""
        msg = message_from_schedule(parked)
        if msg is None or msg.topic == TRANS_HALF_TOPIC:
            log.error(
                "dropping delayed message at commit log offset %d: real topic %r, queue %r",
                parked.commit_log_offset,
                parked.properties.get(MessageConst.REAL_TOPIC),
                parked.properties.get(MessageConst.REAL_QID),
            )
            return 0
        result = self._store.append_messages([msg])
        if not result.is_ok:
            log.warning(
                "delivering delayed message %s to %s failed (%s %s); retrying",
                msg.msg_id,
                msg.topic,
                result.status.name,
                result.remark,
            )
            return None
        self.delivered_count += 1
        appended = result.append_result
        return appended.wrote_offset + appended.wrote_bytes if appended is not None else 0
