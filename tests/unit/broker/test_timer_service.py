"""The timer service against a real MessageStore (small segments, one event loop):
delivery on time, and recovery that neither loses a timer nor delivers one twice, from
a checkpoint, an old one, none, or one that counted a DLedger proposal too early."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from orbitmq.broker.config import BrokerConfig, load_broker_config
from orbitmq.broker.timer import TIMER_TOPIC, TimerMessageService
from orbitmq.broker.timer.progress import CheckpointError
from orbitmq.broker.timer.service import _DELIVER_BUDGET
from orbitmq.protocol.message import MessageExt, decode_record
from orbitmq.store import MessageStore, MessageStoreConfig
from orbitmq.store.results import AppendMessageResult

TOPIC = "Orders"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


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


def broker_config(tmp_path: Path, **keys: str) -> BrokerConfig:
    return load_broker_config(
        overrides={"brokerName": "b1", "storePathRootDir": str(tmp_path), **keys}
    )


def put_timer(service: TimerMessageService, store: MessageStore, body: bytes, at_ms: int) -> None:
    msg = MessageExt(
        topic=TOPIC,
        body=body,
        properties={"UNIQ_KEY": body.decode(), "TIMER_DELIVER_MS": str(at_ms)},
        queue_id=1,
    )
    assert service.park(msg, prepared=False)
    assert store.append_messages([msg]).is_ok


async def delivered(store: MessageStore) -> list[MessageExt]:
    await store.wait_dispatched(store.get_commit_log_max_offset())
    out: list[MessageExt] = []
    while True:
        result = store.get_message(TOPIC, 1, len(out), 32)
        try:
            if not result.buffers:
                return out
            out.extend(decode_record(b) for b in result.buffers)
        finally:
            result.release()


async def bodies(store: MessageStore) -> Counter[bytes]:
    return Counter(m.body for m in await delivered(store))


def through(t0: int, i: int) -> int:
    """A time by which m1 .. m<i> are due and m<i+1> is not: with 1 s slots, m<i> is
    delivered within [t0 + i s, t0 + (i + 1) s)."""
    return t0 + (i + 1) * 1000 - 1


async def six_timers(tmp_path: Path, store: MessageStore) -> tuple[TimerMessageService, int]:
    """A recovered service with timers asking for t0 + 1 s .. t0 + 6 s; returns t0."""
    service = TimerMessageService(store, broker_config(tmp_path))
    t0 = now_ms()
    for i in range(1, 7):
        put_timer(service, store, b"m%d" % i, t0 + i * 1000)
    await store.wait_dispatched(store.get_commit_log_max_offset())
    await service.recover()
    service.deliver_due(t0)  # takes the six units in
    assert service.pending_count == 6
    return service, t0


async def test_a_timer_is_delivered_on_time_by_the_task(
    store: MessageStore, tmp_path: Path
) -> None:
    service = TimerMessageService(store, broker_config(tmp_path, timerPrecisionMs="100"))
    store.set_message_arrival_listener(
        lambda topic, _q, _o: service.on_message_arrival() if topic == TIMER_TOPIC else None
    )
    task = asyncio.create_task(service.timer_service())
    try:
        await asyncio.sleep(0.05)  # recovered, idle
        due = now_ms() + 700
        put_timer(service, store, b"x", due)
        deadline = time.monotonic() + 3
        while not await delivered(store):
            assert time.monotonic() < deadline, "not delivered"
            await asyncio.sleep(0.005)
        late = now_ms() - due
        assert 0 <= late < 150, f"delivered {late} ms late"
        assert (await delivered(store))[0].store_timestamp >= due
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # stopping wrote the checkpoint: the one unit is done
    data = json.loads((tmp_path / "config" / "timercheck.json").read_text())
    assert data["timerQueueOffset"] == 1 and data["deliveredOffsets"] == []
    assert service.checkpoint() is None  # no longer delivering


async def test_a_restart_delivers_each_timer_once(store: MessageStore, tmp_path: Path) -> None:
    service, t0 = await six_timers(tmp_path, store)
    service.deliver_due(through(t0, 2))  # m1, m2
    service.persist()
    service.deliver_due(through(t0, 4))  # m3, m4: after the checkpoint, then a crash
    assert await bodies(store) == Counter({b"m1": 1, b"m2": 1, b"m3": 1, b"m4": 1})

    again = TimerMessageService(store, broker_config(tmp_path))
    await again.recover()
    assert again.pending_count == 2  # m3 and m4 were found delivered in the commit log
    again.deliver_due(through(t0, 6))
    assert await bodies(store) == Counter(b"m%d" % i for i in range(1, 7))


@pytest.mark.parametrize("checkpoint", ["none", "old", "corrupt"])
async def test_recovery_without_a_current_checkpoint_is_exact_too(
    store: MessageStore, tmp_path: Path, checkpoint: str
) -> None:
    service, t0 = await six_timers(tmp_path, store)
    path = tmp_path / "config" / "timercheck.json"
    service.persist()  # before anything was delivered
    old = path.read_bytes()
    service.deliver_due(through(t0, 1))
    service.deliver_due(through(t0, 3))
    service.persist()
    if checkpoint == "none":
        path.unlink()
        os.unlink(str(path) + ".bak")
    elif checkpoint == "old":
        path.write_bytes(old)
    else:
        path.write_text('{"timerQueueOffset": "x"}')
    again = TimerMessageService(store, broker_config(tmp_path))
    await again.recover()
    assert again.pending_count == 3
    again.deliver_due(through(t0, 6))
    assert await bodies(store) == Counter(b"m%d" % i for i in range(1, 7))


async def test_a_copy_carrying_the_origin_with_another_enqueue_time_does_not_count(
    store: MessageStore, tmp_path: Path
) -> None:
    service, _ = await six_timers(tmp_path, store)
    service.persist()
    unit = store.get_message(TIMER_TOPIC, 0, 0, 1)
    parked = decode_record(unit.buffers[0])
    unit.release()
    forged = MessageExt(
        topic="Elsewhere",
        body=b"copy",
        properties={
            "TIMER_ORIGIN_OFFSET": str(parked.commit_log_offset),
            "TIMER_ENQUEUE_MS": str(parked.store_timestamp + 1),
        },
    )
    assert store.append_messages([forged]).is_ok
    again = TimerMessageService(store, broker_config(tmp_path))
    await again.recover()
    assert again.pending_count == 6


async def test_a_unit_that_is_no_timer_is_dropped_and_passed(
    store: MessageStore, tmp_path: Path
) -> None:
    stray = MessageExt(topic=TIMER_TOPIC, body=b"stray", properties={"REAL_TOPIC": TOPIC})
    assert store.append_messages([stray]).is_ok
    service, t0 = await six_timers(tmp_path, store)
    service.deliver_due(through(t0, 6))
    checkpoint = service.checkpoint()
    assert checkpoint is not None and checkpoint["timerQueueOffset"] == 7
    assert sum((await bodies(store)).values()) == 6


async def test_a_backlog_is_delivered_across_passes(store: MessageStore, tmp_path: Path) -> None:
    service = TimerMessageService(store, broker_config(tmp_path))
    t0 = now_ms()
    total = _DELIVER_BUDGET + 40
    for i in range(total):
        put_timer(service, store, b"b%d" % i, t0 + 1000)
    await store.wait_dispatched(store.get_commit_log_max_offset())
    await service.recover()
    assert service.deliver_due(t0 + 3000)  # the budget ran out
    assert not service.deliver_due(t0 + 3000)
    assert sum((await bodies(store)).values()) == total


class _HeldLog:
    """A ReplicatedLog that commits only when told (as test_schedule's)."""

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

    def commit_all(self) -> None:
        for offset, data in self._held:
            self._store.append_committed(offset, data)
        self._held.clear()


@pytest.mark.parametrize("committed", [True, False])
async def test_a_new_leader_delivers_a_lost_proposal_and_not_a_committed_one(
    store: MessageStore, tmp_path: Path, committed: bool
) -> None:
    """DLedger mode: followers copy the checkpoint every second. A delivery counts in it
    only once committed; a new leader recovering from a copy taken before that finds the
    delivery in its log if the group committed it, and delivers the timer again if not."""
    service, t0 = await six_timers(tmp_path, store)
    held = _HeldLog(store)
    store.replicated_log = held  # type: ignore[assignment]
    service.deliver_due(through(t0, 1))  # m1's delivery proposed
    copied = service.checkpoint()
    assert copied is not None and copied["timerQueueOffset"] == 0
    if committed:
        held.commit_all()
        after = service.checkpoint()
        assert after is not None and after["timerQueueOffset"] == 1
    else:  # a new leader takes its queue offsets from the log, without the proposal
        store.commit_log.topic_queue_table[(TOPIC, 1)] = 0
    store.replicated_log = None

    follower = TimerMessageService(store, broker_config(tmp_path / "follower"))
    follower.replace_checkpoint(copied)
    await follower.recover()
    assert follower.pending_count == (5 if committed else 6)
    follower.deliver_due(through(t0, 6))
    assert await bodies(store) == Counter(b"m%d" % i for i in range(1, 7))


def test_a_copied_checkpoint_is_checked_before_it_is_written(tmp_path: Path) -> None:
    service = TimerMessageService(None, broker_config(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(CheckpointError):
        service.replace_checkpoint({"timerQueueOffset": 3})
    assert not (tmp_path / "config" / "timercheck.json").exists()
    service.replace_checkpoint({"timerQueueOffset": 3, "commitLogOffset": 9})
    assert service.load_checkpoint().low == 3
