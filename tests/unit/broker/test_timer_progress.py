"""The timer checkpoint (broker/timer/progress.py): low watermark, done offsets above
it, deliveries that count only once stored; against a plain-set model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitmq.broker.timer.progress import CheckpointError, TimerProgress, decode_ranges


def test_done_offsets_are_kept_as_ranges() -> None:
    progress = TimerProgress(low=0, done=[(3, 6)])
    for offset in (7, 9, 10):
        progress.mark_done(offset)
    assert progress.checkpoint(0)["deliveredOffsets"] == [[3, 6], [7, 8], [9, 11]]
    assert decode_ranges([[3, 6], [9, 11]], 0) == [(3, 6), (9, 11)]


@pytest.mark.parametrize("bad", [5, [[1]], [["a", 2]], [None], [[4, 4]], [[-1, 2]], [[0, 2**31]]])
def test_bad_ranges_are_a_checkpoint_error(bad: object) -> None:
    with pytest.raises(CheckpointError, match="deliveredOffsets"):
        decode_ranges(bad, 0)


def test_the_low_watermark_moves_over_a_run_of_done_offsets() -> None:
    progress = TimerProgress()
    progress.mark_done(1)
    progress.mark_done(2)
    assert progress.low == 0 and progress.is_done(2) and not progress.is_done(0)
    progress.mark_done(0)
    assert progress.low == 3
    assert progress.checkpoint(500) == {
        "timerQueueOffset": 3,
        "commitLogOffset": 500,
        "deliveredOffsets": [],
    }


def test_a_delivery_counts_once_its_record_is_stored() -> None:
    progress = TimerProgress(low=10)
    progress.mark_delivered(10, record_end=1200, stored_end=1000)  # proposed, not committed
    progress.mark_delivered(12, record_end=1300, stored_end=1000)
    assert not progress.is_done(10) and progress.unconfirmed_count == 2
    assert progress.checkpoint(1000)["timerQueueOffset"] == 10
    assert progress.checkpoint(1250) == {
        "timerQueueOffset": 11,
        "commitLogOffset": 1250,
        "deliveredOffsets": [],
    }
    assert progress.checkpoint(1300)["deliveredOffsets"] == [[12, 13]]
    progress.mark_delivered(11, record_end=1400, stored_end=1400)  # classic mode: at once
    assert progress.low == 13 and progress.unconfirmed_count == 0


def test_checkpoints_round_trip_through_json() -> None:
    progress = TimerProgress(low=4, commit_log_offset=100, done=[(2, 3), (6, 8), (9, 10)])
    assert progress.low == 4 and not progress.is_done(5) and progress.is_done(2)
    data = progress.checkpoint(800)
    assert data == {
        "timerQueueOffset": 4,
        "commitLogOffset": 800,
        "deliveredOffsets": [[6, 8], [9, 10]],
    }
    again = TimerProgress.from_json(data)
    assert (again.low, again.commit_log_offset) == (4, 800)
    assert [o for o in range(12) if again.is_done(o)] == [0, 1, 2, 3, 6, 7, 9]


@pytest.mark.parametrize(
    "bad", [[], {"timerQueueOffset": 1}, {"timerQueueOffset": "x", "commitLogOffset": 0}]
)
def test_a_bad_checkpoint_is_refused(bad: object) -> None:
    with pytest.raises(CheckpointError):
        TimerProgress.from_json(bad)


def test_retention_skips_the_low_watermark_and_counts_what_it_took() -> None:
    progress = TimerProgress(low=0, done=[(1, 2), (3, 4), (8, 9)])
    assert progress.skip_to(5) == 3  # 0, 2 and 4 were never delivered
    assert progress.low == 5 and progress.is_done(8) and not progress.is_done(6)
    assert progress.skip_to(2) == 0


_steps = st.lists(
    st.tuples(st.sampled_from(["done", "deliver", "store"]), st.integers(0, 40)), max_size=80
)


@given(_steps)
def test_progress_agrees_with_a_plain_set_model(steps: list[tuple[str, int]]) -> None:
    progress = TimerProgress()
    done: set[int] = set()  # the model: offsets done
    waiting: list[tuple[int, int]] = []  # (record end, offset) appended, not yet stored
    log_end = stored_end = 0
    for action, value in steps:
        if action == "done":
            progress.mark_done(value)
            done.add(value)
        elif action == "deliver":
            log_end += 100
            progress.mark_delivered(value, log_end, stored_end)
            waiting.append((log_end, value))
        else:
            stored_end = min(log_end, stored_end + value * 10)
            progress.confirm(stored_end)
        done |= {offset for end, offset in waiting if end <= stored_end}
        waiting = [(end, offset) for end, offset in waiting if end > stored_end]
        assert all(progress.is_done(o) == (o in done) for o in range(45))
        checkpoint = TimerProgress.from_json(progress.checkpoint(stored_end))
        assert all(checkpoint.is_done(o) == (o in done) for o in range(45))


def test_a_checkpoint_from_further_ahead_is_cut_to_this_queue() -> None:
    """A slave that had not received everything its master had when it copied the
    checkpoint: offsets beyond its queue's end will hold other timers."""
    progress = TimerProgress(low=10, done=[(12, 13), (15, 16)])
    progress.limit_to(14)
    assert progress.low == 10 and progress.is_done(12) and not progress.is_done(15)
    ahead = TimerProgress(low=20, done=[(22, 23)])
    ahead.limit_to(13)
    assert ahead.low == 13 and not ahead.is_done(13) and not ahead.is_done(22)
