"""Consumer offsets and queue offset queries: QUERY_CONSUMER_OFFSET (14),
UPDATE_CONSUMER_OFFSET (15), SEARCH_OFFSET_BY_TIMESTAMP (29), GET_MAX_OFFSET (30),
GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbitmq.broker.headers import Header
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController


class OffsetHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        for code, handler in (
            (RequestCode.QUERY_CONSUMER_OFFSET, self.query_consumer_offset),
            (RequestCode.UPDATE_CONSUMER_OFFSET, self.update_consumer_offset),
            (RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, self.search_offset_by_timestamp),
            (RequestCode.GET_MAX_OFFSET, self.get_max_offset),
            (RequestCode.GET_MIN_OFFSET, self.get_min_offset),
            (RequestCode.GET_EARLIEST_MSG_STORETIME, self.get_earliest_msg_storetime),
        ):
            dispatcher.register(code, handler)  # type: ignore[attr-defined]

    def query_consumer_offset(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        header = Header(request)
        group = header.str("consumerGroup")
        topic = header.str("topic")
        queue_id = header.int("queueId")
        broker = self._broker
        offset = broker.consumer_offset_manager.query_offset(group, topic, queue_id)
        if offset >= 0:
            return request.response(ext_fields={"offset": str(offset)})
        store = broker.message_store
        # A young queue whose first message is still in memory: a new group starts at 0,
        # unless the client sent RocketMQ 5's setZeroIfNotFound=false.
        if (
            header.bool("setZeroIfNotFound", True)
            and store.get_min_offset_in_queue(topic, queue_id) <= 0
            and self._first_in_memory(topic, queue_id)
        ):
            return request.response(ext_fields={"offset": "0"})
        return request.response(
            ResponseCode.QUERY_NOT_FOUND,
            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
        )

    def _first_in_memory(self, topic: str, queue_id: int) -> bool:
        store = self._broker.message_store
        if store.get_max_offset_in_queue(topic, queue_id) <= 0:
            return True
        result = store.get_message(topic, queue_id, 0, 1)
        if not result.buffers:
            return False
        first = int.from_bytes(result.buffers[0][28:36], "big", signed=True)
        return store.get_commit_log_max_offset() - first < self._broker.config.in_memory_max_bytes

    def update_consumer_offset(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        header = Header(request)
        self._broker.consumer_offset_manager.commit_offset(
            header.str("consumerGroup"),
            header.str("topic"),
            header.int("queueId"),
            header.int("commitOffset"),
        )
        return request.response()

    def _queue(self, request: RemotingCommand) -> tuple[Header, str, int]:
        header = Header(request)
        return header, header.str("topic"), header.int("queueId")

    def search_offset_by_timestamp(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        header, topic, queue_id = self._queue(request)
        offset = self._broker.message_store.get_offset_in_queue_by_time(
            topic, queue_id, header.int("timestamp")
        )
        return request.response(ext_fields={"offset": str(offset)})

    def get_max_offset(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        _, topic, queue_id = self._queue(request)
        offset = self._broker.message_store.get_max_offset_in_queue(topic, queue_id)
        return request.response(ext_fields={"offset": str(offset)})

    def get_min_offset(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        _, topic, queue_id = self._queue(request)
        offset = self._broker.message_store.get_min_offset_in_queue(topic, queue_id)
        return request.response(ext_fields={"offset": str(offset)})

    def get_earliest_msg_storetime(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        _, topic, queue_id = self._queue(request)
        timestamp = self._broker.message_store.get_earliest_message_time(topic, queue_id)
        return request.response(ext_fields={"timestamp": str(timestamp)})
