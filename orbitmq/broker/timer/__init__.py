"""RocketMQ 5 timer messages: a delivery time per message (transform.py), held by the
broker until due (service.py), across restarts and failovers (progress.py, recovery.py),
recalled before then (recall.py)."""

from orbitmq.broker.timer.handler import GET_TIMER_CHECKPOINT, TimerHandler
from orbitmq.broker.timer.service import TimerMessageService
from orbitmq.broker.timer.transform import TIMER_TOPIC

__all__ = [
    "GET_TIMER_CHECKPOINT",
    "TIMER_TOPIC",
    "TimerHandler",
    "TimerMessageService",
]
