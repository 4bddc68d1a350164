"""QUERY_MESSAGE (12) and VIEW_MESSAGE_BY_ID (33) (QueryMessageProcessor.java,
remoting-protocol.md §3.5).

QUERY_MESSAGE: ext `topic`, `key`, `maxNum`, `beginTimestamp`, `endTimestamp`, optional
`_UNIQUE_KEY_QUERY=true` (the key is a UNIQ_KEY; maxNum becomes defaultQueryMaxNum).
Answers SUCCESS with the matching stored records back to back, or QUERY_NOT_FOUND; both
carry ext `indexLastUpdateTimestamp` and `indexLastUpdatePhyoffset`. Matches are by key
hash, as in RocketMQ: clients drop records whose keys differ.

VIEW_MESSAGE_BY_ID: ext `offset` (commit-log offset, decoded by the client from an
offset message id). Answers the record exactly as stored, or SYSTEM_ERROR.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbitmq.broker.headers import Header
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

UNIQUE_KEY_QUERY = "_UNIQUE_KEY_QUERY"


class QueryMessageHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        for code, handler in (
            (RequestCode.QUERY_MESSAGE, self.query_message),
            (RequestCode.VIEW_MESSAGE_BY_ID, self.view_message_by_id),
        ):
            dispatcher.register(code, handler)  # type: ignore[attr-defined]

    def query_message(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        header = Header(request)
        topic = header.str("topic")
        key = header.str("key")
        max_num = header.int("maxNum")
        begin = header.int("beginTimestamp")
        end = header.int("endTimestamp")
        store = self._broker.message_store
        if header.bool(UNIQUE_KEY_QUERY):
            max_num = store.config.default_query_max_num
        result = store.query_message(topic, key, max_num, begin, end)
        ext = {
            "indexLastUpdateTimestamp": str(result.index_last_update_timestamp),
            "indexLastUpdatePhyoffset": str(result.index_last_update_phyoffset),
        }
        try:
            if result.buffer_total_size == 0:
                return request.response(
                    ResponseCode.QUERY_NOT_FOUND,
                    "can not find message, maybe time range not correct",
                    ext,
                )
            return request.response(ResponseCode.SUCCESS, None, ext, result.body())
        finally:
            result.release()

    def view_message_by_id(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        offset = Header(request).int("offset")
        record = self._broker.message_store.get_message_by_offset(offset)
        if record is None:
            return request.response(
                ResponseCode.SYSTEM_ERROR, f"can not find message by the offset, {offset}"
            )
        return request.response(body=record)
