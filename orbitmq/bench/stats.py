"""Benchmark counters: latency histograms, per-interval and whole-run reports. Pure code.

Theory of operation: every sample (a send's round trip, a message's born-to-consumer
delay) goes into the histogram of the current interval; `take_interval(now)` reports the
interval, adds it to the run and starts the next one, so the periodic lines and the final
summary come from the same numbers. Time is always passed in by the caller, and so is the
client's own CPU time (`cpu_s`, user + system seconds of the load process), which makes
each report say what the client spent per message.

Several client processes (`--processes N`, the C++ load generator) are merged from raw
counters, never from reports: each process sends `SendTally`/`ConsumeTally` records in
`to_wire()` form, the parent `merge`s them (histogram counts add up, so a merged p99 is
the p99 of all samples, not an average of p99s) and only then makes the report. Tally
times are CLOCK_MONOTONIC seconds, which Linux shares between the processes of a machine,
so a merged tally spans from the earliest start to the latest end.

This module imports only the standard library: the C++ load generator, which runs in
the C++ client's own virtualenv without orbitmq's dependencies, loads it by file path.

Histogram: log-linear buckets of microseconds, exact below 64 µs, then 32 buckets per
power of two, so a percentile is off by at most 1/32 (3.1 %) and `record` is a few
integer operations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
        if micros < _EXACT:  # bucket_of, inlined: this runs once per message
            index = micros if micros > 0 else 0
        else:
            shift = micros.bit_length() - 6
            index = _EXACT + (shift - 1) * _SUB + ((micros >> shift) - _SUB)
        self._counts[index] += times
        self.count += times
        self.total += micros * times
        if micros > self.max:
            self.max = micros

    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def merge(self, other: LatencyHistogram) -> None:
        """Add `other`'s samples to this histogram."""
        for index, n in enumerate(other._counts):
            if n:
                self._counts[index] += n
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)

    def to_wire(self) -> dict[str, Any]:
        """A JSON-able form: sparse `[bucket, count]` pairs plus the exact count/sum/max."""
        pairs = [[index, n] for index, n in enumerate(self._counts) if n]
        return {"count": self.count, "total": self.total, "max": self.max, "buckets": pairs}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> LatencyHistogram:
        """The inverse of `to_wire`.

        Raises:
            ValueError: a bucket index out of range or counts that do not add up.
        """
        hist = cls()
        for index, n in data["buckets"]:
            if not 0 <= index < _BUCKETS or n < 0:
                raise ValueError(f"bad histogram bucket [{index}, {n}]")
            hist._counts[index] += int(n)
        hist.count, hist.total, hist.max = int(data["count"]), int(data["total"]), int(data["max"])
        if sum(hist._counts) != hist.count:
            raise ValueError("histogram buckets do not add up to its count")
        return hist

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


def per_message_us(cpu_s: float | None, messages: int) -> float | None:
    """Client CPU µs per message, None when not measured or no message."""
    if cpu_s is None or messages <= 0:
        return None
    return cpu_s * 1e6 / messages


def _cpu_text(cpu_s: float | None, messages: int) -> str:
    per = per_message_us(cpu_s, messages)
    return "" if per is None else f" Client CPU(us/msg): {per:.1f}"


def _cpu_json(cpu_s: float | None, messages: int) -> dict[str, Any]:
    per = per_message_us(cpu_s, messages)
    return {
        "client_cpu_s": round(cpu_s, 6) if cpu_s is not None else None,
        "client_cpu_us_per_msg": round(per, 2) if per is not None else None,
    }


def _add_cpu(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else a + b


def _cpu_since(start: float | None, now: float | None) -> float | None:
    return None if start is None or now is None else now - start


@dataclass(frozen=True, slots=True)
class SendReport:
    """One interval (or the whole run) of a producer benchmark.

    `cpu_s`: the client's own CPU seconds (summed over its processes), None if unmeasured.
    """

    elapsed_s: float
    messages: int
    tps: float
    rt: LatencyReport
    send_failed: int
    response_failed: int
    cpu_s: float | None = None

    @property
    def cpu_us_per_message(self) -> float | None:
        return per_message_us(self.cpu_s, self.messages)

    def line(self) -> str:
        """RocketMQ's producer benchmark line, plus p99 and the client's CPU per message."""
        return (
            f"Send TPS: {self.tps:.0f} Max RT(ms): {self.rt.max_ms:.3f} "
            f"Average RT(ms): {self.rt.avg_ms:7.3f} p99 RT(ms): {self.rt.p99_ms:.3f} "
            f"Send Failed: {self.send_failed} Response Failed: {self.response_failed}"
            + _cpu_text(self.cpu_s, self.messages)
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
            **_cpu_json(self.cpu_s, self.messages),
        }


@dataclass(slots=True)
class SendTally:
    """Raw counters of one stretch of a producer run (mergeable; see the module doc)."""

    start: float
    end: float
    messages: int = 0
    send_failed: int = 0
    response_failed: int = 0
    rt: LatencyHistogram = field(default_factory=LatencyHistogram)
    cpu_s: float | None = None

    def merge(self, other: SendTally) -> None:
        self.start = min(self.start, other.start)
        self.end = max(self.end, other.end)
        self.messages += other.messages
        self.send_failed += other.send_failed
        self.response_failed += other.response_failed
        self.rt.merge(other.rt)
        self.cpu_s = _add_cpu(self.cpu_s, other.cpu_s)

    def copy(self) -> SendTally:
        rt = LatencyHistogram()
        rt.merge(self.rt)
        return SendTally(
            self.start,
            self.end,
            self.messages,
            self.send_failed,
            self.response_failed,
            rt,
            self.cpu_s,
        )

    def report(self) -> SendReport:
        elapsed = max(self.end - self.start, 1e-9)
        return SendReport(
            elapsed,
            self.messages,
            self.messages / elapsed,
            LatencyReport.of(self.rt),
            self.send_failed,
            self.response_failed,
            self.cpu_s,
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": "send",
            "start": self.start,
            "end": self.end,
            "messages": self.messages,
            "send_failed": self.send_failed,
            "response_failed": self.response_failed,
            "rt": self.rt.to_wire(),
            "cpu_s": self.cpu_s,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SendTally:
        cpu = data.get("cpu_s")
        return cls(
            float(data["start"]),
            float(data["end"]),
            int(data["messages"]),
            int(data["send_failed"]),
            int(data["response_failed"]),
            LatencyHistogram.from_wire(data["rt"]),
            float(cpu) if cpu is not None else None,
        )


class SendStats:
    """Counters of a producer run. `messages` counts messages (a batch counts its size).

    Samples go into the current interval only; an interval joins the run when taken.
    `cpu_s` arguments are the client's CPU seconds at that moment (None: unmeasured).
    """

    def __init__(self, now: float, cpu_s: float | None = None) -> None:
        self._interval = SendTally(now, now)
        self._run = SendTally(now, now)
        self._interval_cpu = self._run_cpu = cpu_s

    @property
    def messages(self) -> int:
        return self._run.messages + self._interval.messages

    def record_ok(self, micros: int, messages: int = 1) -> None:
        """One answered request of `messages` messages that took `micros`."""
        interval = self._interval
        interval.rt.record(micros)
        interval.messages += messages

    def record_send_failed(self, messages: int = 1) -> None:
        """The request never got an answer (network, timeout, no route)."""
        self._interval.send_failed += messages

    def record_response_failed(self, messages: int = 1) -> None:
        """The broker answered with an error code."""
        self._interval.response_failed += messages

    def take_interval(self, now: float, cpu_s: float | None = None) -> SendTally:
        """The raw interval since the last one ends at `now`; a new one starts."""
        interval, self._interval = self._interval, SendTally(now, now)
        interval.end = now
        interval.cpu_s = _cpu_since(self._interval_cpu, cpu_s)
        self._interval_cpu = cpu_s
        self._run.merge(interval)
        return interval

    def snapshot(self, now: float, cpu_s: float | None = None) -> SendReport:
        """The interval since the last snapshot; starts a new one."""
        return self.take_interval(now, cpu_s).report()

    def run_tally(self, now: float, cpu_s: float | None = None) -> SendTally:
        """The whole run so far, as raw counters ending at `now`."""
        run = self._run.copy()
        pending = self._interval
        run.messages += pending.messages
        run.send_failed += pending.send_failed
        run.response_failed += pending.response_failed
        run.rt.merge(pending.rt)
        run.start = self._run.start
        run.end = now
        run.cpu_s = _cpu_since(self._run_cpu, cpu_s)
        return run

    def summary(self, now: float, cpu_s: float | None = None) -> SendReport:
        return self.run_tally(now, cpu_s).report()


@dataclass(frozen=True, slots=True)
class ConsumeReport:
    """One interval (or the whole run) of a consumer benchmark.

    `cpu_s`: the client's own CPU seconds (summed over its processes), None if unmeasured.
    """

    elapsed_s: float
    messages: int
    tps: float
    b2c: LatencyReport
    s2c: LatencyReport
    cpu_s: float | None = None

    @property
    def cpu_us_per_message(self) -> float | None:
        return per_message_us(self.cpu_s, self.messages)

    def line(self) -> str:
        """RocketMQ's consumer benchmark line, plus p99 of born-to-consumer and the
        client's CPU per message."""
        return (
            f"Consume TPS: {self.tps:.0f} Average(B2C) RT(ms): {self.b2c.avg_ms:7.3f} "
            f"Average(S2C) RT(ms): {self.s2c.avg_ms:7.3f} MAX(B2C) RT(ms): {self.b2c.max_ms:.0f} "
            f"MAX(S2C) RT(ms): {self.s2c.max_ms:.0f} p99(B2C) RT(ms): {self.b2c.p99_ms:.3f}"
            + _cpu_text(self.cpu_s, self.messages)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "elapsed_s": round(self.elapsed_s, 3),
            "messages": self.messages,
            "tps": round(self.tps, 1),
            "b2c_rt_ms": {k: round(v, 3) for k, v in asdict(self.b2c).items()},
            "s2c_rt_ms": {k: round(v, 3) for k, v in asdict(self.s2c).items()},
            **_cpu_json(self.cpu_s, self.messages),
        }


@dataclass(slots=True)
class ConsumeTally:
    """Raw counters of one stretch of a consumer run (mergeable; see the module doc)."""

    start: float
    end: float
    messages: int = 0
    b2c: LatencyHistogram = field(default_factory=LatencyHistogram)
    s2c: LatencyHistogram = field(default_factory=LatencyHistogram)
    cpu_s: float | None = None

    def merge(self, other: ConsumeTally) -> None:
        self.start = min(self.start, other.start)
        self.end = max(self.end, other.end)
        self.messages += other.messages
        self.b2c.merge(other.b2c)
        self.s2c.merge(other.s2c)
        self.cpu_s = _add_cpu(self.cpu_s, other.cpu_s)

    def copy(self) -> ConsumeTally:
        b2c, s2c = LatencyHistogram(), LatencyHistogram()
        b2c.merge(self.b2c)
        s2c.merge(self.s2c)
        return ConsumeTally(self.start, self.end, self.messages, b2c, s2c, self.cpu_s)

    def report(self) -> ConsumeReport:
        elapsed = max(self.end - self.start, 1e-9)
        return ConsumeReport(
            elapsed,
            self.messages,
            self.messages / elapsed,
            LatencyReport.of(self.b2c),
            LatencyReport.of(self.s2c),
            self.cpu_s,
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": "consume",
            "start": self.start,
            "end": self.end,
            "messages": self.messages,
            "b2c": self.b2c.to_wire(),
            "s2c": self.s2c.to_wire(),
            "cpu_s": self.cpu_s,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ConsumeTally:
        cpu = data.get("cpu_s")
        return cls(
            float(data["start"]),
            float(data["end"]),
            int(data["messages"]),
            LatencyHistogram.from_wire(data["b2c"]),
            LatencyHistogram.from_wire(data["s2c"]),
            float(cpu) if cpu is not None else None,
        )


def tally_from_wire(data: dict[str, Any]) -> SendTally | ConsumeTally:
    """A tally of either kind from its `to_wire()` form.

    Raises:
        ValueError: unknown kind or malformed counters.
    """
    try:
        if data["kind"] == "send":
            return SendTally.from_wire(data)
        if data["kind"] == "consume":
            return ConsumeTally.from_wire(data)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed tally: {exc!r}") from exc
    raise ValueError(f"unknown tally kind {data['kind']!r}")


class ConsumeStats:
    """Counters of a consumer run: born-to-consumer (B2C) and store-to-consumer (S2C).

    As SendStats: samples go into the current interval, which joins the run when taken.
    Delays are whole milliseconds, so an interval's few distinct values are counted
    first and enter the histograms (with their counts) when the interval is taken.
    """

    def __init__(self, now: float, cpu_s: float | None = None) -> None:
        self._interval = ConsumeTally(now, now)
        self._run = ConsumeTally(now, now)
        self._interval_cpu = self._run_cpu = cpu_s
        self._b2c_counts: dict[int, int] = {}
        self._s2c_counts: dict[int, int] = {}

    @property
    def messages(self) -> int:
        return self._run.messages + self._interval.messages

    def record(self, b2c_ms: int, s2c_ms: int) -> None:
        counts = self._b2c_counts
        counts[b2c_ms] = counts.get(b2c_ms, 0) + 1
        counts = self._s2c_counts
        counts[s2c_ms] = counts.get(s2c_ms, 0) + 1
        self._interval.messages += 1

    def _fold_counts(self) -> None:
        """Move the counted delays into the current interval's histograms."""
        interval = self._interval
        for counts, hist in ((self._b2c_counts, interval.b2c), (self._s2c_counts, interval.s2c)):
            for ms, times in counts.items():
                hist.record(ms * 1000, times)
            counts.clear()

    def record_unstamped(self, messages: int) -> None:
        """Messages that carry no born/store time (peer systems): counted, no delays."""
        self._interval.messages += messages

    def take_interval(self, now: float, cpu_s: float | None = None) -> ConsumeTally:
        self._fold_counts()
        interval, self._interval = self._interval, ConsumeTally(now, now)
        interval.end = now
        interval.cpu_s = _cpu_since(self._interval_cpu, cpu_s)
        self._interval_cpu = cpu_s
        self._run.merge(interval)
        return interval

    def snapshot(self, now: float, cpu_s: float | None = None) -> ConsumeReport:
        return self.take_interval(now, cpu_s).report()

    def run_tally(
        self, now: float, first_at: float | None = None, cpu_s: float | None = None
    ) -> ConsumeTally:
        """The whole run ending at `now`; it starts at `first_at` (the first message) when
        given, so start-up time does not dilute TPS. Its CPU counts from the start."""
        self._fold_counts()
        run = self._run.copy()
        pending = self._interval
        run.messages += pending.messages
        run.b2c.merge(pending.b2c)
        run.s2c.merge(pending.s2c)
        run.start = first_at if first_at is not None else self._run.start
        run.end = now
        run.cpu_s = _cpu_since(self._run_cpu, cpu_s)
        return run

    def summary(
        self, now: float, first_at: float | None = None, cpu_s: float | None = None
    ) -> ConsumeReport:
        """The whole run; TPS counts from `first_at` (the first message) when given."""
        return self.run_tally(now, first_at, cpu_s).report()
