"""GET_TIMER_CHECKPOINT: a master's timer checkpoint, which its slaves copy (slave_sync.py).

OrbitMQ's own request code: RocketMQ's GET_TIMER_CHECK_POINT (60) answers the binary
TimerCheckpoint of a timer wheel this broker does not keep. The body is the JSON of
config/timercheck.json (progress.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from orbitmq.broker.errors import ServiceNotAvailableError
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.timer.service import TimerMessageService

GET_TIMER_CHECKPOINT = 50060


class TimerCheckpointHandler:
    def __init__(self, service: TimerMessageService, broker_name: str) -> None:
        self._service = service
        self._broker_name = broker_name

    def register(self, dispatcher: object) -> None:
        dispatcher.register(GET_TIMER_CHECKPOINT, self.get_timer_checkpoint)  # type: ignore[attr-defined]

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
