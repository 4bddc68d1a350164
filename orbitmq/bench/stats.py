"""Benchmark counters: latency histograms, per-interval and whole-run reports. Pure code.

Theory of operation: every sample (a send's round trip, a message's born-to-consumer
delay) goes into two histograms, one for the current interval and one for the run.
`snapshot(now)` reports the interval and starts the next one, so the periodic lines and
the final summary come from the same numbers. Time is always passed in by the caller.

Histogram: log-linear buckets of microseconds, exact below 64 µs, then 32 buckets per
power of two, so a percentile is off by at most 1/32 (3.1 %) and `record` is a few
integer operations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

_EXACT = 64
_SUB = 32
_BUCKETS = _EXACT + 64 * _SUB


def bucket_of(micros: int) -> int:
    """The bucket index of a value in µs (negative values count as 0)."""
    if micros < _EXACT:
        return micros if micros > 0 else 0
    shift = micros.bit_length() - 6  # keep the top 6 bits: 32..63
    return _EXACT + (shift - 1) * _SUB + ((micros >> shift) - _SUB)


def bucket_upper(index: int) -> int:
    """The largest value (µs) that falls in bucket `index`."""
    if index < _EXACT:
        return index
    shift, sub = divmod(index - _EXACT, _SUB)
    shift += 1
    return ((sub + _SUB + 1) << shift) - 1


class LatencyHistogram:
    """Counts of latencies in µs, with exact count, sum and max."""

    __slots__ = ("_counts", "count", "max", "total")

    def __init__(self) -> None:
        self._counts = [0] * _BUCKETS
        self.count = 0
        self.total = 0
        self.max = 0

    def record(self, micros: int, times: int = 1) -> None:
        self._counts[bucket_of(micros)] += times
        self.count += times
        self.total += micros * times
        if micros > self.max:
            self.max = micros

    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, fraction: float) -> int:
        """The value (µs) at or below which `fraction` of the samples lie (0 if empty)."""
        if not self.count:
            return 0
        rank = max(1, int(fraction * self.count + 0.999999))
        seen = 0
        for index, n in enumerate(self._counts):
            seen += n
            if seen >= rank:
                return min(bucket_upper(index), self.max)
        return self.max


@dataclass(frozen=True, slots=True)
class LatencyReport:
    """A latency summary in milliseconds."""

    avg_ms: float
    max_ms: float
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, hist: LatencyHistogram) -> LatencyReport:
        return cls(
            hist.mean() / 1000,
            hist.max / 1000,
            hist.percentile(0.50) / 1000,
            hist.percentile(0.99) / 1000,
        )


@dataclass(frozen=True, slots=True)
class SendReport:
    """One interval (or the whole run) of a producer benchmark."""

    elapsed_s: float
    messages: int
    tps: float
    rt: LatencyReport
    send_failed: int
    response_failed: int

    def line(self) -> str:
        """RocketMQ's producer benchmark line, plus p99."""
        return (
            f"Send TPS: {self.tps:.0f} Max RT(ms): {self.rt.max_ms:.3f} "
            f"Average RT(ms): {self.rt.avg_ms:7.3f} p99 RT(ms): {self.rt.p99_ms:.3f} "
            f"Send Failed: {self.send_failed} Response Failed: {self.response_failed}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "elapsed_s": round(self.elapsed_s, 3),
            "messages": self.messages,
            "tps": round(self.tps, 1),
            "avg_rt_ms": round(self.rt.avg_ms, 3),
            "max_rt_ms": round(self.rt.max_ms, 3),
            "p50_rt_ms": round(self.rt.p50_ms, 3),
            "p99_rt_ms": round(self.rt.p99_ms, 3),
            "send_failed": self.send_failed,
            "response_failed": self.response_failed,
        }


class SendStats:
    """Counters of a producer run. `messages` counts messages (a batch counts its size)."""

    def __init__(self, now: float) -> None:
        self._start = now
        self._interval_start = now
        self._interval = LatencyHistogram()
        self._run = LatencyHistogram()
        self.messages = 0
        self._interval_messages = 0
        self.send_failed = 0
        self.response_failed = 0
        self._interval_send_failed = 0
        self._interval_response_failed = 0

    def record_ok(self, micros: int, messages: int = 1) -> None:
        self._interval.record(micros)
        self._run.record(micros)
        self.messages += messages
        self._interval_messages += messages

    def record_send_failed(self, messages: int = 1) -> None:
        """The request never got an answer (network, timeout, no route)."""
        self.send_failed += messages
        self._interval_send_failed += messages

    def record_response_failed(self, messages: int = 1) -> None:
        """The broker answered with an error code."""
        self.response_failed += messages
        self._interval_response_failed += messages

    def snapshot(self, now: float) -> SendReport:
        """The interval since the last snapshot; starts a new one."""
        elapsed = max(now - self._interval_start, 1e-9)
        report = SendReport(
            elapsed,
            self._interval_messages,
            self._interval_messages / elapsed,
            LatencyReport.of(self._interval),
            self._interval_send_failed,
            self._interval_response_failed,
        )
        self._interval_start = now
        self._interval = LatencyHistogram()
        self._interval_messages = 0
        self._interval_send_failed = self._interval_response_failed = 0
        return report

    def summary(self, now: float) -> SendReport:
        elapsed = max(now - self._start, 1e-9)
        return SendReport(
            elapsed,
            self.messages,
            self.messages / elapsed,
            LatencyReport.of(self._run),
            self.send_failed,
            self.response_failed,
        )


@dataclass(frozen=True, slots=True)
class ConsumeReport:
    """One interval (or the whole run) of a consumer benchmark."""

    elapsed_s: float
    messages: int
    tps: float
    b2c: LatencyReport
    s2c: LatencyReport

    def line(self) -> str:
        """RocketMQ's consumer benchmark line, plus p99 of born-to-consumer."""
        return (
            f"Consume TPS: {self.tps:.0f} Average(B2C) RT(ms): {self.b2c.avg_ms:7.3f} "
            f"Average(S2C) RT(ms): {self.s2c.avg_ms:7.3f} MAX(B2C) RT(ms): {self.b2c.max_ms:.0f} "
            f"MAX(S2C) RT(ms): {self.s2c.max_ms:.0f} p99(B2C) RT(ms): {self.b2c.p99_ms:.3f}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "elapsed_s": round(self.elapsed_s, 3),
            "messages": self.messages,
            "tps": round(self.tps, 1),
            "b2c_rt_ms": {k: round(v, 3) for k, v in asdict(self.b2c).items()},
            "s2c_rt_ms": {k: round(v, 3) for k, v in asdict(self.s2c).items()},
        }


class ConsumeStats:
    """Counters of a consumer run: born-to-consumer (B2C) and store-to-consumer (S2C)."""

    def __init__(self, now: float) -> None:
        self._start = now
        self._interval_start = now
        self._b2c = (LatencyHistogram(), LatencyHistogram())  # (interval, run)
        self._s2c = (LatencyHistogram(), LatencyHistogram())
        self.messages = 0
        self._interval_messages = 0

    def record(self, b2c_ms: int, s2c_ms: int) -> None:
        b2c, s2c = b2c_ms * 1000, s2c_ms * 1000
        for hist in self._b2c:
            hist.record(b2c)
        for hist in self._s2c:
            hist.record(s2c)
        self.messages += 1
        self._interval_messages += 1

    def snapshot(self, now: float) -> ConsumeReport:
        elapsed = max(now - self._interval_start, 1e-9)
        report = ConsumeReport(
            elapsed,
            self._interval_messages,
            self._interval_messages / elapsed,
            LatencyReport.of(self._b2c[0]),
            LatencyReport.of(self._s2c[0]),
        )
        self._interval_start = now
        self._b2c = (LatencyHistogram(), self._b2c[1])
        self._s2c = (LatencyHistogram(), self._s2c[1])
        self._interval_messages = 0
        return report

    def summary(self, now: float, first_at: float | None = None) -> ConsumeReport:
        """The whole run; TPS counts from `first_at` (the first message) when given."""
        start = first_at if first_at is not None else self._start
        elapsed = max(now - start, 1e-9)
        return ConsumeReport(
            elapsed,
            self.messages,
            self.messages / elapsed,
            LatencyReport.of(self._b2c[1]),
            LatencyReport.of(self._s2c[1]),
        )
