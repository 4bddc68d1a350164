from orbitmq.client.consumer.process_queue import ProcessQueue
from orbitmq.protocol.message import MessageExt


def msgs(*offsets: int) -> list[MessageExt]:
    return [MessageExt("T", b"x", queue_offset=o) for o in offsets]


def test_empty_queue_has_no_offset() -> None:
    pq = ProcessQueue()
    assert pq.commit_offset() == -1
    assert pq.remove([]) == -1
    assert pq.count == 0


def test_in_order_consumption() -> None:
    pq = ProcessQueue()
    batch = msgs(10, 11, 12)
    pq.put(batch)
    assert pq.count == 3
    assert pq.remove(batch[:1]) == 11
    assert pq.remove(batch[1:2]) == 12
    assert pq.remove(batch[2:]) == 13
    assert pq.count == 0


def test_out_of_order_keeps_lowest_unconsumed() -> None:
    pq = ProcessQueue()
    batch = msgs(0, 1, 2, 3, 4)
    pq.put(batch)
    assert pq.remove([batch[3]]) == 0
    assert pq.remove([batch[1]]) == 0
    assert pq.remove([batch[0]]) == 2
    assert pq.remove([batch[4]]) == 2
    assert pq.remove([batch[2]]) == 5


def test_later_pull_while_some_in_flight() -> None:
    pq = ProcessQueue()
    first, second = msgs(0, 1), msgs(2, 3)
    pq.put(first)
    pq.put(second)
    assert pq.remove(second) == 0
    assert pq.span == 3
    assert pq.remove(first) == 4
    assert pq.span == 0


def test_advance_covers_filtered_offsets() -> None:
    pq = ProcessQueue()
    batch = msgs(5, 6)
    pq.advance(10)  # the broker scanned 5..9; 7..9 were filtered out
    pq.put(batch)
    assert pq.remove([batch[0]]) == 6
    assert pq.remove([batch[1]]) == 10


def test_advance_alone() -> None:
    pq = ProcessQueue()
    pq.advance(0)
    assert pq.commit_offset() == -1
    pq.advance(42)
    assert pq.commit_offset() == 42


def test_duplicate_put_is_ignored_and_unknown_remove_is_harmless() -> None:
    pq = ProcessQueue()
    batch = msgs(1, 2)
    pq.put(batch)
    pq.put(msgs(2))
    assert pq.count == 2
    assert pq.remove(msgs(99)) == 1
    assert pq.max_offset == 2


def test_take_hands_out_the_lowest_offsets_first() -> None:
    pq = ProcessQueue()
    batch = msgs(10, 11, 12, 13)
    pq.put(batch)
    assert [m.queue_offset for m in pq.take(2)] == [10, 11]
    assert pq.count == 4  # still in flight
    assert pq.remove(batch[:2]) == 12
    assert [m.queue_offset for m in pq.take(5)] == [12, 13]


def test_lock_state_expires_thirty_seconds_after_the_last_lock() -> None:
    pq = ProcessQueue()
    assert not pq.lock_valid(0.0)
    pq.mark_locked(100.0)
    assert pq.lock_valid(130.0)
    assert not pq.lock_valid(130.5)
    pq.mark_locked(90.0)  # an older answer arriving late does not move the time back
    assert pq.last_lock_time == 100.0
    pq.locked = False
    assert not pq.lock_valid(101.0)
