"""Consume queues: dense offsets, unit bytes, segment roll, gaps, lookups by time."""

from __future__ import annotations

import asyncio
import os
import struct
import time as time_module
from pathlib import Path

import pytest

from orbitmq.protocol.message import tags_code
from orbitmq.store import MessageStore, MessageStoreConfig
from orbitmq.store.consume_queue import ConsumeQueue
from orbitmq.store.layout import CQ_FILL_SIZE

from .conftest import make_msg, put_all


async def test_queue_offsets_are_dense_per_queue(store: MessageStore) -> None:
    msgs = [make_msg(topic=f"T{i % 2}", queue_id=i % 3, body=bytes([i])) for i in range(60)]
    await put_all(store, msgs)
    seen: dict[tuple[str, int], list[int]] = {}
    for msg in msgs:
        seen.setdefault((msg.topic, msg.queue_id), []).append(msg.queue_offset)
    for (topic, queue_id), offsets in seen.items():
        assert offsets == list(range(len(offsets)))
        assert store.get_max_offset_in_queue(topic, queue_id) == len(offsets)
        assert store.get_min_offset_in_queue(topic, queue_id) == 0
    assert store.topic_queue_ids() == {"T0": {0, 1, 2}, "T1": {0, 1, 2}}


async def test_units_on_disk(store: MessageStore, config: MessageStoreConfig) -> None:
    msgs = [make_msg(queue_id=2, tags="TagA" if i % 2 else None) for i in range(25)]
    offsets = await put_all(store, msgs)
    directory = os.path.join(config.consume_queue_dir, "TopicTest", "2")
    names = sorted(os.listdir(directory))
    assert names == ["00000000000000000000", "00000000000000000200", "00000000000000000400"]
    units = b""
    for name in names:
        with open(os.path.join(directory, name), "rb") as fh:
            units += fh.read()
    for i, msg in enumerate(msgs):
        assert struct.unpack_from(">qiq", units, i * 20) == (
            offsets[i],
            msg.store_size,
            tags_code("TagA") if i % 2 else 0,
        )
    assert units[25 * 20 :] == bytes(len(units) - 25 * 20)


async def test_reput_is_prompt_and_notifies_arrival(store: MessageStore) -> None:
    arrivals: list[tuple[str, int, int]] = []
    store.set_message_arrival_listener(lambda t, q, o: arrivals.append((t, q, o)))
    result = await store.put_message(make_msg(queue_id=1))
    assert result.is_ok
    for _ in range(2):
        await asyncio.sleep(0)  # one turn for the reput task, no polling
    assert store.get_message("TopicTest", 1, 0, 1).message_count == 1
    assert arrivals == [("TopicTest", 1, 1)]
    # Several puts in one turn: one notification per queue with the newest offset.
    for _ in range(3):
        await store.put_message(make_msg(queue_id=1))
    await store.wait_dispatched(store.get_commit_log_max_offset())
    assert arrivals[-1] == ("TopicTest", 1, 4)
    assert store.statistics().dispatch_behind_bytes == 0


async def test_listener_errors_do_not_stop_dispatch(store: MessageStore) -> None:
    def broken(topic: str, queue_id: int, offset: int) -> None:
        raise RuntimeError("listener bug")

    store.set_message_arrival_listener(broken)
    await put_all(store, [make_msg(), make_msg()])
    assert store.get_max_offset_in_queue("TopicTest", 0) == 2


def test_put_unit_is_idempotent_and_fills_gaps(tmp_path: Path) -> None:
    cq = ConsumeQueue("T", 0, str(tmp_path), 200)
    assert cq.put_unit(0, 100, 0, 0)
    assert not cq.put_unit(0, 100, 0, 0)  # replay
    assert cq.put_unit(100, 100, 0, 1)
    assert cq.max_offset == 2
    # A queue that starts mid-stream: fill units before the first real one.
    late = ConsumeQueue("T", 1, str(tmp_path), 200)
    assert late.put_unit(5000, 100, 7, 23)
    assert late.max_offset == 24
    assert late.min_offset == 23
    assert late.read_unit(20) == (0, CQ_FILL_SIZE, 0)
    assert late.read_unit(23) == (5000, 100, 7)
    assert late.queue.files[0].file_from_offset == 400
    cq.close()
    late.close()


async def test_offset_by_time(store: MessageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000]
    monkeypatch.setattr(time_module, "time_ns", lambda: clock[0] * 1_000_000)
    for stamp in (1000, 2000, 2000, 3000, 5000):
        clock[0] = 1_000_000 + stamp
        await store.put_message(make_msg())
    await store.wait_dispatched(store.get_commit_log_max_offset())
    base = 1_000_000

    def lookup(t: int) -> int:
        return store.get_offset_in_queue_by_time("TopicTest", 0, base + t)

    assert lookup(2000) == 1  # first exact match
    assert lookup(500) == 0  # before everything
    assert lookup(1000) == 0
    assert lookup(2400) == 2  # nearer to 2000 than to 3000
    assert lookup(2600) == 3
    assert lookup(4000) == 3  # tie: the earlier neighbour
    assert lookup(9000) == 4  # after everything: the last message (4.x)
    assert store.get_offset_in_queue_by_time("Nope", 0, base) == 0
    assert store.get_earliest_message_time("TopicTest", 0) == base + 1000
    assert store.get_earliest_message_time("Nope", 0) == -1
    assert store.get_message_store_timestamp("TopicTest", 0, 3) == base + 3000
    assert store.get_message_store_timestamp("TopicTest", 0, 5) == -1


async def test_delete_topics(store: MessageStore, config: MessageStoreConfig) -> None:
    await put_all(store, [make_msg(topic="A"), make_msg(topic="B"), make_msg(topic="A")])
    store.delete_topics({"A"})
    assert store.topic_queue_ids() == {"B": {0}}
    assert not os.path.exists(os.path.join(config.consume_queue_dir, "A"))
    assert store.get_max_offset_in_queue("A", 0) == 0
    # The topic can come back; offsets start again at 0.
    await put_all(store, [make_msg(topic="A")])
    assert store.get_max_offset_in_queue("A", 0) == 1
    got = store.get_message("A", 0, 0, 10)
    assert got.message_count == 1
