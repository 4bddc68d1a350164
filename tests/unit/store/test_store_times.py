"""Put and get times in GET_BROKER_RUNTIME_INFO (StoreStatsService.java): the 13
putMessageDistributeTime buckets, the longest put and get, the last minute's window,
and the found/miss get counters behind getFoundTps and getMissTps."""

from __future__ import annotations

import asyncio
import time

import pytest

from orbitmq.store import MessageStore
from orbitmq.store import stats as store_stats
from orbitmq.store.stats import (
    PUT_TIME_BUCKETS,
    StoreTimes,
    TpsSampler,
    put_distribution_text,
)

from .conftest import make_msg, put_all


@pytest.mark.parametrize(
    ("elapsed_ms", "bucket"),
    [
        (0, "[<=0ms]"),
        (1, "[0~10ms]"),
        (9, "[0~10ms]"),
        (10, "[10~50ms]"),
        (49, "[10~50ms]"),
        (50, "[50~100ms]"),
        (199, "[100~200ms]"),
        (200, "[200~500ms]"),
        (999, "[500ms~1s]"),
        (1000, "[1~2s]"),
        (2500, "[2~3s]"),
        (3000, "[3~4s]"),
        (4999, "[4~5s]"),
        (9999, "[5~10s]"),
        (10_000, "[10s~]"),
        (86_400_000, "[10s~]"),
    ],
)
def test_put_time_buckets_are_rocketmqs(
    monkeypatch: pytest.MonkeyPatch, elapsed_ms: int, bucket: str
) -> None:
    monkeypatch.setattr(store_stats, "tick_ms", lambda: 100_000)
    times = StoreTimes()
    times.note_put(100_000 - elapsed_ms, 3)  # a batch of 3: its time counts 3 times
    assert times.put_distribution == [3 if b == bucket else 0 for b in PUT_TIME_BUCKETS]
    assert times.put_max_ms == elapsed_ms


def test_longest_put_and_get_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_stats, "tick_ms", lambda: 1000)
    times = StoreTimes()
    for elapsed in (4, 70, 12):
        times.note_put(1000 - elapsed, 1)
        times.note_get(1000 - elapsed * 2)
    assert (times.put_max_ms, times.get_max_ms) == (70, 140)


def test_distribution_text_is_rocketmqs() -> None:
    text = put_distribution_text([5, 1] + [0] * 10 + [2])
    assert text == (
        "[<=0ms]:5 [0~10ms]:1 [10~50ms]:0 [50~100ms]:0 [100~200ms]:0 [200~500ms]:0 "
        "[500ms~1s]:0 [1~2s]:0 [2~3s]:0 [3~4s]:0 [4~5s]:0 [5~10s]:0 [10s~]:2 "
    )


def test_recent_is_the_growth_over_the_window() -> None:
    counters = [0, 0]
    sampler = TpsSampler(lambda: tuple(counters))
    sampler.sample(now=0.0)
    counters[:] = [5, 7]
    # Younger than the window: everything since the counters started.
    assert sampler.recent(0, 2, 60, now=30.0) == [5, 7]
    sampler.sample(now=30.0)
    counters[:] = [9, 8]
    sampler.sample(now=61.0)
    counters[:] = [10, 8]
    assert sampler.recent(0, 2, 60, now=61.0) == [10, 8]  # 0 s is 61 s old
    assert sampler.recent(0, 2, 60, now=95.0) == [5, 1]  # since the 30 s snapshot
    assert sampler.recent(1, 2, 60, now=95.0) == [1]


async def test_store_counts_every_stored_message_by_put_time(store: MessageStore) -> None:
    await put_all(store, [make_msg(body=b"a" * 100) for _ in range(7)])
    assert (await store.put_messages([make_msg(body=b"b" * 50) for _ in range(5)])).is_ok
    info = store.runtime_info()
    counts = [int(pair.split(":")[1]) for pair in info["putMessageDistributeTime"].split()]
    assert len(counts) == len(PUT_TIME_BUCKETS)
    assert sum(counts) == int(info["putMessageTimesTotal"]) == 12
    assert int(info["putMessageEntireTimeMax"]) >= 0
    assert info["getMessageEntireTimeMax"] == "0"


async def test_found_and_missed_gets_are_counted(store: MessageStore) -> None:
    await put_all(store, [make_msg() for _ in range(4)])
    for offset in (0, 2, 4, 9):  # two find messages (4 + 2 of them), two find none
        store.get_message("TopicTest", 0, offset, 32).release()
    store.get_message("NoSuchTopic", 0, 0, 32).release()  # a miss too
    deadline = time.monotonic() + 3
    while (info := store.runtime_info())["getTotalTps"] == "0.00 0.00 0.00":
        assert time.monotonic() < deadline, "the store sampled no gets"
        await asyncio.sleep(0.05)  # the store samples its counters once a second
    # All rates share one time span, so they stand as the counts do: 2 : 3 : 5 : 6.
    found, missed, total, got = (
        float(info[key].split()[0])
        for key in ("getFoundTps", "getMissTps", "getTotalTps", "getTransferredTps")
    )
    assert found > 0 and missed > 0
    assert found * 3 == pytest.approx(missed * 2, abs=0.03)
    assert total == pytest.approx(found + missed, abs=0.011)
    assert got == pytest.approx(found * 3, abs=0.03)
    assert info["getTransferedTps"] == info["getTransferredTps"]
    assert all(len(info[key].split()) == 3 for key in ("getFoundTps", "getMissTps"))
