"""SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and
CONSUMER_SEND_MSG_BACK (36) (SendMessageProcessor.java).

Three send codes, two naming schemes: 310/320 use the one-letter keys of
SendMessageRequestHeaderV2. A batch is code 320 or `batch`/`m` true; C++ may zlib the
whole batch body (sysFlag bit 0).

Before a single message is stored, the put hooks of a 5.x broker run: TRAN_MSG=true
parks it as a transactional half message (transaction/), DELAY>0 in SCHEDULE_TOPIC_XXXX
(schedule.py), a delivery time (TIMER_* properties) in rmq_sys_wheel_timer (timer/). A
batch may carry neither a transaction nor a delay level (its messages' timer properties
are not applied, as in RocketMQ), nor go to a retry topic. A send-back goes to
`%RETRY%<group>` with delay level 3 + reconsumeTimes (or the one asked for), or to
`%DLQ%<group>` once the message has been retried maxReconsumeTimes times.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import zlib
from collections.abc import Awaitable
from time import perf_counter
from typing import TYPE_CHECKING

from orbitmq.broker.errors import (
    BrokerError,
    MessageIllegalError,
    NoPermissionError,
    ServiceNotAvailableError,
    SubscriptionGroupNotExistError,
    TopicNotExistError,
)
from orbitmq.broker.headers import Header
from orbitmq.broker.message_type import check_message_type
from orbitmq.broker.metrics.counters import message_type
from orbitmq.broker.schedule import delay_level_of, park_delayed
from orbitmq.broker.topic_config import (
    DLQ_NUMS_PER_GROUP,
    NOT_ALLOWED_SEND_TOPICS,
    TopicConfig,
    check_send_allowed,
)
from orbitmq.broker.transaction.bridge import is_transaction_prepared
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import (
    MessageConst,
    MessageExt,
    SysFlag,
    decode_batch,
    decode_properties,
)
from orbitmq.protocol.perm import PERM_READ, PERM_WRITE, is_writeable
from orbitmq.protocol.topics import (
    RETRY_GROUP_TOPIC_PREFIX,
    dlq_topic,
    is_group_topic,
    retry_topic,
)
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.store.message_store import PutMessageResult, PutMessageStatus

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

log = logging.getLogger(__name__)

SEND_V2_ALIASES = {
    "producerGroup": "a",
    "topic": "b",
    "defaultTopic": "c",
    "defaultTopicQueueNums": "d",
    "queueId": "e",
    "sysFlag": "f",
    "bornTimestamp": "g",
    "flag": "h",
    "properties": "i",
    "reconsumeTimes": "j",
    "unitMode": "k",
    "maxReconsumeTimes": "l",
    "batch": "m",
    "brokerName": "n",
}

STATUS_CODES = {
    PutMessageStatus.PUT_OK: ResponseCode.SUCCESS,
    PutMessageStatus.FLUSH_DISK_TIMEOUT: ResponseCode.FLUSH_DISK_TIMEOUT,
    PutMessageStatus.MESSAGE_ILLEGAL: ResponseCode.MESSAGE_ILLEGAL,
    PutMessageStatus.PROPERTIES_SIZE_EXCEEDED: ResponseCode.MESSAGE_ILLEGAL,
    PutMessageStatus.SERVICE_NOT_AVAILABLE: ResponseCode.SERVICE_NOT_AVAILABLE,
}
DEFAULT_MAX_RECONSUME_TIMES = 16
DEFAULT_RETRY_DELAY_LEVEL = 3  # a send-back with delayLevel 0 waits level 3 + reconsumeTimes


def born_host_of(connection: RemotingConnection) -> tuple[str, int]:
    host = connection.attributes.get("born_host")
    if host is None:
        ip, _, port = connection.peer_address.rpartition(":")
        host = connection.attributes["born_host"] = (ip or "127.0.0.1", int(port or 0))
    return host


# (topic, queueId, sysFlag, bornTimestamp, flag, properties, reconsumeTimes)
SendFields = tuple[str, int, int, int, int, str, int]
_V1_KEYS = ("topic", "producerGroup", "queueId", "sysFlag", "bornTimestamp", "flag")
_V2_KEYS = tuple(SEND_V2_ALIASES[name] for name in _V1_KEYS)
_V1_OPTIONAL = ("properties", "reconsumeTimes")
_V2_OPTIONAL = tuple(SEND_V2_ALIASES[name] for name in _V1_OPTIONAL)


def _send_fields(ext: dict[str, str], v2: bool) -> SendFields | None:
    """The send header read straight from the dict: the hot path of every send.

    None when a field is missing or malformed (or a V2 request uses long names); then
    `_send_fields_checked` reads it again and names the bad field.
    """
    topic_key, group_key, queue_key, sys_key, born_key, flag_key = _V2_KEYS if v2 else _V1_KEYS
    properties_key, reconsume_key = _V2_OPTIONAL if v2 else _V1_OPTIONAL
    try:
        topic = ext[topic_key]
        if group_key not in ext:
            return None
        return (
            topic,
            int(ext[queue_key]),
            int(ext[sys_key]),
            int(ext[born_key]),
            int(ext[flag_key]),
            ext.get(properties_key) or "",
            int(ext.get(reconsume_key) or 0),
        )
    except (KeyError, ValueError):
        return None


def _send_fields_checked(header: Header) -> SendFields:
    topic = header.str("topic")
    header.str("producerGroup")
    return (
        topic,
        header.int("queueId"),
        header.int("sysFlag"),
        header.int("bornTimestamp"),
        header.int("flag"),
        header.optional_str("properties") or "",
        header.int("reconsumeTimes", 0),
    )


class SendMessageHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        for code in (
            RequestCode.SEND_MESSAGE,
            RequestCode.SEND_MESSAGE_V2,
            RequestCode.SEND_BATCH_MESSAGE,
        ):
            dispatcher.register(code, self.send_message)  # type: ignore[attr-defined]
        dispatcher.register(RequestCode.CONSUMER_SEND_MSG_BACK, self.consumer_send_msg_back)  # type: ignore[attr-defined]

    def _check_writable(self) -> None:
        broker = self._broker
        if not broker.config.is_master:
            if broker.dledger is not None:
                raise ServiceNotAvailableError(broker.dledger.not_leader_remark())
            raise ServiceNotAvailableError(
                f"broker {broker.config.broker_name} is a slave and does not accept writes"
            )
        if not is_writeable(broker.config.broker_permission):
            raise NoPermissionError(
                f"the broker[{broker.config.broker_addr}] sending message is forbidden"
            )

    def _topic_config(self, header: Header, topic: str) -> TopicConfig:
        topics = self._broker.topic_config_manager
        config = topics.get(topic)
        if config is None:
            if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
                group = self._broker.subscription_group_manager.find(
                    topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
                )
                if group is not None:
                    config = topics.create_system_topic(
                        topic, group.retry_queue_nums, PERM_READ | PERM_WRITE
                    )
            else:
                config = topics.create_in_send(
                    topic, header.str("defaultTopic"), header.int("defaultTopicQueueNums")
                )
            if config is not None:
                self._broker.schedule_register()
        if config is None:
            raise TopicNotExistError(
                f"topic[{topic}] not exist, apply first please! (create it with "
                "mqadmin updateTopic, or enable autoCreateTopicEnable)"
            )
        if not is_writeable(config.perm):
            raise NoPermissionError(f"the topic[{topic}] sending message is forbidden")
        return config

    def send_message(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand | Awaitable[RemotingCommand] | None:
        """Answer at once under ASYNC_FLUSH; under SYNC_FLUSH, or as a SYNC_MASTER, return
        None and answer from the group commit's or the slave ack's callback."""
        started = perf_counter()  # a deferred answer records its own latency
        self._check_writable()
        v2 = request.code != RequestCode.SEND_MESSAGE
        header = Header(request, SEND_V2_ALIASES if v2 else None)
        fields = _send_fields(request.ext_fields, v2) or _send_fields_checked(header)
        topic, queue_id, sys_flag, born_timestamp, flag, properties_text, reconsume_times = fields
        check_send_allowed(topic)
        topic_config = self._topic_config(header, topic)
        queue_nums = max(topic_config.write_queue_nums, topic_config.read_queue_nums)
        if queue_id < 0:
            queue_id = random.randrange(topic_config.write_queue_nums)
        elif queue_id >= queue_nums:
            raise MessageIllegalError(
                f"request queueId[{queue_id}] is illegal, topic {topic} has {queue_nums} queues"
            )
        properties = decode_properties(properties_text)
        if self._broker.config.enable_topic_message_type_check:
            check_message_type(topic, topic_config, properties, sys_flag)
        batch = request.code == RequestCode.SEND_BATCH_MESSAGE or header.bool("batch")
        born_host = born_host_of(connection)
        store_host = self._broker.store_host
        cluster = self._broker.config.broker_cluster_name
        # What the producer asked for, for the metrics (hooks below rewrite the message).
        sent_topic = topic
        to_dlq = prepared = delayed = False

        if batch:
            if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
                raise MessageIllegalError(f"batch request does not support retry group {topic}")
            if sys_flag & SysFlag.TRANSACTION_MASK:
                raise MessageIllegalError("a batch message cannot be transactional")
        elif topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            topic, queue_id = self._retry_or_dlq(header, topic, queue_id, reconsume_times)
            if not topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
                to_dlq = True
                properties.pop(MessageConst.DELAY, None)  # no delay on the way to the DLQ

        if batch:
            messages = self._batch_messages(
                request.body,
                properties,
                MessageExt(
                    topic=topic,
                    body=b"",
                    queue_id=queue_id,
                    sys_flag=sys_flag,
                    born_timestamp=born_timestamp,
                    born_host=born_host,
                    store_host=store_host,
                    reconsume_times=reconsume_times,
                ),
            )
        else:
            properties[MessageConst.CLUSTER] = cluster
            message = MessageExt(
                topic=topic,
                body=request.body,
                properties=properties,
                queue_id=queue_id,
                flag=flag,
                sys_flag=sys_flag,
                born_timestamp=born_timestamp,
                born_host=born_host,
                store_host=store_host,
                reconsume_times=reconsume_times,
            )
            prepared = is_transaction_prepared(properties)
            # A delivery time parks it in the timer topic (a delay level wins, though).
            timed = self._broker.timer_service.park(message, prepared=prepared)
            if prepared:
                self._broker.transaction_service.prepare(message)
            elif not timed:
                delayed = park_delayed(message, self._broker.schedule_service.max_level)
            messages = [message]
        store = self._broker.message_store
        result = store.append_messages(messages)
        appended = result.append_result
        if appended is not None:
            if prepared:
                self._broker.transaction_service.on_half_stored(messages[0])
            metrics = self._broker.metrics
            if metrics is not None:
                if to_dlq:
                    origin = properties.get(MessageConst.RETRY_TOPIC) or sent_topic
                    metrics.record_dlq(origin, sent_topic[len(RETRY_GROUP_TOPIC_PREFIX) :])
                elif not is_group_topic(sent_topic):
                    kind = message_type(properties, prepared=prepared, delayed=delayed)
                    metrics.record_put(
                        sent_topic, kind, appended.message_count, appended.wrote_bytes
                    )
        ha = self._broker.ha_service
        if ha is not None and ha.config.sync_master and result.append_result is not None:
            self._answer_after_replication(
                connection, request, result, queue_id, messages[0], started
            )
            return None  # answered once a slave has it
        if store.flush_wait_needed(result, messages[0]):
            store.on_flushed(
                result,
                lambda flushed: self._answer(connection, request, flushed, queue_id, started),
            )
            return None  # answered after the group commit
        return self._response(request, result, queue_id)

    def _batch_messages(
        self, body: bytes, properties: dict[str, str], template: MessageExt
    ) -> list[MessageExt]:
        """Split a batch body (section 6) into messages sharing the header's fields.

        C++ 1.2.3 zlib-compresses the whole batch body and sets sysFlag bit 0.
        """
        sys_flag = template.sys_flag
        limit = self._broker.config.max_message_size
        if sys_flag & SysFlag.COMPRESSED:
            # Inflate no more than the limit allows (plus one byte to see it is past):
            # a small bomb would otherwise claim gigabytes before the check below.
            try:
                body = zlib.decompressobj().decompress(body, limit + 1)
            except zlib.error as exc:
                raise MessageIllegalError(f"compressed batch body is corrupt: {exc}") from exc
            sys_flag &= ~SysFlag.COMPRESSED
        if len(body) > limit:
            raise MessageIllegalError(f"batch body is {len(body)} bytes; maxMessageSize is {limit}")
        cluster = self._broker.config.broker_cluster_name
        messages = []
        for entry in decode_batch(body):
            merged = {**properties, **entry.properties, MessageConst.CLUSTER: cluster}
            if delay_level_of(merged) > 0:
                raise MessageIllegalError("a batch message cannot carry a delay level")
            messages.append(
                dataclasses.replace(
                    template, body=entry.body, properties=merged, flag=entry.flag, sys_flag=sys_flag
                )
            )
        if not messages:
            raise MessageIllegalError("batch body holds no message")
        return messages

    def _answer(
        self,
        connection: RemotingConnection,
        request: RemotingCommand,
        result: PutMessageResult,
        queue_id: int,
        started: float,
    ) -> None:
        self._send(connection, request, self._response(request, result, queue_id), started)

    def _answer_after_replication(
        self,
        connection: RemotingConnection,
        request: RemotingCommand,
        result: PutMessageResult,
        queue_id: int,
        msg: MessageExt,
        started: float,
    ) -> None:
        """SYNC_MASTER: answer once a slave has the message too (and, under SYNC_FLUSH,
        it is on disk). SLAVE_NOT_AVAILABLE / FLUSH_SLAVE_TIMEOUT still mean "stored on
        the master"; they win over a flush timeout, as in RocketMQ (applied last).
        Callbacks all the way: no task per send."""
        store = self._broker.message_store
        ha = self._broker.ha_service
        assert ha is not None

        def replicate(stored: PutMessageResult) -> None:
            response = self._response(request, stored, queue_id)
            appended = stored.append_result
            if (
                appended is None
                or msg.properties.get(MessageConst.WAIT) == "false"
                or response.code not in (ResponseCode.SUCCESS, ResponseCode.FLUSH_DISK_TIMEOUT)
            ):
                self._send(connection, request, response, started)
                return

            def replicated(code: ResponseCode) -> None:
                if code != ResponseCode.SUCCESS:
                    response.code = code
                    response.remark = code.name
                self._send(connection, request, response, started)

            ha.on_replicated(appended.wrote_offset + appended.wrote_bytes, replicated)

        if store.flush_wait_needed(result, msg):
            store.on_flushed(result, replicate)
        else:
            replicate(result)

    def _send(
        self,
        connection: RemotingConnection,
        request: RemotingCommand,
        response: RemotingCommand,
        started: float,
    ) -> None:
        if not request.is_oneway:
            connection.send(response)
        metrics = self._broker.metrics
        if metrics is not None:
            metrics.rpc.record(
                request.code,
                response.code,
                False,
                request.is_oneway,
                perf_counter() - started,
            )

    def _retry_or_dlq(
        self, header: Header, topic: str, queue_id: int, reconsume_times: int
    ) -> tuple[str, int]:
        """A retried message past its max reconsume times goes to the group's DLQ."""
        group_name = topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
        group = self._broker.subscription_group_manager.find(group_name)
        max_times = header.int("maxReconsumeTimes", -1)
        if max_times < 0:
            max_times = group.retry_max_times if group else DEFAULT_MAX_RECONSUME_TIMES
        if reconsume_times < max_times:
            return topic, queue_id
        return self._dlq(group_name), 0

    def _dlq(self, group_name: str) -> str:
        """`%DLQ%<group>`, created on first use; readable, so operators can drain it."""
        topic = dlq_topic(group_name)
        topics = self._broker.topic_config_manager
        if topics.get(topic) is None:
            topics.create_system_topic(topic, DLQ_NUMS_PER_GROUP, PERM_READ | PERM_WRITE)
            self._broker.schedule_register()
        return topic

    def _response(
        self, request: RemotingCommand, result: PutMessageResult, queue_id: int
    ) -> RemotingCommand:
        code = STATUS_CODES.get(result.status, ResponseCode.SYSTEM_ERROR)
        appended = result.append_result
        if appended is None:
            remark = result.remark or f"put message failed: {result.status.name}"
            return request.response(code, remark)
        self._broker.stats.put_count += appended.message_count
        return request.response(
            code,
            None if code == ResponseCode.SUCCESS else result.status.name,
            {
                "msgId": ",".join(appended.msg_ids),
                "queueId": str(queue_id),
                "queueOffset": str(appended.queue_offset),
                "MSG_REGION": "DefaultRegion",
                "TRACE_ON": "true",
            },
        )

    def consumer_send_msg_back(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand | Awaitable[RemotingCommand]:
        """Re-store a consumed message for a later retry, or in the DLQ when spent.

        Raises:
            SubscriptionGroupNotExistError: the group is unknown (and not auto-created).
            BrokerError: no message starts at `offset` (SYSTEM_ERROR, nothing stored).
        """
        self._check_writable()
        header = Header(request)
        group_name = header.str("group")
        offset = header.int("offset")
        delay_level = header.int("delayLevel", 0)
        broker = self._broker
        group = broker.subscription_group_manager.find(group_name)
        if group is None:
            raise SubscriptionGroupNotExistError(
                f"subscription group [{group_name}] does not exist; create it with "
                "mqadmin updateSubGroup"
            )
        if group.retry_queue_nums <= 0:
            return request.response()  # the group does not want retries
        original = broker.message_store.look_message_by_offset(offset)
        if original is None:
            raise BrokerError(f"look message by offset failed, no message at offset {offset}")
        if original.topic in NOT_ALLOWED_SEND_TOPICS:  # a parked, half or op record
            raise BrokerError(f"the message at offset {offset} was never delivered to consumers")
        max_times = header.int("maxReconsumeTimes", -1)
        if max_times < 0:
            max_times = group.retry_max_times
        properties = dict(original.properties)
        properties.setdefault(MessageConst.RETRY_TOPIC, original.topic)
        properties.setdefault(
            MessageConst.ORIGIN_MESSAGE_ID,
            header.optional_str("originMsgId") or original.msg_id,
        )
        properties.pop(MessageConst.DELAY, None)
        to_dlq = original.reconsume_times >= max_times or delay_level < 0
        if to_dlq:
            topic = self._dlq(group_name)
            queue_id = 0
        else:
            topic = retry_topic(group_name)
            topics = broker.topic_config_manager
            config = topics.get(topic)
            if config is None:
                config = topics.create_system_topic(
                    topic, group.retry_queue_nums, PERM_READ | PERM_WRITE
                )
                broker.schedule_register()
            queue_id = random.randrange(max(1, config.write_queue_nums))
            level = delay_level or DEFAULT_RETRY_DELAY_LEVEL + original.reconsume_times
            properties[MessageConst.DELAY] = str(level)
        message = MessageExt(
            topic=topic,
            body=original.body,
            properties=properties,
            queue_id=queue_id,
            flag=original.flag,
            sys_flag=original.sys_flag,
            born_timestamp=original.born_timestamp,
            born_host=original.born_host,
            store_host=broker.store_host,
            reconsume_times=original.reconsume_times + 1,
        )
        park_delayed(message, broker.schedule_service.max_level)
        store = broker.message_store
        result = store.append_messages([message])
        if result.status is not PutMessageStatus.PUT_OK:
            return request.response(ResponseCode.SYSTEM_ERROR, result.remark or result.status.name)
        if to_dlq and broker.metrics is not None:
            origin = header.optional_str("originTopic") or properties[MessageConst.RETRY_TOPIC]
            broker.metrics.record_dlq(origin, group_name)
        log.debug(
            "message %s of group %s sent back to %s (level %s)",
            properties[MessageConst.ORIGIN_MESSAGE_ID],
            group_name,
            topic,
            properties.get(MessageConst.DELAY, "-"),
        )
        if store.flush_wait_needed(result, message):
            return self._send_back_after_flush(request, result)
        return request.response()

    async def _send_back_after_flush(
        self, request: RemotingCommand, result: PutMessageResult
    ) -> RemotingCommand:
        result = await self._broker.message_store.wait_flushed(result)
        if result.status is not PutMessageStatus.PUT_OK:
            return request.response(ResponseCode.SYSTEM_ERROR, result.remark or result.status.name)
        return request.response()
