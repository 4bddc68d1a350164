"""PULL_MESSAGE (11) with long polling (PullMessageProcessor.java).

PullSysFlag bits: 0x1 commit offset, 0x2 suspend (long poll), 0x4 subscription in request,
0x8 class filter. Status mapping and nextBeginOffset follow remoting-protocol.md §3.4.
TAG subscriptions are filtered by tag hash inside the store's scan; SQL92 ones (only with
`enablePropertyFilter=true`, else SYSTEM_ERROR with Java's text) by evaluating the
selector on each scanned record's properties (broker/message_filter.py).

suggestWhichBrokerId (store-and-replication.md §8.7): 0 unless `slaveReadEnable`; with it,
the group's whichBrokerWhenConsumeSlowly when the last pulled record lies farther from the
commit log's end than `accessMessageInMemoryMaxRatio` % of RAM, else the group's brokerId.
A slave (unless `offsetCheckInSlave`) answers an out-of-range offset with
PULL_RETRY_IMMEDIATELY at the same offset: it may only be behind its master. A slave also
serves the replicated queues of a topic whose config its master died before syncing
(see `_replicated_without_config`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from orbitmq.broker.errors import (
    BrokerError,
    NoPermissionError,
    SubscriptionGroupNotExistError,
    SubscriptionNotExistError,
    SubscriptionNotLatestError,
    SubscriptionParseError,
    TopicNotExistError,
)
from orbitmq.broker.headers import Header
from orbitmq.broker.message_filter import filter_by_properties
from orbitmq.broker.subscription_group import SubscriptionGroupConfig
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import PHYSICAL_OFFSET_POSITION
from orbitmq.protocol.perm import is_readable
from orbitmq.protocol.sql92 import SqlFilter, SqlSyntaxError, compile_sql
from orbitmq.protocol.subscription import (
    EXPRESSION_TYPE_SQL92,
    EXPRESSION_TYPE_TAG,
    SubscriptionData,
    normalize_expression_type,
    parse_subscription,
)
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.store.message_store import GetMessageResult, GetMessageStatus

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

FLAG_COMMIT_OFFSET = 0x1
FLAG_SUSPEND = 0x2
FLAG_SUBSCRIPTION = 0x4

# Java answers a held pull before its client's 30 s timeout; never hold longer than this.
MAX_SUSPEND_SECONDS = 25.0
# MixAll.TOOLS_CONSUMER_GROUP: consoles and mqadmin browse messages by pulling as this
# group; that is no consumption, so it stays out of the consumed counts and metrics
# (msgGetTotalTodayNow, get TPS, rocketmq_messages_out_total; apache/rocketmq#7619).
TOOLS_CONSUMER_GROUP = "TOOLS_CONSUMER"
# As a Java broker does, a held pull looks again this often even without a wake-up.
HOLD_RECHECK_SECONDS = 5.0
MASTER_ID = 0

log = logging.getLogger(__name__)


def _pull_code(result: GetMessageResult, requested: int) -> int:
    status = result.status
    if status is GetMessageStatus.FOUND:
        return ResponseCode.SUCCESS
    if status is GetMessageStatus.NO_MESSAGE_IN_QUEUE:
        return ResponseCode.PULL_NOT_FOUND if requested == 0 else ResponseCode.PULL_OFFSET_MOVED
    if status is GetMessageStatus.OFFSET_OVERFLOW_ONE:
        return ResponseCode.PULL_NOT_FOUND
    if status in (GetMessageStatus.OFFSET_TOO_SMALL, GetMessageStatus.OFFSET_OVERFLOW_BADLY):
        return ResponseCode.PULL_OFFSET_MOVED
    return ResponseCode.PULL_RETRY_IMMEDIATELY


class PullMessageHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker
        self._unsynced_topics: set[str] = set()  # logged once each

    def register(self, dispatcher: object) -> None:
        dispatcher.register(RequestCode.PULL_MESSAGE, self.pull_message)  # type: ignore[attr-defined]

    def _subscription(
        self, header: Header, group: str, topic: str, sys_flag: int
    ) -> SubscriptionData:
        if sys_flag & FLAG_SUBSCRIPTION:
            expression = header.optional_str("subscription")
            expression_type = normalize_expression_type(header.optional_str("expressionType"))
            self._check_expression_type(expression_type)
            try:
                return parse_subscription(topic, expression, None, expression_type)
            except ValueError as exc:
                raise SubscriptionParseError(
                    f"parse the consumer's subscription[{expression}] failed, group: {group}: {exc}"
                ) from exc
        subscription = self._broker.client_manager.find_subscription(group, topic)
        if subscription is None:
            raise SubscriptionNotExistError(
                f"the consumer's subscription not exist, group: {group}, topic: {topic}"
            )
        sub_version = header.int("subVersion", 0)
        if subscription.sub_version < sub_version:
            raise SubscriptionNotLatestError(
                f"the consumer's subscription not latest, group: {group}, topic: {topic}"
            )
        self._check_expression_type(subscription.expression_type)
        return subscription

    def _check_expression_type(self, expression_type: str) -> None:
        if expression_type == EXPRESSION_TYPE_TAG:
            return
        if expression_type != EXPRESSION_TYPE_SQL92:
            raise SubscriptionParseError(f"unknown expression type {expression_type!r}")
        if not self._broker.config.enable_property_filter:
            raise BrokerError(
                f"The broker does not support consumer to filter message by {expression_type}"
            )

    @staticmethod
    def _selector(subscription: SubscriptionData) -> SqlFilter | None:
        """The compiled SQL92 selector, None for TAG subscriptions."""
        if not subscription.is_sql92:
            return None
        try:
            return compile_sql(subscription.sub_string)
        except SqlSyntaxError as exc:
            raise SubscriptionParseError(
                f"parse the consumer's subscription[{subscription.sub_string}] failed: {exc}"
            ) from exc

    def _get(
        self,
        topic: str,
        queue_id: int,
        offset: int,
        max_nums: int,
        message_filter: Callable[[int], bool] | None,
        selector: SqlFilter | None,
    ) -> GetMessageResult:
        result = self._broker.message_store.get_message(
            topic, queue_id, offset, max_nums, message_filter
        )
        if selector is not None:
            filter_by_properties(result, selector)
        return result

    def pull_message(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand | object:
        """Answer at once when data (or an error) is there; otherwise return a coroutine
        that holds the pull — the dispatcher runs it as a task."""
        broker = self._broker
        header = Header(request)
        group = header.str("consumerGroup")
        topic = header.str("topic")
        queue_id = header.int("queueId")
        offset = header.int("queueOffset")
        max_nums = header.int("maxMsgNums")
        sys_flag = header.int("sysFlag")
        if not is_readable(broker.config.broker_permission):
            raise NoPermissionError(
                f"the broker[{broker.config.broker_addr}] pulling message is forbidden"
            )
        group_config = broker.subscription_group_manager.find(group)
        if group_config is None:
            raise SubscriptionGroupNotExistError(
                f"subscription group [{group}] does not exist; "
                "create it with mqadmin updateSubGroup"
            )
        self._check_topic(topic, queue_id, connection.peer_address)
        subscription = self._subscription(header, group, topic, sys_flag)
        if sys_flag & FLAG_COMMIT_OFFSET and broker.config.is_master:
            commit_offset = header.int("commitOffset", -1)
            if commit_offset >= 0:
                broker.consumer_offset_manager.commit_offset(group, topic, queue_id, commit_offset)
        message_filter = None if subscription.matches_all else subscription.code_set.__contains__
        selector = self._selector(subscription)
        result = self._get(topic, queue_id, offset, max_nums, message_filter, selector)
        code = _pull_code(result, offset)
        if (
            code == ResponseCode.PULL_NOT_FOUND
            and sys_flag & FLAG_SUSPEND
            and request.ext_fields.get("suspendTimeoutMillis")
        ):
            timeout_ms = header.int("suspendTimeoutMillis", 15000)
            if not broker.config.long_polling_enable:
                timeout_ms = broker.config.short_polling_time_mills
            return self._hold(
                connection,
                request,
                group_config,
                topic,
                queue_id,
                offset,
                max_nums,
                message_filter,
                selector,
                timeout_ms,
            )
        return self._response(request, group_config, topic, queue_id, offset, result, code)

    def _check_topic(self, topic: str, queue_id: int, peer: str) -> None:
        topic_config = self._broker.topic_config_manager.get(topic)
        if topic_config is None:
            if self._replicated_without_config(topic) and queue_id >= 0:
                return
            raise TopicNotExistError(f"topic[{topic}] not exist, apply first please!")
        if not is_readable(topic_config.perm):
            raise NoPermissionError(f"the topic[{topic}] pulling message is forbidden")
        if queue_id < 0 or queue_id >= topic_config.read_queue_nums:
            raise BrokerError(
                f"queueId[{queue_id}] is illegal, topic:[{topic}] topicConfig.readQueueNums:"
                f"[{topic_config.read_queue_nums}] consumer:[{peer}]"
            )

    def _replicated_without_config(self, topic: str) -> bool:
        """A slave holding replicated queues of `topic` but not its config.

        A slave learns topic configs only from its master's metadata sync (every 10 s), so
        a topic created shortly before its master died stays unknown here while its
        messages are replicated. Java answers TOPIC_NOT_EXIST, and the C++ client re-pulls
        at once, in a tight loop, until the master returns; the queues are served instead,
        as an unrestricted readable topic (queues without data answer as empty).
        """
        broker = self._broker
        if broker.config.is_master or topic not in broker.message_store.topic_queue_ids():
            return False
        if topic not in self._unsynced_topics:
            self._unsynced_topics.add(topic)
            log.warning(
                "serving pulls of topic %s from replicated queues: its config was never "
                "synced from the master",
                topic,
            )
        return True

    async def _hold(
        self,
        connection: RemotingConnection,
        request: RemotingCommand,
        group_config: SubscriptionGroupConfig,
        topic: str,
        queue_id: int,
        offset: int,
        max_nums: int,
        message_filter: Callable[[int], bool] | None,
        selector: SqlFilter | None,
        timeout_ms: int,
    ) -> RemotingCommand:
        broker = self._broker
        holds = broker.pull_hold_service.holds
        held = holds.try_hold(connection)
        # Over the connection's cap the pull is answered at once, as if its hold timed out.
        deadline = time.monotonic() + min(timeout_ms / 1000.0, MAX_SUSPEND_SECONDS) if held else 0.0
        store = broker.message_store
        try:
            while True:
                remaining = deadline - time.monotonic()
                # This task starts a loop iteration after the store was read: a message that
                # landed in between was announced before we listened, so look before waiting.
                if remaining > 0 and store.get_max_offset_in_queue(topic, queue_id) <= offset:
                    await broker.pull_hold_service.wait_message_arrival(
                        topic, queue_id, offset, min(remaining, HOLD_RECHECK_SECONDS)
                    )
                result = self._get(topic, queue_id, offset, max_nums, message_filter, selector)
                code = _pull_code(result, offset)
                if (
                    code != ResponseCode.PULL_NOT_FOUND
                    or time.monotonic() >= deadline
                    or broker.closing
                ):
                    return self._response(
                        request, group_config, topic, queue_id, offset, result, code
                    )
        finally:
            if held:
                holds.release(connection)

    def _suggest_which_broker_id(
        self, group_config: SubscriptionGroupConfig, result: GetMessageResult
    ) -> int:
        config = self._broker.config
        if not config.slave_read_enable:
            return MASTER_ID  # a slave thus also sends clients back to a returning master
        if result.buffers:
            last = int.from_bytes(
                result.buffers[-1][PHYSICAL_OFFSET_POSITION : PHYSICAL_OFFSET_POSITION + 8], "big"
            )
            behind = self._broker.message_store.get_commit_log_max_offset() - last
            if behind > config.in_memory_max_bytes:
                return group_config.which_broker_when_consume_slowly
        return group_config.broker_id

    def _response(
        self,
        request: RemotingCommand,
        group_config: SubscriptionGroupConfig,
        topic: str,
        queue_id: int,
        offset: int,
        result: GetMessageResult,
        code: int,
    ) -> RemotingCommand:
        config = self._broker.config
        next_begin_offset = result.next_begin_offset
        suggest = self._suggest_which_broker_id(group_config, result)
        if (
            code == ResponseCode.PULL_OFFSET_MOVED
            and not config.is_master
            and not config.offset_check_in_slave
        ):
            code = ResponseCode.PULL_RETRY_IMMEDIATELY
            next_begin_offset = offset
            suggest = group_config.broker_id
        ext = {
            "nextBeginOffset": str(next_begin_offset),
            "minOffset": str(result.min_offset),
            "maxOffset": str(result.max_offset),
            "suggestWhichBrokerId": str(suggest),
        }
        if code == ResponseCode.SUCCESS:
            group = group_config.group_name
            if group != TOOLS_CONSUMER_GROUP:
                broker = self._broker
                broker.stats.get_count += result.message_count
                if broker.metrics is not None:
                    broker.metrics.record_pull(
                        topic,
                        group,
                        queue_id,
                        result.message_count,
                        result.buffer_total_size,
                        next_begin_offset,
                    )
            return request.response(code, None, ext, result.body())
        return request.response(code, result.status.name, ext)
