"""Delay levels: parsing, the put hook, the delivered message, and the schedule service
against a real MessageStore (small segments, one event loop)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from orbitmq.broker.errors import MessageIllegalError
from orbitmq.broker.schedule import (
    _PASS_BUDGET,
    ScheduleMessageService,
    delay_level_of,
    due_time,
    message_from_schedule,
    park_delayed,
    parse_delay_levels,
)
from orbitmq.broker.topic_config import SCHEDULE_TOPIC
from orbitmq.config_file import ConfigError
from orbitmq.protocol.message import MessageConst, MessageExt, SysFlag, decode_record
from orbitmq.store import MessageStore, MessageStoreConfig
from orbitmq.store.results import AppendMessageResult

DEFAULT = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"


def make_msg(topic: str = "Orders", queue_id: int = 2, **properties: str) -> MessageExt:
    return MessageExt(
        topic=topic,
        body=b"payload",
        properties={"TAGS": "TagA", "UNIQ_KEY": "AC1100020000", **properties},
        queue_id=queue_id,
        flag=7,
        born_timestamp=1_700_000_000_000,
        born_host=("10.0.0.1", 50000),
        store_host=("127.0.0.1", 10911),
        reconsume_times=2,
    )


# --------------------------------------------------------------------------- pure core


def test_default_levels_parse_to_rocketmq_delays() -> None:
    delays = parse_delay_levels(DEFAULT)
    assert len(delays) == 18
    assert delays[:4] == [1000, 5000, 10_000, 30_000]
    assert delays[4] == 60_000 and delays[13] == 600_000
    assert delays[-2:] == [3_600_000, 7_200_000]
    assert parse_delay_levels("1s  2d") == [1000, 2 * 86_400_000]


@pytest.mark.parametrize("text", ["", "1s 5x", "1.5s", "s", "-1s", "1S"])
def test_bad_delay_levels_are_a_config_error_naming_the_key(text: str) -> None:
    with pytest.raises(ConfigError, match="messageDelayLevel"):
        parse_delay_levels(text)


def test_delay_level_property() -> None:
    assert delay_level_of({}) == 0
    assert delay_level_of({"DELAY": "3"}) == 3
    with pytest.raises(MessageIllegalError, match="DELAY"):
        delay_level_of({"DELAY": "soon"})


def test_park_rewrites_topic_and_queue_and_saves_the_real_ones() -> None:
    msg = make_msg(DELAY="3")
    assert park_delayed(msg, 18)
    assert (msg.topic, msg.queue_id) == (SCHEDULE_TOPIC, 2)
    assert msg.properties[MessageConst.REAL_TOPIC] == "Orders"
    assert msg.properties[MessageConst.REAL_QID] == "2"
    assert msg.properties["DELAY"] == "3"


def test_level_above_max_is_clamped_to_max() -> None:
    msg = make_msg(DELAY="99")
    assert park_delayed(msg, 18)
    assert msg.queue_id == 17 and msg.properties["DELAY"] == "18"


@pytest.mark.parametrize("delay", [None, "0", "-2"])
def test_no_delay_is_not_parked(delay: str | None) -> None:
    msg = make_msg() if delay is None else make_msg(DELAY=delay)
    assert not park_delayed(msg, 18)
    assert msg.topic == "Orders"


def test_half_and_rollback_messages_are_not_parked_but_commits_are() -> None:
    for sys_flag, parked in (
        (SysFlag.TRANSACTION_PREPARED, False),
        (SysFlag.TRANSACTION_ROLLBACK, False),
        (SysFlag.TRANSACTION_COMMIT, True),
    ):
        msg = make_msg(DELAY="1")
        msg.sys_flag = sys_flag
        assert park_delayed(msg, 18) is parked


def test_delivered_message_is_the_original_minus_delay() -> None:
    msg = make_msg(DELAY="2", KEYS="k1 k2")
    park_delayed(msg, 18)
    out = message_from_schedule(msg)
    assert out is not None
    assert (out.topic, out.queue_id) == ("Orders", 2)
    assert "DELAY" not in out.properties
    assert out.properties["UNIQ_KEY"] == "AC1100020000"  # same message id
    assert out.properties["KEYS"] == "k1 k2"
    assert (out.body, out.flag, out.reconsume_times) == (b"payload", 7, 2)
    assert out.born_timestamp == msg.born_timestamp and out.born_host == msg.born_host


def test_a_parked_message_without_real_topic_is_not_delivered() -> None:
    assert message_from_schedule(make_msg(topic=SCHEDULE_TOPIC)) is None


def test_due_time_guards_against_the_clock_going_back() -> None:
    assert due_time(1000, 5000, now_ms=2000) == 6000
    # stored "in the future" (clock stepped back by an hour): deliver now
    assert due_time(3_600_000, 5000, now_ms=0) == 0


# --------------------------------------------------------------------------- the service


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = MessageStoreConfig(
        str(tmp_path / "store"),
        mapped_file_size_commit_log=1 << 20,
        mapped_file_size_consume_queue=20 * 1000,
    )
    store = MessageStore(config)
    await store.start()
    try:
        yield store
    finally:
        await store.aclose()


def _put_delayed(store: MessageStore, level: int, body: bytes, max_level: int = 3) -> None:
    msg = make_msg(DELAY=str(level))
    msg.body = body
    assert park_delayed(msg, max_level)
    assert store.append_messages([msg]).is_ok


async def _bodies(store: MessageStore, topic: str = "Orders", queue_id: int = 2) -> list[bytes]:
    await store.wait_dispatched(store.get_commit_log_max_offset())
    result = store.get_message(topic, queue_id, 0, 100)
    try:
        return [decode_record(b).body for b in result.buffers]
    finally:
        result.release()


async def _wait(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_deliver_due_moves_only_due_messages(store: MessageStore, tmp_path: Path) -> None:
    service = ScheduleMessageService(store, "1s 2s 3s", str(tmp_path))
    service.load()
    _put_delayed(store, 1, b"a")
    _put_delayed(store, 3, b"c")
    await store.wait_dispatched(store.get_commit_log_max_offset())
    now = time.time_ns() // 1_000_000
    next_due, busy = service.deliver_due(now)
    assert not busy and await _bodies(store) == []
    assert next_due is not None and now < next_due <= now + 1000
    next_due, _ = service.deliver_due(now + 1500)
    assert await _bodies(store) == [b"a"]
    assert service.offset_table[1] == 1 and service.offset_table[3] == 0
    assert next_due is not None and next_due > now + 1500
    service.deliver_due(now + 3500)
    assert await _bodies(store) == [b"a", b"c"]
    assert service.offset_table == {1: 1, 2: 0, 3: 1}


async def test_service_delivers_on_time_and_persists_progress(
    store: MessageStore, tmp_path: Path
) -> None:
    service = ScheduleMessageService(store, "1s 2s 3s", str(tmp_path), flush_interval_ms=50)
    service.load()
    store.set_message_arrival_listener(
        lambda topic, queue_id, _offset: (
            service.on_message_arrival(queue_id) if topic == SCHEDULE_TOPIC else None
        )
    )
    tasks = [
        asyncio.create_task(service.schedule_service()),
        asyncio.create_task(service.persist_service()),
    ]
    try:
        await asyncio.sleep(0.05)  # the service is idle: every level caught up
        sent = time.monotonic()
        _put_delayed(store, 1, b"x")

        async def delivered() -> bool:
            return await _bodies(store) == [b"x"]

        await _wait(delivered, timeout=3)
        late = time.monotonic() - sent - 1.0
        assert -0.01 < late < 0.2, f"delivered {late * 1000:.0f} ms late"

        async def persisted() -> bool:
            return (tmp_path / "config" / "delayOffset.json").exists()

        await _wait(persisted)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    data = json.loads((tmp_path / "config" / "delayOffset.json").read_text())
    assert data["offsetTable"]["1"] == 1


async def test_load_accepts_unquoted_keys_and_clamps_offsets(
    store: MessageStore, tmp_path: Path
) -> None:
    _put_delayed(store, 2, b"y")
    await store.wait_dispatched(store.get_commit_log_max_offset())
    path = tmp_path / "config" / "delayOffset.json"
    path.parent.mkdir(parents=True)
    path.write_text('{\n\t"offsetTable":{1:5,2:0,3:-4}\n}')  # fastjson's own style
    service = ScheduleMessageService(store, "1s 2s 3s", str(tmp_path))
    service.load()
    assert service.offset_table == {1: 0, 2: 0, 3: 0}  # 5 > max 0 and -4 < min 0
    service.persist()
    assert json.loads(path.read_text()) == {"offsetTable": {"1": 0, "2": 0, "3": 0}}


async def test_a_backlog_is_delivered_in_order_across_passes(
    store: MessageStore, tmp_path: Path
) -> None:
    service = ScheduleMessageService(store, "1s", str(tmp_path))
    service.load()
    total = 2 * _PASS_BUDGET + 52
    for i in range(total):
        _put_delayed(store, 1, b"m%d" % i, max_level=1)
    await store.wait_dispatched(store.get_commit_log_max_offset())
    later = time.time_ns() // 1_000_000 + 2000
    _, busy = service.deliver_due(later)
    assert busy  # the pass budget ran out: the task yields to the loop and goes on
    assert service.offset_table[1] == _PASS_BUDGET
    passes = 1
    while busy:
        _, busy = service.deliver_due(later)
        passes += 1
    assert passes == 3 and service.offset_table[1] == total
    assert [b.decode() for b in await _bodies(store)][:3] == ["m0", "m1", "m2"]
    await store.wait_dispatched(store.get_commit_log_max_offset())
    assert store.get_max_offset_in_queue("Orders", 2) == total


class _HeldLog:
    """A ReplicatedLog that commits only when told: proposals reach the commit log
    (through MessageStore.append_committed, as DLedger's apply does) at commit_all()."""

    def __init__(self, store: MessageStore) -> None:
        self._store = store
        self._end = store.get_commit_log_max_offset()
        self._held: list[tuple[int, bytes]] = []

    def append(self, msgs: list[MessageExt], properties: list[str]) -> AppendMessageResult:
        laid = self._store.commit_log.lay_out(msgs, properties, self._end)
        self._store.commit_log.commit_laid_out(msgs, laid)
        self._end = laid.physical + len(laid.data)
        self._held.append((laid.physical, bytes(laid.data)))
        return laid.result

    def on_committed(self, appended: AppendMessageResult, callback: object) -> None:
        raise AssertionError("the schedule service does not wait for commits")

    def commit_all(self) -> None:
        for offset, data in self._held:
            self._store.append_committed(offset, data)
        self._held.clear()


async def test_reported_offsets_wait_for_deliveries_to_be_committed(
    store: MessageStore, tmp_path: Path
) -> None:
    """DLedger mode: a follower copies the delay offsets every second. An offset past a
    delivery that is proposed but not committed would, after a failover, skip a message
    that never reached the commit log; so the reported offset waits for the commit."""
    service = ScheduleMessageService(store, "1s 2s 3s", str(tmp_path))
    service.load()
    _put_delayed(store, 1, b"a")
    await store.wait_dispatched(store.get_commit_log_max_offset())
    held = _HeldLog(store)
    store.replicated_log = held
    service.deliver_due(time.time_ns() // 1_000_000 + 1500)
    assert service.offset_table[1] == 1  # the service itself goes on
    assert service.to_json()["offsetTable"][1] == 0
    service.persist()
    assert (
        json.loads((tmp_path / "config" / "delayOffset.json").read_text())["offsetTable"]["1"] == 0
    )
    held.commit_all()
    assert service.to_json()["offsetTable"] == {1: 1, 2: 0, 3: 0}
    store.replicated_log = None
    assert await _bodies(store) == [b"a"]
