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

from orbitmq.broker.handlers.admin_config import CALL_CONSUMER_TIMEOUT, MIN_RUNNING_INFO_VERSION
from orbitmq.broker.headers import Header
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import decode_offset_msg_id
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.remoting.errors import RemotingError, RequestTimeoutError

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController
    from orbitmq.broker.client_manager import ClientChannelInfo


class ConsumeDirectlyHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        dispatcher.register(RequestCode.CONSUME_MESSAGE_DIRECTLY, self.consume_message_directly)  # type: ignore[attr-defined]

    def _channel(self, group: str, client_id: str) -> ClientChannelInfo | None:
        info = self._broker.client_manager.consumer_groups.get(group)
        channels = info.channels.values() if info is not None else ()
        return next(
            (c for c in channels if c.client_id == client_id and c.connection.is_open), None
        )

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
        channel = self._channel(group, client_id)
        if channel is None:
            return request.response(
                ResponseCode.SYSTEM_ERROR, f"The Consumer <{group}> <{client_id}> not online"
            )
        if channel.version < MIN_RUNNING_INFO_VERSION:
            return request.response(
                ResponseCode.SYSTEM_ERROR,
                f"The Consumer <{client_id}> Version <{channel.version}> too low to finish, "
                "please upgrade it to V3_1_8_SNAPSHOT",
            )
        ext = dict(request.ext_fields)
        ext["brokerName"] = self._broker.config.broker_name
        topic = header.optional_str("topic")
        config = self._broker.topic_config_manager.get(topic) if topic else None
        if config is not None:
            ext["topicSysFlag"] = str(config.topic_sys_flag)
        forward = RemotingCommand.request(RequestCode.CONSUME_MESSAGE_DIRECTLY, ext, record)
        try:
            answer = await channel.connection.invoke(forward, CALL_CONSUMER_TIMEOUT)
        except RequestTimeoutError as exc:
            return request.response(
                ResponseCode.CONSUME_MSG_TIMEOUT, f"consumer <{group}> <{client_id}> Timeout: {exc}"
            )
        except RemotingError as exc:
            return request.response(
                ResponseCode.SYSTEM_ERROR,
                f"invoke consumer <{group}> <{client_id}> Exception: {exc}",
            )
        return request.response(answer.code, answer.remark, answer.ext_fields, answer.body)
