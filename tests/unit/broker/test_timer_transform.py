"""Timer messages at send and at delivery (broker/timer/transform.py): which property
wins, slots, refusals, the delivered message; and the broker keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitmq.broker.config import load_broker_config
from orbitmq.broker.errors import BrokerError, MessageIllegalError, NoPermissionError
from orbitmq.broker.timer.transform import (
    TIMER_TOPIC,
    TimerSettings,
    delivered_origin,
    fire_ms,
    message_from_timer,
    park_timer,
    requested_deliver_ms,
    timer_out_ms,
)
from orbitmq.client import Message
from orbitmq.protocol.codes import ResponseCode
from orbitmq.protocol.message import MessageExt, SysFlag

NOW = 1_700_000_000_123
SETTINGS = TimerSettings(enabled=True, max_delay_sec=259_200, precision_ms=1000, broker_name="b1")


def make_msg(topic: str = "Orders", queue_id: int = 2, **properties: str) -> MessageExt:
    return MessageExt(
        topic=topic,
        body=b"payload",
        properties={"TAGS": "TagA", "UNIQ_KEY": "AC1100020000", **properties},
        queue_id=queue_id,
        flag=7,
        born_timestamp=NOW - 5,
        born_host=("10.0.0.1", 50000),
        store_host=("127.0.0.1", 10911),
        reconsume_times=1,
    )


def park(msg: MessageExt, settings: TimerSettings = SETTINGS, prepared: bool = False) -> bool:
    return park_timer(msg, settings, NOW, prepared=prepared)


# --------------------------------------------------------------------------- the time asked


def test_relative_properties_win_over_absolute_ones_in_rocketmq_order() -> None:
    everything = {
        "TIMER_DELAY_SEC": "3",
        "TIMER_DELAY_MS": "700",
        "TIMER_DELIVER_MS": str(NOW + 9000),
        "__STARTDELIVERTIME": str(NOW + 11_000),
    }
    assert requested_deliver_ms(everything, NOW) == NOW + 3000
    del everything["TIMER_DELAY_SEC"]
    assert requested_deliver_ms(everything, NOW) == NOW + 700
    del everything["TIMER_DELAY_MS"]
    assert requested_deliver_ms(everything, NOW) == NOW + 9000
    del everything["TIMER_DELIVER_MS"]
    assert requested_deliver_ms(everything, NOW) == NOW + 11_000


def test_a_time_that_is_not_an_integer_is_refused_naming_the_property() -> None:
    with pytest.raises(MessageIllegalError, match="TIMER_DELAY_SEC='soon'"):
        park(make_msg(TIMER_DELAY_SEC="soon"))


# --------------------------------------------------------------------------- parking


def test_park_rewrites_to_the_timer_topic_with_the_slot_and_the_real_queue() -> None:
    msg = make_msg(TIMER_DELIVER_MS=str(NOW + 5000))
    assert park(msg)
    assert (msg.topic, msg.queue_id) == (TIMER_TOPIC, 0)
    props = msg.properties
    assert (props["REAL_TOPIC"], props["REAL_QID"]) == ("Orders", "2")
    assert props["TIMER_OUT_MS"] == str((NOW + 5000) // 1000 * 1000)
    assert props["TIMER_DELIVER_MS"] == str(NOW + 5000)  # kept, as RocketMQ keeps it


def test_slots_round_down_and_an_exact_multiple_moves_one_slot_earlier() -> None:
    assert timer_out_ms(12_345, 1000) == 12_000
    assert timer_out_ms(12_000, 1000) == 11_000
    assert timer_out_ms(12_345, 100) == 12_300


@given(st.integers(1, 10**13), st.sampled_from([100, 200, 500, 1000]))
def test_a_timer_fires_never_before_its_time_and_within_one_slot(deliver: int, p: int) -> None:
    parked = make_msg(TIMER_DELIVER_MS=str(deliver), TIMER_OUT_MS=str(timer_out_ms(deliver, p)))
    fire = fire_ms(parked, p)
    assert fire is not None and deliver <= fire < deliver + p


def test_a_lowered_precision_never_fires_a_parked_timer_early() -> None:
    parked = make_msg(TIMER_DELAY_SEC="5", TIMER_OUT_MS=str(timer_out_ms(NOW + 5000, 1000)))
    parked.store_timestamp = NOW
    assert fire_ms(parked, 100) == NOW + 5000  # its slot ends 23 ms before that
    assert fire_ms(parked, 1000) == (NOW + 5000) // 1000 * 1000 + 1000
    assert fire_ms(make_msg(), 1000) is None  # no TIMER_OUT_MS: not a parked record


@pytest.mark.parametrize(
    "properties",
    [{}, {"TIMER_DELAY_SEC": "0"}, {"TIMER_DELAY_MS": "-5"}, {"TIMER_DELIVER_MS": str(NOW)}],
)
def test_no_time_or_a_time_already_due_is_stored_at_once(properties: dict[str, str]) -> None:
    msg = make_msg(**properties)
    assert not park(msg)
    assert (msg.topic, msg.queue_id) == ("Orders", 2) and "TIMER_OUT_MS" not in msg.properties


def test_onss_start_deliver_time_is_a_timer_too() -> None:
    msg = make_msg(__STARTDELIVERTIME=str(NOW + 2500))
    assert park(msg) and msg.properties["TIMER_OUT_MS"] == str((NOW + 2500) // 1000 * 1000)


def test_a_delay_level_wins_and_the_timer_properties_are_removed() -> None:
    msg = make_msg(DELAY="2", TIMER_DELAY_SEC="30", __STARTDELIVERTIME=str(NOW + 9000))
    assert not park(msg)
    assert msg.topic == "Orders"
    assert "TIMER_DELAY_SEC" not in msg.properties
    assert "__STARTDELIVERTIME" not in msg.properties
    assert msg.properties["DELAY"] == "2"


def test_a_message_delivered_once_and_sent_again_is_no_timer() -> None:
    msg = make_msg(TIMER_DELAY_SEC="30", TIMER_OUT_MS=str(NOW - 1000))
    assert not park(msg) and msg.topic == "Orders"


def test_a_delay_beyond_the_max_is_refused_with_a_remark_to_act_on() -> None:
    with pytest.raises(MessageIllegalError) as caught:
        park(make_msg(TIMER_DELAY_SEC=str(259_200 + 1)))
    remark = str(caught.value)
    assert "max delay 259200000ms" in remark
    assert "timerMaxDelaySec=259200" in remark and "b1" in remark
    assert caught.value.response_code == ResponseCode.MESSAGE_ILLEGAL
    assert park(make_msg(TIMER_DELAY_SEC="259200"))  # exactly the max is accepted


def test_disabled_timers_are_refused_as_system_error() -> None:
    disabled = TimerSettings(False, 259_200, 1000, "b1")
    with pytest.raises(BrokerError, match="timerWheelEnable") as caught:
        park(make_msg(TIMER_DELAY_SEC="3"), disabled)
    assert caught.value.response_code == ResponseCode.SYSTEM_ERROR
    assert not park(make_msg(), disabled)  # plain messages are untouched


def test_a_half_message_with_a_time_is_refused() -> None:
    with pytest.raises(MessageIllegalError, match="transactional"):
        park(make_msg(TIMER_DELAY_SEC="3", TRAN_MSG="true"), prepared=True)
    assert not park(make_msg(TRAN_MSG="true"), prepared=True)


def test_a_rollback_record_is_not_parked() -> None:
    msg = make_msg(TIMER_DELAY_SEC="3")
    msg.sys_flag = SysFlag.TRANSACTION_ROLLBACK
    assert not park(msg)


def test_sending_to_the_timer_topic_itself_is_forbidden() -> None:
    with pytest.raises(NoPermissionError, match=TIMER_TOPIC):
        park(make_msg(topic=TIMER_TOPIC))


def test_cancelling_a_timer_is_refused() -> None:
    with pytest.raises(MessageIllegalError, match="TIMER_DEL_UNIQKEY"):
        park(make_msg(TIMER_DELAY_SEC="3", TIMER_DEL_UNIQKEY="x"))


# --------------------------------------------------------------------------- delivery


def _parked() -> MessageExt:
    msg = make_msg(TIMER_DELAY_SEC="4")
    assert park(msg)
    msg.commit_log_offset = 4096
    msg.store_timestamp = NOW + 1
    return msg


def test_the_delivered_message_goes_to_its_real_queue_and_says_where_it_came_from() -> None:
    parked = _parked()
    delivered = message_from_timer(parked, NOW + 4100)
    assert delivered is not None
    assert (delivered.topic, delivered.queue_id) == ("Orders", 2)
    assert (delivered.body, delivered.flag, delivered.reconsume_times) == (b"payload", 7, 1)
    assert (delivered.born_timestamp, delivered.born_host) == (
        parked.born_timestamp,
        ("10.0.0.1", 50000),
    )
    props = delivered.properties
    assert props["UNIQ_KEY"] == "AC1100020000"  # the same message id
    assert props["TIMER_OUT_MS"] == parked.properties["TIMER_OUT_MS"]
    assert (props["REAL_TOPIC"], props["REAL_QID"]) == ("Orders", "2")
    assert props["TIMER_ENQUEUE_MS"] == str(NOW + 1)
    assert props["TIMER_DEQUEUE_MS"] == str(NOW + 4100)
    assert props["TIMER_ORIGIN_OFFSET"] == "4096"
    assert delivered_origin(delivered) == (4096, NOW + 1)
    assert "TIMER_ORIGIN_OFFSET" not in parked.properties  # the parked record is untouched


def test_records_that_are_not_parked_timers_are_not_delivered() -> None:
    assert message_from_timer(make_msg(REAL_TOPIC="Orders", REAL_QID="1"), NOW) is None
    no_queue = _parked()
    del no_queue.properties["REAL_QID"]
    assert message_from_timer(no_queue, NOW) is None
    assert delivered_origin(make_msg()) is None
    assert delivered_origin(make_msg(TIMER_ORIGIN_OFFSET="x", TIMER_ENQUEUE_MS="1")) is None


# --------------------------------------------------------------------------- broker keys


def test_timer_keys_parse_with_rocketmq_defaults_and_precision_snaps() -> None:
    config = load_broker_config(overrides={"brokerName": "b1"})
    assert (config.timer_wheel_enable, config.timer_max_delay_sec) == (True, 259_200)
    assert (config.timer_precision_ms, config.timer_flush_interval_ms) == (1000, 1000)
    for given_ms, snapped in [
        ("50", 100),
        ("100", 100),
        ("350", 200),
        ("999", 500),
        ("5000", 1000),
    ]:
        config = load_broker_config(overrides={"brokerName": "b1", "timerPrecisionMs": given_ms})
        assert config.timer_precision_ms == snapped
    config = load_broker_config(
        overrides={"brokerName": "b1", "timerWheelEnable": "false", "timerMaxDelaySec": "60"}
    )
    assert (config.timer_wheel_enable, config.timer_max_delay_sec) == (False, 60)


def test_the_python_client_asks_with_timer_deliver_ms() -> None:
    text = Message("Orders", b"x", tags="A", deliver_time_ms=NOW).properties_text("ID1")
    assert text == f"TAGS\x01A\x02TIMER_DELIVER_MS\x01{NOW}\x02WAIT\x01true\x02UNIQ_KEY\x01ID1"
    assert "TIMER_" not in Message("Orders", b"x").properties_text("ID1")
