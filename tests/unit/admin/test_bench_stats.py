"""Pure parts of `orbitmq bench`: histogram, reports, budget, /proc parsing, bodies."""

from __future__ import annotations

import os
import random

import pytest

from orbitmq.bench.common import Budget, make_body
from orbitmq.bench.cpu import CpuUsage, parse_proc_stat_ticks, read_cpu_seconds
from orbitmq.bench.producer import ProducerBench, ProducerConfig
from orbitmq.bench.stats import (
    ConsumeStats,
    LatencyHistogram,
    SendStats,
    bucket_of,
    bucket_upper,
)


def test_buckets_are_contiguous_and_tight() -> None:
    previous_upper = -1
    for index in range(bucket_of(10**9) + 1):
        upper = bucket_upper(index)
        assert upper > previous_upper
        previous_upper = upper
    for value in [0, 1, 63, 64, 65, 127, 128, 1000, 12_345, 999_999, 10**8]:
        index = bucket_of(value)
        assert bucket_upper(index - 1) < value <= bucket_upper(index) if index else value == 0
        assert bucket_upper(index) - value <= value / 32 + 1


def test_histogram_percentiles_within_bucket_error() -> None:
    rng = random.Random(7)
    values = [rng.randrange(50, 200_000) for _ in range(20_000)]
    hist = LatencyHistogram()
    for v in values:
        hist.record(v)
    ordered = sorted(values)
    for q in (0.5, 0.9, 0.99):
        exact = ordered[int(q * len(ordered)) - 1]
        assert abs(hist.percentile(q) - exact) <= exact / 32 + 2
    assert hist.max == max(values)
    assert hist.mean() == pytest.approx(sum(values) / len(values))
    assert LatencyHistogram().percentile(0.99) == 0


def test_send_stats_interval_and_summary() -> None:
    stats = SendStats(now=100.0)
    for rt in (1000, 2000, 3000):
        stats.record_ok(rt)
    stats.record_ok(4000, messages=10)  # one batch request of 10
    stats.record_send_failed()
    stats.record_response_failed(2)
    first = stats.snapshot(now=102.0)
    assert first.messages == 13 and first.tps == pytest.approx(6.5)
    assert first.rt.max_ms == pytest.approx(4.0)
    assert first.rt.avg_ms == pytest.approx(2.5)
    assert (first.send_failed, first.response_failed) == (1, 2)
    line = first.line()
    assert line.startswith("Send TPS: 6 Max RT(ms): 4.000 Average RT(ms):   2.500 p99 RT(ms): ")
    assert line.endswith("Send Failed: 1 Response Failed: 2")
    second = stats.snapshot(now=103.0)
    assert second.messages == 0 and second.send_failed == 0
    total = stats.summary(now=104.0)
    assert total.messages == 13 and total.tps == pytest.approx(13 / 4)
    assert total.to_json()["send_failed"] == 1


def test_consume_stats_line() -> None:
    stats = ConsumeStats(now=0.0)
    stats.record(b2c_ms=10, s2c_ms=4)
    stats.record(b2c_ms=30, s2c_ms=6)
    report = stats.snapshot(now=1.0)
    assert report.line().startswith(
        "Consume TPS: 2 Average(B2C) RT(ms):  20.000 Average(S2C) RT(ms):   5.000 "
        "MAX(B2C) RT(ms): 30 MAX(S2C) RT(ms): 6"
    )
    summary = stats.summary(now=5.0, first_at=1.0)
    assert summary.tps == pytest.approx(0.5)
    assert summary.to_json()["b2c_rt_ms"]["max_ms"] == 30.0


def test_budget_bounds_count_and_time() -> None:
    now = [0.0]
    budget = Budget(count=10, deadline=5.0, clock=lambda: now[0])
    assert budget.take(4) == 4
    assert budget.take(4) == 4
    assert budget.take(4) == 2
    assert budget.take(4) == 0
    timed = Budget(count=None, deadline=5.0, clock=lambda: now[0])
    assert timed.take(3) == 3
    now[0] = 5.0
    assert timed.take(3) == 0
    assert timed.expired and timed.time_left() == 0.0


def test_make_body_exact_size() -> None:
    assert make_body(1) == b"O"
    body = make_body(1024)
    assert len(body) == 1024 and body.isascii()


def test_parse_proc_stat_handles_spaces_in_comm() -> None:
    fields = ["S", "1"] + ["0"] * 9 + ["250", "50"] + ["0"] * 30
    line = "1234 (python (x) y) " + " ".join(fields)
    assert parse_proc_stat_ticks(line) == 300
    with pytest.raises(ValueError):
        parse_proc_stat_ticks("garbage")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_read_own_cpu_seconds() -> None:
    assert read_cpu_seconds(os.getpid()) >= 0.0


def test_cpu_usage_per_message() -> None:
    assert CpuUsage(1, 0.5, 1000).us_per_message == pytest.approx(500.0)
    assert CpuUsage(1, 0.5, 0).us_per_message is None
    assert "500.0 us/msg" in CpuUsage(1, 0.5, 1000).line()


def test_producer_config_is_checked() -> None:
    with pytest.raises(ValueError, match="mode"):
        ProducerBench(ProducerConfig("127.0.0.1:9876", mode="fast"), out=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="oneway batch"):
        ProducerBench(ProducerConfig("127.0.0.1:9876", mode="oneway", batch=8), out=None)  # type: ignore[arg-type]
