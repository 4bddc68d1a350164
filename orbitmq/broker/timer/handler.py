"""Timer requests.

GET_TIMER_CHECKPOINT: a master's timer checkpoint, which its slaves copy
(slave_sync.py). OrbitMQ's own request code: RocketMQ's GET_TIMER_CHECK_POINT (60)
answers the binary TimerCheckpoint of a timer wheel this broker does not keep. The body
is the JSON of config/timercheck.json (progress.py).

RECALL_MESSAGE (370, RocketMQ 5.3): header `topic`, `recallHandle` (recall.py); the
response's `msgId` is the recalled message's id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from orbitmq.broker.errors import MessageIllegalError, ServiceNotAvailableError
from orbitmq.broker.headers import Header
from orbitmq.broker.timer.recall import RecallHandle
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

GET_TIMER_CHECKPOINT = 50060
RECALL_MESSAGE = 370


class TimerHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker
        self._service = broker.timer_service
        self._broker_name = broker.config.broker_name

    def register(self, dispatcher: object) -> None:
        dispatcher.register(GET_TIMER_CHECKPOINT, self.get_timer_checkpoint)  # type: ignore[attr-defined]
        dispatcher.register(RECALL_MESSAGE, self.recall_message)  # type: ignore[attr-defined]

    def recall_message(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """Raises:
        MessageIllegalError: a bad handle, one of another topic or broker set, or a
            timer due already.
        ServiceNotAvailableError: not the master.
        """
        broker = self._broker
        if not broker.config.is_master:
            raise ServiceNotAvailableError(
                f"broker {self._broker_name} is a slave; recall on its master"
            )
        header = Header(request)
        handle = RecallHandle.decode(header.str("recallHandle"))
        topic = header.str("topic")
        if handle.topic != topic or handle.broker_name != self._broker_name:
            raise MessageIllegalError(
                f"the recall handle names {handle.topic} on {handle.broker_name}, not "
                f"{topic} on {self._broker_name}"
            )
        marker = self._service.recall(handle, broker.store_host)
        result = broker.message_store.append_messages([marker])
        if result.append_result is None:
            raise ServiceNotAvailableError(
                f"recall of {handle.message_id} not stored: {result.remark or result.status.name}"
            )
        return request.response(ext_fields={"msgId": handle.message_id})

    def get_timer_checkpoint(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """Raises:
        ServiceNotAvailableError: this broker does not deliver timers now.
        """
        checkpoint = self._service.checkpoint()
        if checkpoint is None:
            raise ServiceNotAvailableError(
                f"broker {self._broker_name} does not deliver timer messages now (a slave, "
                "timerWheelEnable=false, or still recovering them); ask its master"
            )
        return request.response(body=orjson.dumps(checkpoint))
