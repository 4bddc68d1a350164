"""CONSUME_MESSAGE_DIRECTLY (309): an admin tool asks a named consumer to consume one stored
message now (AdminBrokerProcessor.consumeMessageDirectly, Broker2Client.callClient).

Request ext (ConsumeMessageDirectlyResultRequestHeader): consumerGroup, clientId, msgId (an
offset message id naming a record of this broker), optional topic. The broker adds its
`brokerName` (and the topic's `topicSysFlag`), puts the stored record in the body, sends the
request to the client's own connection and relays the client's answer, whose body is a
ConsumeMessageDirectlyResult. Nothing is re-published: consoles call this "Resend".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbitmq.broker.handlers.admin_config import call_consumer
from orbitmq.broker.headers import Header
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import decode_offset_msg_id
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController


class ConsumeDirectlyHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        dispatcher.register(RequestCode.CONSUME_MESSAGE_DIRECTLY, self.consume_message_directly)  # type: ignore[attr-defined]

    async def consume_message_directly(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        header = Header(request)
        group, client_id = header.str("consumerGroup"), header.str("clientId")
        msg_id = header.str("msgId")
        try:
            _, _, offset = decode_offset_msg_id(msg_id)
        except ValueError as exc:
            return request.response(ResponseCode.SYSTEM_ERROR, str(exc))
        record = self._broker.message_store.get_message_by_offset(offset)
        if record is None:
            return request.response(
                ResponseCode.SYSTEM_ERROR, f"can not find message by the offset, {offset}"
            )
        ext = dict(request.ext_fields)
        ext["brokerName"] = self._broker.config.broker_name
        topic = header.optional_str("topic")
        config = self._broker.topic_config_manager.get(topic) if topic else None
        if config is not None:
            ext["topicSysFlag"] = str(config.topic_sys_flag)
        forward = RemotingCommand.request(RequestCode.CONSUME_MESSAGE_DIRECTLY, ext, record)
        return await call_consumer(self._broker, request, forward, group, client_id)
