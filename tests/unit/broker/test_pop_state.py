"""POP bookkeeping of one queue (orbitmq/broker/pop/state.py) and receipt handles."""

from __future__ import annotations

import pytest

from orbitmq.broker.pop.receipt import InvalidReceiptHandleError, ReceiptHandle
from orbitmq.broker.pop.state import AckOutcome, PopQueueState


def test_watermark_is_the_oldest_unacked_offset() -> None:
    state = PopQueueState(frontier=10)
    assert state.watermark() == 10
    first = state.deliver(10, now_ms=1_000, invisible_ms=5_000)
    second = state.deliver(11, now_ms=1_000, invisible_ms=5_000)
    assert state.frontier == 12 and state.watermark() == 10
    assert state.ack(11, second.pop_time) is AckOutcome.ACKED
    assert state.watermark() == 10
    assert state.ack(10, first.pop_time) is AckOutcome.ACKED
    assert state.watermark() == 12


def test_expired_delivery_comes_back_with_one_more_attempt() -> None:
    state = PopQueueState(frontier=0)
    first = state.deliver(0, now_ms=1_000, invisible_ms=5_000)
    assert state.due(5_999) == [] and state.due(6_000) == [0]
    again = state.deliver(0, now_ms=6_000, invisible_ms=5_000)
    assert (first.attempt, again.attempt) == (1, 2)
    # The handle of the first delivery no longer acks it.
    assert state.ack(0, first.pop_time) is AckOutcome.STALE
    assert state.ack(0, again.pop_time) is AckOutcome.ACKED
    assert state.ack(0, again.pop_time) is AckOutcome.STALE


def test_change_invisible_makes_a_new_handle_and_keeps_the_attempt() -> None:
    state = PopQueueState(frontier=0)
    delivery = state.deliver(0, now_ms=1_000, invisible_ms=5_000)
    old_pop_time = delivery.pop_time
    changed = state.change_invisible(0, old_pop_time, now_ms=1_000, invisible_ms=60_000)
    assert changed is not None and changed.attempt == 1
    assert changed.pop_time != old_pop_time and changed.visible_at == 61_000
    assert state.change_invisible(0, old_pop_time, now_ms=2_000, invisible_ms=1_000) is None
    assert state.ack(0, old_pop_time) is AckOutcome.STALE
    assert state.ack(0, changed.pop_time) is AckOutcome.ACKED


def test_fifo_queue_is_blocked_while_a_batch_is_invisible() -> None:
    state = PopQueueState(frontier=0)
    state.deliver(0, now_ms=1_000, invisible_ms=5_000, attempt_id="a1")
    assert state.blocked_for_order(2_000, "")
    assert state.blocked_for_order(2_000, "other")
    assert not state.blocked_for_order(2_000, "a1")  # the same receive, retried
    assert not state.blocked_for_order(6_000, "")  # invisible time over: redeliver


def test_receipt_handle_round_trip() -> None:
    handle = ReceiptHandle(7, 1_700_000_000_000, 30_000, 0, 0, "broker-a", 3, 7, 123_456)
    text = handle.encode()
    assert text == "7 1700000000000 30000 0 0 broker-a 3 7 123456"
    assert ReceiptHandle.decode(text) == handle
    assert ReceiptHandle.decode(handle.extra_info()).commit_log_offset == -1
    assert handle.expired(1_700_000_030_000) and not handle.expired(1_700_000_029_999)


@pytest.mark.parametrize("text", ["", "1 2 3", "a b c d e f g h", "1 2 3 4 5 b 6 x 9"])
def test_foreign_receipt_handles_are_refused(text: str) -> None:
    with pytest.raises(InvalidReceiptHandleError):
        ReceiptHandle.decode(text)
