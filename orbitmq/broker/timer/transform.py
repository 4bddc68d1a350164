"""Timer messages at send and at delivery (HookUtils.handleScheduleMessage /
transformTimerMessage and TimerMessageStore.convert / convertMessage in RocketMQ 5).

Pure code: time comes in as an argument.

At send (`park_timer`), a message of transaction type NOT or COMMIT that asks for a
delivery time is parked: TIMER_OUT_MS = the time's slot, REAL_TOPIC/REAL_QID saved, topic
rmq_sys_wheel_timer, queue 0. The time comes from, first match wins, TIMER_DELAY_SEC
(relative s), TIMER_DELAY_MS (relative ms), TIMER_DELIVER_MS (absolute epoch ms) and,
OrbitMQ's addition for Aliyun ONS / 4.x-era producers, __STARTDELIVERTIME (absolute ms;
Apache RocketMQ's broker only counts it in metrics). Rules, as RocketMQ's:
  * a delay level (DELAY > 0) wins: the timer properties are removed and the level used;
  * a message already carrying TIMER_OUT_MS (delivered once, sent again) is no timer;
  * a time not in the future: stored in its topic at once;
  * more than timerMaxDelaySec ahead: refused (MESSAGE_ILLEGAL);
  * timerWheelEnable=false: refused (SYSTEM_ERROR).
OrbitMQ refuses, where RocketMQ would go on silently: a transactional half message with
a time (RocketMQ parks it at commit, which this broker's commit does not), a time cancel
(TIMER_DEL_UNIQKEY, not supported), and a send straight to rmq_sys_wheel_timer.

Slots: with precision p (timerPrecisionMs), the time t is stored as TIMER_OUT_MS =
floor(t / p) * p, or t - p when t is a multiple of p, and the message is delivered when
its slot ends, at TIMER_OUT_MS + p: never before t, less than p after it (RocketMQ's
dequeue reads a slot once the write time has passed it).

At delivery (`message_from_timer`), the message goes to REAL_TOPIC/REAL_QID with its
properties, REAL_TOPIC/REAL_QID and TIMER_OUT_MS included (a Java broker keeps them too),
plus TIMER_ENQUEUE_MS (the parked record's store time), TIMER_DEQUEUE_MS (now) and
TIMER_ORIGIN_OFFSET, OrbitMQ's own: the parked record's commit-log offset, by which a
restarted broker knows which timers it had delivered (recovery.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from orbitmq.broker.errors import BrokerError, MessageIllegalError, NoPermissionError
from orbitmq.broker.schedule import delay_level_of, unparked
from orbitmq.protocol.message import MessageConst, MessageExt, SysFlag

TIMER_TOPIC = "rmq_sys_wheel_timer"  # TimerMessageStore.TIMER_TOPIC
TIMER_QUEUE_ID = 0

# MessageConst.PROPERTY_TIMER_* (RocketMQ 5) and ONS's start-deliver time.
TIMER_DELAY_SEC = "TIMER_DELAY_SEC"
TIMER_DELAY_MS = "TIMER_DELAY_MS"
TIMER_DELIVER_MS = "TIMER_DELIVER_MS"
START_DELIVER_TIME = "__STARTDELIVERTIME"
TIMER_OUT_MS = "TIMER_OUT_MS"
TIMER_ENQUEUE_MS = "TIMER_ENQUEUE_MS"
TIMER_DEQUEUE_MS = "TIMER_DEQUEUE_MS"
TIMER_DEL_UNIQKEY = "TIMER_DEL_UNIQKEY"
TIMER_ORIGIN_OFFSET = "TIMER_ORIGIN_OFFSET"

# The properties that ask for a time, in the order that decides between them.
REQUEST_PROPERTIES = (TIMER_DELAY_SEC, TIMER_DELAY_MS, TIMER_DELIVER_MS, START_DELIVER_TIME)
_RELATIVE_SCALE = {TIMER_DELAY_SEC: 1000, TIMER_DELAY_MS: 1}
_PARKED_TRANSACTION_TYPES = (0, SysFlag.TRANSACTION_COMMIT)


@dataclass(frozen=True, slots=True)
class TimerSettings:
    """The broker keys a send is checked against, read at the time of the send."""

    enabled: bool  # timerWheelEnable
    max_delay_sec: int  # timerMaxDelaySec
    precision_ms: int  # timerPrecisionMs
    broker_name: str  # named in refusals


def asks_for_time(properties: dict[str, str]) -> bool:
    return any(name in properties for name in REQUEST_PROPERTIES)


def timer_out_ms(deliver_ms: int, precision_ms: int) -> int:
    """TIMER_OUT_MS, the start of the slot that ends at or after `deliver_ms`."""
    if deliver_ms % precision_ms == 0:
        return deliver_ms - precision_ms
    return deliver_ms // precision_ms * precision_ms


def fire_ms(parked: MessageExt, precision_ms: int) -> int | None:
    """When a parked message is due: the end of its slot, and never before the time it
    asked for (which matters when timerPrecisionMs was lowered since it was parked);
    None if it has no readable TIMER_OUT_MS (not a record this broker parked)."""
    text = parked.properties.get(TIMER_OUT_MS, "")
    try:
        slot_end = int(text) + precision_ms
    except ValueError:
        return None
    try:  # relative times count from the store time: at most a few ms after the send
        asked = requested_deliver_ms(parked.properties, parked.store_timestamp)
    except MessageIllegalError:
        return slot_end
    return max(slot_end, asked)


def requested_deliver_ms(properties: dict[str, str], now_ms: int) -> int:
    """The delivery time the properties ask for (the first of REQUEST_PROPERTIES).

    Raises:
        MessageIllegalError: that property is not an integer.
    """
    for name in REQUEST_PROPERTIES:
        text = properties.get(name)
        if text is None:
            continue
        try:
            value = int(text)
        except ValueError:
            raise MessageIllegalError(
                f"timer message illegal: property {name}={text!r} is not an integer "
                f"({'a delay' if name in _RELATIVE_SCALE else 'epoch milliseconds'})"
            ) from None
        scale = _RELATIVE_SCALE.get(name)
        return now_ms + value * scale if scale is not None else value
    raise MessageIllegalError("timer message illegal: no delivery time property")


def park_timer(msg: MessageExt, settings: TimerSettings, now_ms: int, *, prepared: bool) -> bool:
    """Park a timer message in rmq_sys_wheel_timer, in place; True if it was parked.

    Args:
        msg: the message as the producer sent it (topic and queue chosen).
        settings: the broker's timer keys.
        now_ms: the broker's clock, epoch ms.
        prepared: it is a transactional half message (TRAN_MSG=true).

    Raises:
        NoPermissionError: the producer sent to rmq_sys_wheel_timer itself.
        MessageIllegalError: a bad or too distant time, a half message with a time, or
            a cancel (TIMER_DEL_UNIQKEY).
        BrokerError: timerWheelEnable=false (SYSTEM_ERROR, as RocketMQ answers).
    """
    if msg.topic == TIMER_TOPIC:
        raise NoPermissionError(f"Sending message to topic[{TIMER_TOPIC}] is forbidden.")
    properties = msg.properties
    if not asks_for_time(properties):
        return False
    if prepared:
        raise MessageIllegalError(
            "a transactional message cannot carry a delivery time "
            f"({', '.join(n for n in REQUEST_PROPERTIES if n in properties)}); send it "
            "without one, or send a normal message with the time"
        )
    if msg.sys_flag & SysFlag.TRANSACTION_MASK not in _PARKED_TRANSACTION_TYPES:
        return False
    if delay_level_of(properties) > 0:  # checkIfTimerMessage: the level wins
        for name in REQUEST_PROPERTIES:
            properties.pop(name, None)
        return False
    if TIMER_OUT_MS in properties:  # checkIfTimerMessage's double check
        return False
    if not settings.enabled:
        raise BrokerError(
            "accurate timer message is not enabled, timerWheelEnable is false on broker "
            f"{settings.broker_name}; set timerWheelEnable=true in its config, or send "
            "without a delivery time"
        )
    if TIMER_DEL_UNIQKEY in properties:
        raise MessageIllegalError(
            f"a send cannot cancel a timer message ({TIMER_DEL_UNIQKEY}); recall it with "
            "RECALL_MESSAGE (a 5.x client's recall_message and its send's recall handle)"
        )
    deliver_ms = requested_deliver_ms(properties, now_ms)
    if deliver_ms <= now_ms:
        return False  # due already: stored in its topic at once
    max_delay_ms = settings.max_delay_sec * 1000
    if deliver_ms - now_ms > max_delay_ms:
        raise MessageIllegalError(
            "timer message illegal, the delay time should not be bigger than the max delay "
            f"{max_delay_ms}ms: the message asks for {deliver_ms - now_ms}ms (broker "
            f"{settings.broker_name}, timerMaxDelaySec={settings.max_delay_sec}); send it "
            "with an earlier time, or raise timerMaxDelaySec in the broker config"
        )
    properties[TIMER_OUT_MS] = str(timer_out_ms(deliver_ms, settings.precision_ms))
    properties[MessageConst.REAL_TOPIC] = msg.topic
    properties[MessageConst.REAL_QID] = str(msg.queue_id)
    msg.topic = TIMER_TOPIC
    msg.queue_id = TIMER_QUEUE_ID
    return True


def message_from_timer(parked: MessageExt, now_ms: int) -> MessageExt | None:
    """The message to store in the real topic once due; None if the record is not one
    this broker parked (wrong topic, or no REAL_TOPIC/REAL_QID)."""
    if parked.topic != TIMER_TOPIC:
        return None
    properties = dict(parked.properties)
    topic = properties.get(MessageConst.REAL_TOPIC)
    queue_id = properties.get(MessageConst.REAL_QID, "")
    if not topic or not queue_id.isdigit() or topic == TIMER_TOPIC:
        return None
    properties[TIMER_ENQUEUE_MS] = str(parked.store_timestamp)
    properties[TIMER_DEQUEUE_MS] = str(now_ms)
    properties[TIMER_ORIGIN_OFFSET] = str(parked.commit_log_offset)
    return unparked(parked, topic, int(queue_id), properties)


def delivered_origin(delivered: MessageExt) -> tuple[int, int] | None:
    """(parked record's commit-log offset, its store time) of a message this broker
    delivered from the timer topic; None for any other record."""
    properties = delivered.properties
    origin = properties.get(TIMER_ORIGIN_OFFSET)
    enqueued = properties.get(TIMER_ENQUEUE_MS)
    if origin is None or enqueued is None or delivered.topic == TIMER_TOPIC:
        return None
    try:
        return int(origin), int(enqueued)
    except ValueError:
        return None
