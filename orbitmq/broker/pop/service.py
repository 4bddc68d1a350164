"""The broker's POP service: pop, ack and change-invisible-time over the store, for
every protocol (orbitmq/broker/handlers/pop.py serves it over remoting).

A popped message whose invisible time passes unacked is revived, as on RocketMQ 5:
stored again, one attempt more, in the POP retry topic `%RETRY%<group>_<topic>` (which
every pop of the topic also reads), and acked where it was; so a message that keeps
failing does not hold back the group's committed offset. The one that would pass the
group's retryMaxTimes + 1 attempts goes to `%DLQ%<group>` instead. FIFO (order) pops
redeliver in place, and hand nothing more out of a queue while a batch of it is in
flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orbitmq.broker.errors import (
    BrokerError,
    NoPermissionError,
    SubscriptionGroupNotExistError,
    TopicNotExistError,
)
from orbitmq.broker.long_polling import ConnectionHolds
from orbitmq.broker.pop.receipt import NORMAL_TOPIC, POP_RETRY_TOPIC_V1, ReceiptHandle
from orbitmq.broker.pop.state import AckOutcome, Delivery, PopQueueState
from orbitmq.broker.subscription_group import SubscriptionGroupConfig
from orbitmq.protocol.codes import ResponseCode
from orbitmq.protocol.message import MessageConst, MessageExt, decode_record
from orbitmq.protocol.perm import PERM_READ, PERM_WRITE, is_readable
from orbitmq.protocol.sql92 import SqlFilter, compile_sql
from orbitmq.protocol.subscription import SubscriptionData, parse_subscription
from orbitmq.protocol.topics import dlq_topic
from orbitmq.store.results import GetMessageStatus

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController
    from orbitmq.remoting.connection import RemotingConnection

log = logging.getLogger(__name__)

DLQ_NUMS_PER_GROUP = 1
RETRY_QUEUE_NUMS = 1
DLQ_ORIGIN_TOPIC = "DLQ_ORIGIN_TOPIC"
DLQ_ORIGIN_MESSAGE_ID = "DLQ_ORIGIN_MESSAGE_ID"
# Longest wait between looks at in-flight messages during a long poll.
EXPIRY_CHECK_SECONDS = 1.0
_SCAN_ROUNDS = 8  # reads per queue per pop, past filtered-out records


def pop_retry_topic(group: str, topic: str) -> str:
    """Where a topic's POP retries for a group go (KeyBuilder.buildPopRetryTopicV1)."""
    return f"%RETRY%{group}_{topic}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class PollingFullError(BrokerError):
    """The connection holds as many long polls as it may: RocketMQ's POLLING_FULL."""

    response_code = ResponseCode.POLLING_FULL
    retriable = True


class StaleReceiptHandleError(BrokerError):
    """The handle names no current delivery: acked already, or popped again since."""

    response_code = ResponseCode.MESSAGE_ILLEGAL


@dataclass(slots=True)
class PopRequest:
    group: str
    topic: str
    queue_id: int  # -1: any queue
    max_nums: int
    invisible_ms: int
    poll_ms: int
    expression_type: str = "TAG"
    expression: str = "*"
    order: bool = False
    attempt_id: str = ""


@dataclass(frozen=True, slots=True)
class _Source:
    """A queue a pop reads: the topic's own, or its POP retry topic's."""

    topic: str
    queue_id: int
    topic_type: int = NORMAL_TOPIC


@dataclass(slots=True)
class Popped:
    message: MessageExt  # reconsume_times = delivery attempt - 1
    handle: ReceiptHandle


class _Selector:
    """A TAG or SQL92 expression, checked on the consume-queue tag code and then on the
    decoded message."""

    def __init__(self, topic: str, expression_type: str, expression: str) -> None:
        self.subscription: SubscriptionData = parse_subscription(
            topic, expression, 0, expression_type
        )
        self.sql: SqlFilter | None = compile_sql(expression) if self.subscription.is_sql92 else None

    def code_filter(self) -> object:
        subscription = self.subscription
        return None if subscription.matches_all else subscription.code_set.__contains__

    def matches(self, message: MessageExt) -> bool:
        if self.sql is not None:
            return self.sql.matches(message.properties)
        return self.subscription.matches(message.tags)


class PopService:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker
        self._queues: dict[tuple[str, str, int], PopQueueState] = {}
        # What we last wrote to the offset table, to notice an operator's reset.
        self._committed: dict[tuple[str, str, int], int] = {}
        self._arrivals: dict[str, asyncio.Event] = {}
        self._rotation = itertools.count()
        self.holds = ConnectionHolds(
            broker.config.pop_polling_max_per_connection, "pop", "popPollingMaxPerConnection"
        )

    # ------------------------------------------------------------------ pop

    async def pop(self, request: PopRequest, holder: RemotingConnection) -> list[Popped]:
        """Up to `max_nums` messages, waiting up to `poll_ms` for one.

        Raises:
            TopicNotExistError, NoPermissionError, SubscriptionGroupNotExistError,
            ValueError: a filter expression that does not parse.
            PollingFullError: nothing found, and `holder` holds as many polls as it may.
        """
        selector = _Selector(request.topic, request.expression_type, request.expression)
        deadline = time.monotonic() + request.poll_ms / 1000
        found = self._pop_once(request, selector)
        if found or request.poll_ms <= 0:
            return found
        if not self.holds.try_hold(holder):
            raise PollingFullError("the broker's polling queue is full")
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                await self._wait_arrival(request.topic, min(remaining, EXPIRY_CHECK_SECONDS))
                found = self._pop_once(request, selector)
                if found:
                    return found
        finally:
            self.holds.release(holder)

    def _pop_once(self, request: PopRequest, selector: _Selector) -> list[Popped]:
        broker = self._broker
        group = self._group(request.group)
        config = broker.topic_config_manager.get(request.topic)
        if config is None:
            raise TopicNotExistError(f"topic[{request.topic}] not exist, apply first please!")
        if not is_readable(config.perm) or not is_readable(broker.config.broker_permission):
            raise NoPermissionError(f"the topic[{request.topic}] pop message is forbidden")
        if request.queue_id >= 0:
            if request.queue_id >= config.read_queue_nums:
                raise BrokerError(
                    f"queueId[{request.queue_id}] is illegal, topic {request.topic} has "
                    f"{config.read_queue_nums} read queues"
                )
            queue_ids = [request.queue_id]
        else:
            first = next(self._rotation) % max(1, config.read_queue_nums)
            queue_ids = [
                (first + i) % config.read_queue_nums for i in range(config.read_queue_nums)
            ]
        sources = [_Source(request.topic, q) for q in queue_ids]
        if not request.order:
            retry = pop_retry_topic(request.group, request.topic)
            retry_config = broker.topic_config_manager.get(retry)
            if retry_config is not None:
                retries = [
                    _Source(retry, q, POP_RETRY_TOPIC_V1)
                    for q in range(retry_config.read_queue_nums)
                ]
                sources = retries + sources
        popped: list[Popped] = []
        for source in sources:
            room = request.max_nums - len(popped)
            if room <= 0:
                break
            popped += self._pop_queue(request, group, selector, source, room)
        return popped

    def _pop_queue(
        self,
        request: PopRequest,
        group: SubscriptionGroupConfig,
        selector: _Selector,
        source: _Source,
        room: int,
    ) -> list[Popped]:
        key = (request.group, source.topic, source.queue_id)
        state = self._state(key)
        now = now_ms()
        popped: list[Popped] = []
        if request.order and state.blocked_for_order(now, request.attempt_id):
            return popped
        again = state.due(now)
        if request.order and request.attempt_id:
            # A retried FIFO receive gets its batch again (the response may have been lost).
            again = (
                sorted(o for o, d in state.in_flight.items() if d.attempt_id == request.attempt_id)
                or again
            )
        max_attempts = group.retry_max_times + 1
        for offset in again[:room] if request.order else again:
            message = self._read(source.topic, source.queue_id, offset)
            previous = state.in_flight[offset]
            if message is None:  # gone with its segment: nothing to redeliver
                del state.in_flight[offset]
                continue
            attempts = message.reconsume_times + previous.attempt
            if attempts >= max_attempts:
                self._to_dlq(request.group, message, attempts)
                del state.in_flight[offset]
            elif not request.order:
                if self._revive(request.group, request.topic, message, attempts):
                    del state.in_flight[offset]
            else:
                delivery = state.deliver(offset, now, request.invisible_ms, request.attempt_id)
                popped.append(self._popped(message, delivery, source))
        if not (request.order and state.in_flight):
            popped += self._pop_new(request, selector, state, source, room - len(popped), now)
        self._commit(key, state)
        return popped

    def _pop_new(
        self,
        request: PopRequest,
        selector: _Selector,
        state: PopQueueState,
        source: _Source,
        room: int,
        now: int,
    ) -> list[Popped]:
        store = self._broker.message_store
        code_filter = selector.code_filter()
        popped: list[Popped] = []
        for _ in range(_SCAN_ROUNDS):
            if room <= len(popped):
                break
            result = store.get_message(
                source.topic, source.queue_id, state.frontier, room - len(popped), code_filter
            )
            if result.status in (
                GetMessageStatus.NO_MESSAGE_IN_QUEUE,
                GetMessageStatus.OFFSET_OVERFLOW_ONE,
            ):
                break
            try:
                records = [decode_record(buffer) for buffer in result.buffers]
            finally:
                result.release()
            for message in records:
                if not selector.matches(message):
                    continue  # acked as it is skipped, as RocketMQ's proxy does
                delivery = state.deliver(
                    message.queue_offset, now, request.invisible_ms, request.attempt_id
                )
                popped.append(self._popped(message, delivery, source))
            state.skip_to(result.next_begin_offset)
            if result.status is GetMessageStatus.OFFSET_OVERFLOW_BADLY:
                break
        return popped

    def _popped(self, message: MessageExt, delivery: Delivery, source: _Source) -> Popped:
        message.reconsume_times += delivery.attempt - 1
        handle = ReceiptHandle(
            message.queue_offset,
            delivery.pop_time,
            delivery.invisible_time,
            0,
            source.topic_type,
            self._broker.config.broker_name,
            source.queue_id,
            message.queue_offset,
            message.commit_log_offset,
        )
        return Popped(message, handle)

    # ------------------------------------------------------------- ack / change

    def ack(self, group: str, topic: str, handle: ReceiptHandle) -> None:
        """Raises:
        StaleReceiptHandleError: acked already, or popped again since `handle` was made.
        """
        key = (group, self._handle_topic(group, topic, handle), handle.queue_id)
        state = self._queues.get(key)
        if state is None or state.ack(handle.queue_offset, handle.pop_time) is AckOutcome.STALE:
            raise StaleReceiptHandleError(
                f"message at {topic}:{handle.queue_id}:{handle.queue_offset} is not in "
                f"flight for group {group} under this receipt handle (acked already, "
                "or delivered again since)"
            )
        self._commit(key, state)

    def change_invisible(
        self, group: str, topic: str, handle: ReceiptHandle, invisible_ms: int
    ) -> ReceiptHandle:
        """The handle of the same delivery, now invisible for `invisible_ms` from now.

        Raises:
            StaleReceiptHandleError: as for ack.
        """
        state = self._queues.get((group, topic, handle.queue_id))
        delivery = (
            None
            if state is None
            else state.change_invisible(
                handle.queue_offset, handle.pop_time, now_ms(), invisible_ms
            )
        )
        if delivery is None:
            raise StaleReceiptHandleError(
                f"message at {topic}:{handle.queue_id}:{handle.queue_offset} is not in "
                f"flight for group {group} under this receipt handle"
            )
        return handle.renewed(delivery.pop_time, delivery.invisible_time)

    def notify_arrival(self, topic: str) -> None:
        event = self._arrivals.pop(topic, None)
        if event is not None:
            event.set()

    def in_flight_count(self, group: str, topic: str) -> int:
        return sum(
            len(state.in_flight)
            for (g, t, _), state in self._queues.items()
            if g == group and t == topic
        )

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _handle_topic(group: str, topic: str, handle: ReceiptHandle) -> str:
        """The topic the handle's queue belongs to: `topic`'s POP retry topic for a
        retried message (clients name the original topic)."""
        if handle.topic_type == POP_RETRY_TOPIC_V1:
            return pop_retry_topic(group, topic)
        return topic

    def _group(self, name: str) -> SubscriptionGroupConfig:
        group = self._broker.subscription_group_manager.find(name)
        if group is None:
            raise SubscriptionGroupNotExistError(
                f"subscription group [{name}] does not exist; create it with mqadmin updateSubGroup"
            )
        if not group.consume_enable:
            raise NoPermissionError(f"subscription group [{name}] does not allow consuming")
        return group

    def _state(self, key: tuple[str, str, int]) -> PopQueueState:
        """The group's state of one queue, started (or restarted after an operator's
        offset reset) from the committed offset."""
        group, topic, queue_id = key
        committed = self._broker.consumer_offset_manager.query_offset(group, topic, queue_id)
        state = self._queues.get(key)
        if state is not None and self._committed.get(key) == committed:
            return state
        if committed < 0:
            # A new group starts at the beginning while the queue's first message is still
            # there, else at the end (ConsumeInitMode.MAX with checkInMem).
            store = self._broker.message_store
            committed = (
                0
                if store.get_min_offset_in_queue(topic, queue_id) == 0
                else (store.get_max_offset_in_queue(topic, queue_id))
            )
        state = self._queues[key] = PopQueueState(committed)
        self._commit(key, state)
        return state

    def _commit(self, key: tuple[str, str, int], state: PopQueueState) -> None:
        offset = state.watermark()
        if self._committed.get(key) != offset:
            group, topic, queue_id = key
            self._broker.consumer_offset_manager.commit_offset(group, topic, queue_id, offset)
            self._committed[key] = offset

    def _read(self, topic: str, queue_id: int, offset: int) -> MessageExt | None:
        result = self._broker.message_store.get_message(topic, queue_id, offset, 1)
        try:
            if result.status is not GetMessageStatus.FOUND:
                return None
            message = decode_record(result.buffers[0])
        finally:
            result.release()
        return message if message.queue_offset == offset else None

    async def _wait_arrival(self, topic: str, seconds: float) -> None:
        event = self._arrivals.get(topic)
        if event is None:
            event = self._arrivals[topic] = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    def _system_topic(self, topic: str, queue_nums: int) -> None:
        topics = self._broker.topic_config_manager
        if topics.get(topic) is None:
            topics.create_system_topic(topic, queue_nums, PERM_READ | PERM_WRITE)
            self._broker.schedule_register()

    def _store_copy(
        self, message: MessageExt, topic: str, properties: dict[str, str], reconsume_times: int
    ) -> bool:
        """Store `message` again in queue 0 of `topic`; False (logged) if the store refuses."""
        copy = MessageExt(
            topic=topic,
            body=message.body,
            properties=properties,
            queue_id=0,
            flag=message.flag,
            sys_flag=message.sys_flag,
            born_timestamp=message.born_timestamp,
            born_host=message.born_host,
            store_host=self._broker.store_host,
            reconsume_times=reconsume_times,
        )
        result = self._broker.message_store.append_messages([copy])
        if result.append_result is None:
            log.error(
                "message %s could not be stored in %s: %s",
                message.msg_id, topic, result.remark or result.status.name,
            )  # fmt: skip
            return False
        return True

    def _revive(self, group: str, topic: str, message: MessageExt, attempts: int) -> bool:
        """Store an expired delivery in the topic's POP retry topic, to be popped again
        as attempt `attempts + 1`; False if it could not be stored (it stays in flight)."""
        retry = pop_retry_topic(group, topic)
        self._system_topic(retry, RETRY_QUEUE_NUMS)
        properties = dict(message.properties)
        properties.setdefault(MessageConst.RETRY_TOPIC, topic)
        properties.setdefault(MessageConst.ORIGIN_MESSAGE_ID, message.msg_id)
        return self._store_copy(message, retry, properties, attempts)

    def _to_dlq(self, group: str, message: MessageExt, attempts: int) -> None:
        """Store a message that used up its attempts in `%DLQ%<group>`."""
        topic = dlq_topic(group)
        self._system_topic(topic, DLQ_NUMS_PER_GROUP)
        origin = message.properties.get(MessageConst.RETRY_TOPIC) or message.topic
        properties = dict(message.properties)
        properties.setdefault(MessageConst.RETRY_TOPIC, origin)
        properties[DLQ_ORIGIN_TOPIC] = origin
        properties[DLQ_ORIGIN_MESSAGE_ID] = message.msg_id
        properties.pop(MessageConst.DELAY, None)
        if not self._store_copy(message, topic, properties, attempts):
            return
        broker = self._broker
        if broker.metrics is not None:
            broker.metrics.record_dlq(origin, group)
        log.info(
            "message %s of %s went to %s after %d deliveries", message.msg_id, origin, topic,
            attempts,
        )  # fmt: skip
