"""Merging benchmark figures from several processes: histograms, tallies, the wire form."""

from __future__ import annotations

import random

import orjson
import pytest

from orbitmq.bench.fleet import split_count
from orbitmq.bench.stats import (
    ConsumeStats,
    ConsumeTally,
    LatencyHistogram,
    SendStats,
    SendTally,
    tally_from_wire,
)


def _hist(values: list[int]) -> LatencyHistogram:
    hist = LatencyHistogram()
    for v in values:
        hist.record(v)
    return hist


def test_merged_percentiles_are_those_of_all_samples() -> None:
    rng = random.Random(3)
    fast = [rng.randrange(100, 1_000) for _ in range(9_000)]
    slow = [rng.randrange(50_000, 90_000) for _ in range(1_000)]  # one slow process
    merged = _hist(fast)
    merged.merge(_hist(slow))
    everything = _hist(fast + slow)
    for fraction in (0.5, 0.9, 0.95, 0.99, 0.999):
        assert merged.percentile(fraction) == everything.percentile(fraction)
    assert (merged.count, merged.total, merged.max) == (10_000, sum(fast + slow), max(slow))
    # An average of the two p99s would claim about 45 ms; all samples say about 85 ms.
    assert merged.percentile(0.99) > 80_000


def test_histogram_wire_round_trip_is_exact() -> None:
    hist = _hist([0, 5, 63, 64, 1_000, 123_456, 10**8])
    copy = LatencyHistogram.from_wire(orjson.loads(orjson.dumps(hist.to_wire())))
    assert copy.to_wire() == hist.to_wire()
    assert copy.percentile(0.5) == hist.percentile(0.5)


@pytest.mark.parametrize(
    "broken",
    [
        {"count": 2, "total": 10, "max": 5, "buckets": [[3, 1]]},  # counts do not add up
        {"count": 1, "total": 1, "max": 1, "buckets": [[10**6, 1]]},  # no such bucket
        {"count": 1, "total": 1, "max": 1, "buckets": [[1, -1]]},
    ],
)
def test_histogram_wire_rejects_inconsistent_data(broken: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LatencyHistogram.from_wire(broken)


def test_send_tallies_merge_over_the_union_of_their_times() -> None:
    a = SendStats(now=100.0)
    for _ in range(300):
        a.record_ok(1_000)
    a.record_send_failed(2)
    b = SendStats(now=100.5)
    b.record_ok(9_000, messages=32)  # one batch
    b.record_response_failed()
    merged = tally_from_wire(a.run_tally(now=110.0).to_wire())
    assert isinstance(merged, SendTally)
    merged.merge(SendTally.from_wire(b.run_tally(now=110.5).to_wire()))
    report = merged.report()
    assert report.elapsed_s == pytest.approx(10.5)
    assert report.messages == 332 and report.tps == pytest.approx(332 / 10.5)
    assert (report.send_failed, report.response_failed) == (2, 1)
    assert report.rt.max_ms == pytest.approx(9.0)


def test_take_interval_restarts_the_interval_not_the_run() -> None:
    stats = SendStats(now=0.0)
    stats.record_ok(500)
    first = stats.take_interval(now=1.0)
    assert (first.start, first.end, first.messages) == (0.0, 1.0, 1)
    stats.record_ok(700)
    second = stats.take_interval(now=2.0)
    assert (second.start, second.messages, second.rt.max) == (1.0, 1, 700)
    assert stats.run_tally(now=2.0).messages == 2


def test_consume_tallies_merge_and_unstamped_messages_count() -> None:
    a = ConsumeStats(now=0.0)
    a.record(b2c_ms=4, s2c_ms=2)
    a.record_unstamped(10)
    b = ConsumeStats(now=0.0)
    b.record(b2c_ms=40, s2c_ms=20)
    merged = a.run_tally(now=3.0, first_at=1.0)
    merged.merge(b.run_tally(now=5.0, first_at=2.0))
    copy = tally_from_wire(merged.to_wire())
    assert isinstance(copy, ConsumeTally)
    report = copy.report()
    assert report.messages == 12 and report.elapsed_s == pytest.approx(4.0)
    assert report.b2c.max_ms == pytest.approx(40.0) and report.s2c.avg_ms == pytest.approx(11.0)


@pytest.mark.parametrize("data", [{"kind": "other"}, {"kind": "send"}, {"nokind": 1}])
def test_malformed_tallies_are_value_errors(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        tally_from_wire(data)


def test_split_count() -> None:
    assert split_count(10, 3) == [4, 3, 3]
    assert split_count(2, 2) == [1, 1]
    assert split_count(None, 2) == [None, None]
    assert sum(split_count(1_000_001, 4)) == 1_000_001  # type: ignore[arg-type]


def test_client_cpu_per_message_in_lines_json_and_merges() -> None:
    stats = SendStats(now=0.0, cpu_s=10.0)
    for _ in range(4):
        stats.record_ok(500)
    first = stats.take_interval(now=1.0, cpu_s=10.2)
    assert first.cpu_s == pytest.approx(0.2)
    assert first.report().line().endswith(" Client CPU(us/msg): 50000.0")
    stats.record_ok(500, messages=6)
    run = stats.run_tally(now=2.0, cpu_s=10.5)
    assert run.messages == 10 and run.cpu_s == pytest.approx(0.5)
    report = run.report()
    assert report.cpu_us_per_message == pytest.approx(50_000)
    assert report.to_json()["client_cpu_us_per_msg"] == pytest.approx(50_000)
    other = SendTally.from_wire(orjson.loads(orjson.dumps(run.to_wire())))
    other.merge(run)  # two worker processes: their CPU adds up, as do their messages
    assert other.cpu_s == pytest.approx(1.0) and other.report().cpu_us_per_message == 50_000


def test_unmeasured_cpu_is_left_out() -> None:
    stats = ConsumeStats(now=0.0)
    stats.record(b2c_ms=1, s2c_ms=1)
    tally = stats.run_tally(now=1.0)
    assert tally.cpu_s is None and " Client CPU" not in tally.report().line()
    assert tally.report().to_json()["client_cpu_us_per_msg"] is None
    measured = ConsumeTally.from_wire(tally.to_wire())
    measured.merge(ConsumeTally(0.0, 1.0, 1, cpu_s=0.001))
    assert measured.cpu_s == pytest.approx(0.001) and measured.messages == 2
