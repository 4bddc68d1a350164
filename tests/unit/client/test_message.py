import re
import time

from orbitmq.client.message import Message, MessageQueue, create_uniq_id


def test_uniq_id_shape_and_uniqueness() -> None:
    ids = [create_uniq_id() for _ in range(5000)]
    assert all(re.fullmatch(r"[0-9A-F]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    # same process: same 10-byte prefix (ip, pid, random)
    assert len({i[:20] for i in ids}) == 1


def test_uniq_id_time_field_is_ms_since_month_start() -> None:
    now = time.localtime()
    start = time.mktime((now.tm_year, now.tm_mon, 1, 0, 0, 0, 0, 0, -1))
    expected = int((time.time() - start) * 1000)
    diff = int(create_uniq_id()[20:28], 16)
    assert abs(diff - expected) < 5000


def test_message_queue_is_ordered_and_hashable() -> None:
    a = MessageQueue("T", "b", 2)
    assert sorted([a, MessageQueue("T", "a", 9), MessageQueue("S", "z", 0)]) == [
        MessageQueue("S", "z", 0),
        MessageQueue("T", "a", 9),
        a,
    ]
    assert {a: 1}[MessageQueue("T", "b", 2)] == 1


def test_message_accepts_str_body_and_key_lists() -> None:
    msg = Message("T", "héllo", keys=("a", "", "b"))  # type: ignore[arg-type]
    assert msg.body == "héllo".encode()
    assert msg.keys_text == "a b"
    assert Message("T", b"x").keys_text is None
