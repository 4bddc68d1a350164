"""RocketMQ 5's POP over remoting: POP_MESSAGE (200050), ACK_MESSAGE (200051),
CHANGE_MESSAGE_INVISIBLETIME (200053), served by orbitmq/broker/pop/service.py.

A popped message is returned as a stored record whose `POP_CK` property is its
receipt handle's extra info, and whose reconsume times count its earlier deliveries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbitmq.broker.errors import (
    MessageIllegalError,
    ServiceNotAvailableError,
    SubscriptionParseError,
)
from orbitmq.broker.headers import Header
from orbitmq.broker.pop.receipt import InvalidReceiptHandleError, ReceiptHandle
from orbitmq.broker.pop.service import PopRequest
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import encode_record
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

POP_CK = "POP_CK"
# RocketMQ's bounds on an invisible time (the proxy checks the clients' requests).
MAX_INVISIBLE_MS = 12 * 3600 * 1000


class PopHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        for code, handler in (
            (RequestCode.POP_MESSAGE, self.pop_message),
            (RequestCode.ACK_MESSAGE, self.ack_message),
            (RequestCode.CHANGE_MESSAGE_INVISIBLETIME, self.change_invisible_time),
        ):
            dispatcher.register(code, handler)  # type: ignore[attr-defined]

    def _check_master(self) -> None:
        broker = self._broker
        if not broker.config.is_master:
            raise ServiceNotAvailableError(
                f"broker {broker.config.broker_name} is a slave; pop from its master"
            )

    async def pop_message(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        self._check_master()
        header = Header(request)
        invisible_ms = header.int("invisibleTime")
        if not 0 < invisible_ms <= MAX_INVISIBLE_MS:
            raise MessageIllegalError(
                f"invisibleTime {invisible_ms} ms is out of range (1 ms to 12 h)"
            )
        pop = PopRequest(
            group=header.str("consumerGroup"),
            topic=header.str("topic"),
            queue_id=header.int("queueId", -1),
            max_nums=max(1, min(header.int("maxMsgNums", 32), 32)),
            invisible_ms=invisible_ms,
            poll_ms=max(0, header.int("pollTime", 0)),
            expression_type=header.str("expType", "TAG") or "TAG",
            expression=header.str("exp", "*") or "*",
            order=header.bool("order"),
            attempt_id=header.str("attemptId", ""),
        )
        try:
            popped = await self._broker.pop_service.pop(pop, connection)
        except ValueError as exc:
            raise SubscriptionParseError(
                f"filter expression {pop.expression!r} ({pop.expression_type}) does not "
                f"parse: {exc}"
            ) from exc
        if not popped:
            return request.response(ResponseCode.PULL_NOT_FOUND, "no new message")
        records = []
        for item in popped:
            item.message.properties[POP_CK] = item.handle.extra_info()
            records.append(bytes(encode_record(item.message)))
        first = popped[0].handle
        return request.response(
            ext_fields={
                "popTime": str(first.pop_time),
                "invisibleTime": str(invisible_ms),
                "reviveQid": "0",
                "restNum": "0",
            },
            body=b"".join(records),
        )

    def _handle(self, header: Header) -> ReceiptHandle:
        try:
            return ReceiptHandle.decode(header.str("extraInfo"))
        except InvalidReceiptHandleError as exc:
            raise MessageIllegalError(str(exc)) from exc

    def ack_message(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        self._check_master()
        header = Header(request)
        handle = self._handle(header)
        self._broker.pop_service.ack(header.str("consumerGroup"), header.str("topic"), handle)
        return request.response()

    def change_invisible_time(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        self._check_master()
        header = Header(request)
        invisible_ms = header.int("invisibleTime")
        if not 0 <= invisible_ms <= MAX_INVISIBLE_MS:
            raise MessageIllegalError(
                f"invisibleTime {invisible_ms} ms is out of range (0 to 12 h)"
            )
        handle = self._broker.pop_service.change_invisible(
            header.str("consumerGroup"), header.str("topic"), self._handle(header), invisible_ms
        )
        return request.response(
            ext_fields={
                "popTime": str(handle.pop_time),
                "invisibleTime": str(handle.invisible_time),
                "reviveQid": str(handle.revive_queue_id),
            }
        )
