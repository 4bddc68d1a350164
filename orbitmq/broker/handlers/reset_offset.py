"""INVOKE_BROKER_TO_RESET_OFFSET (222): move a consumer group's offsets of a topic to a
point in time and tell its consumers (Broker2Client.resetOffset, §3.6).

Request ext: `topic`, `group`, `timestamp` (ms; -1 means "the end": each queue's max
offset), `isForce` (false: only move offsets backwards).

For each read queue of the topic on this broker:
    target = max offset if timestamp == -1 else the offset searched by time (4.x: the
             message stored nearest the timestamp; negative -> 0)
    new    = target if force or target < committed else committed
             (a queue the group never committed takes the target)
The new offsets are written to the broker's consumer offset table, then every consumer
channel of the group gets RESET_CONSUMER_CLIENT_OFFSET (220, one-way; ext topic, group,
timestamp, isForce) with the table, in the body form its language reads:
    Java & others  {"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:5,...}}
                   (fastjson object keys, ResetOffsetBody)
    CPP            {"offsetTable":[{"brokerName":"b","offset":5,"queueId":0,"topic":"T"}]}
                   (ResetOffsetBodyForC)
The response is SUCCESS with the Java form. Errors, as Java's: the topic is unknown here
(SYSTEM_ERROR), or the group has no consumer online (CONSUMER_NOT_ONLINE, offsets left
untouched: mqadmin then falls back to updating offsets directly).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson

from orbitmq.broker.errors import BrokerError
from orbitmq.broker.headers import Header
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

log = logging.getLogger(__name__)

OffsetTable = list[tuple[int, int]]  # (queue id, offset), ascending queue ids


def _queue_json(broker_name: str, topic: str, queue_id: int) -> bytes:
    return orjson.dumps(
        {"brokerName": broker_name, "queueId": queue_id, "topic": topic},
        option=orjson.OPT_SORT_KEYS,
    )


def encode_offset_table(broker_name: str, topic: str, table: OffsetTable) -> bytes:
    """ResetOffsetBody as fastjson writes it: MessageQueue objects as map keys."""
    entries = b",".join(
        _queue_json(broker_name, topic, queue_id) + b":" + str(offset).encode()
        for queue_id, offset in table
    )
    return b'{"offsetTable":{' + entries + b"}}"


def encode_offset_list(broker_name: str, topic: str, table: OffsetTable) -> bytes:
    """ResetOffsetBodyForC: the list form the C++ client reads."""
    return orjson.dumps(
        {
            "offsetTable": [
                {"brokerName": broker_name, "offset": offset, "queueId": queue_id, "topic": topic}
                for queue_id, offset in table
            ]
        }
    )


class ResetOffsetHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        dispatcher.register(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, self.reset_offset)  # type: ignore[attr-defined]

    def compute_offsets(self, topic: str, group: str, timestamp: int, force: bool) -> OffsetTable:
        broker = self._broker
        topic_config = broker.topic_config_manager.get(topic)
        if topic_config is None:
            raise BrokerError(
                f"[reset-offset] reset offset failed, no topic in this broker. topic={topic}"
            )
        store = broker.message_store
        table: OffsetTable = []
        for queue_id in range(topic_config.read_queue_nums):
            if timestamp == -1:
                target = store.get_max_offset_in_queue(topic, queue_id)
            else:
                target = store.get_offset_in_queue_by_time(topic, queue_id, timestamp)
            target = max(target, 0)
            committed = broker.consumer_offset_manager.query_offset(group, topic, queue_id)
            table.append(
                (queue_id, target if force or committed < 0 or target < committed else committed)
            )
        return table

    def reset_offset(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        header = Header(request)
        topic = header.str("topic")
        group = header.str("group")
        timestamp = header.int("timestamp")
        force = header.bool("isForce", True)
        broker = self._broker
        table = self.compute_offsets(topic, group, timestamp, force)
        group_info = broker.client_manager.consumer_groups.get(group)
        if group_info is None or not group_info.channels:
            return request.response(
                ResponseCode.CONSUMER_NOT_ONLINE,
                f"Consumer not online, so can not reset offset, Group: {group} Topic: {topic} "
                f"Timestamp: {timestamp}",
            )
        for queue_id, offset in table:
            broker.consumer_offset_manager.commit_offset(group, topic, queue_id, offset)
        name = broker.config.broker_name
        java_body = encode_offset_table(name, topic, table)
        c_body: bytes | None = None
        ext = {
            "topic": topic,
            "group": group,
            "timestamp": str(timestamp),
            "isForce": "true" if force else "false",
        }
        for channel, info in list(group_info.channels.items()):
            if info.language == "CPP":
                if c_body is None:
                    c_body = encode_offset_list(name, topic, table)
                body = c_body
            else:
                body = java_body
            command = RemotingCommand.request(
                RequestCode.RESET_CONSUMER_CLIENT_OFFSET, dict(ext), body, oneway=True
            )
            try:
                channel.invoke_oneway(command)
            except Exception as exc:  # a closing connection must not fail the others
                log.warning("reset offset notice to %s failed: %s", info.client_id, exc)
        log.info(
            "reset offsets of %s on %s to %s (timestamp %d, force %s) for %d consumers",
            group,
            topic,
            table,
            timestamp,
            force,
            len(group_info.channels),
        )
        return request.response(body=java_body)
