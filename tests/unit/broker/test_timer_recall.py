"""Recall handles and markers (orbitmq/broker/timer/recall.py)."""

from __future__ import annotations

import pytest

from orbitmq.broker.errors import MessageIllegalError
from orbitmq.broker.timer.recall import RecallHandle, cancel_key, delete_key, recall_marker
from orbitmq.broker.timer.transform import (
    TIMER_DEL_UNIQKEY,
    TIMER_OUT_MS,
    TIMER_TOPIC,
    TimerSettings,
    park_timer,
)
from orbitmq.protocol.message import MessageExt


def test_handle_round_trip() -> None:
    handle = RecallHandle("Orders", "broker-a", 1_800_000_000_000, "01ABCDEF")
    assert RecallHandle.decode(handle.encode()) == handle
    assert not set(handle.encode()) & {"+", "/", " "}  # URL-safe base64


@pytest.mark.parametrize("text", ["", "not base64!", "djIgYSBiIDEgeA=="])  # v2 a b 1 x
def test_foreign_handles_are_refused(text: str) -> None:
    with pytest.raises(MessageIllegalError):
        RecallHandle.decode(text)


def test_a_marker_names_the_timer_it_recalls() -> None:
    now = 1_800_000_000_000
    parked = MessageExt(topic="Orders", body=b"x", properties={"UNIQ_KEY": "01AB",
                        "TIMER_DELIVER_MS": str(now + 5_000)})  # fmt: skip
    settings = TimerSettings(True, 3600, 1000, "broker-a")
    assert park_timer(parked, settings, now, prepared=False)
    handle = RecallHandle("Orders", "broker-a", now + 5_000, "01AB")
    marker = recall_marker(handle, 1000, now, ("127.0.0.1", 10911))
    assert marker.topic == TIMER_TOPIC
    assert (
        marker.properties[TIMER_DEL_UNIQKEY] == delete_key("Orders", "01AB") == cancel_key(parked)
    )
    assert marker.properties[TIMER_OUT_MS] == parked.properties[TIMER_OUT_MS]  # the same slot
    with pytest.raises(MessageIllegalError, match="delivered already"):
        recall_marker(handle, 1000, now + 5_000, ("127.0.0.1", 10911))
