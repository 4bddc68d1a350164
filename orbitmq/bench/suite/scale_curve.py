"""The suite's scale part: how the NameServer's and the broker's costs grow with the
number of topics (`bench namesrv-scale`, `bench broker-scale`, one fresh server per
point). Each gives a curve table with a growth row per step; the largest points go
into the figure table, and a figure that grows faster than the topics is named in the
notes (the issue asks to fix those).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from orbitmq.bench.suite.report import Cell, Table

if TYPE_CHECKING:
    from orbitmq.bench.suite.scenarios import Suite

__all__ = ["ScaleCurve", "curve_rows", "faster_than_linear", "growth"]

# A step counts as faster than linear when its figure grows by more than the topics
# times this: CPU-tick rounding and a busy machine move small figures by that much.
LINEAR_SLACK = 1.5
# Forced full registrations per broker point: /proc counts CPU in 10 ms ticks, so 20
# registrations resolve 0.5 ms each (the command's default of 5 only 2 ms).
BROKER_REGISTRATIONS = 20
HEARTBEAT_S = 30.0  # a RocketMQ broker registers every 30 s

# title, value of a point, whether the figure is a cost to check for faster-than-linear
# growth (the sizes themselves and the failure counts are not)
Column = tuple[str, Callable[[dict[str, Any]], Cell], bool]

_NAMESRV_COLUMNS: list[Column] = [
    ("Topics per set", lambda p: int(p["topics_per_set"]), False),
    ("Topics in all", lambda p: int(p["distinct_topics"]), False),
    ("Register body KiB", lambda p: p["body_kib"], True),
    ("CPU µs per registration, new DataVersion", lambda p: p["first_us"], True),
    ("CPU µs per registration, unchanged", lambda p: p["repeat_us"], True),
    ("CPU % of a core, paced", lambda p: p["paced_cpu_percent"], True),
    ("Route query p50 ms", lambda p: p["query_p50_ms"], True),
    ("Route query p99 ms", lambda p: p["query_p99_ms"], True),
    ("RSS MiB", lambda p: p["rss_mib"], True),
    ("Failed", lambda p: int(p["registration_failures"]) + int(p["query_failures"]), False),
]
_BROKER_COLUMNS: list[Column] = [
    ("Topics (x 8 queues)", lambda p: int(p["topics"]), False),
    ("Create s (one by one)", lambda p: p["create_s"], True),
    ("Broker CPU µs per create", lambda p: p["create_broker_us"], True),
    ("Start: to boot line s", lambda p: p["boot_s"], True),
    ("Start: to first send s", lambda p: p["first_send_s"], True),
    ("Start: to route served s", lambda p: p["routed_s"], True),
    ("RssAnon MiB", lambda p: p["anon_mib"], True),
    ("Register body KiB", lambda p: p["body_kib"], True),
    ("Broker CPU µs per registration", lambda p: p["register_broker_us"], True),
    ("NameServer CPU µs per registration, new", lambda p: p["register_namesrv_us"], True),
    ("NameServer CPU µs per registration, unchanged", lambda p: p["repeat_namesrv_us"], True),
]


def growth(values: Sequence[float | None]) -> list[float | None]:
    """Each figure over the previous one (None where either is missing or 0)."""
    return [b / a if a and b is not None else None for a, b in pairwise(values)]


def faster_than_linear(
    sizes: Sequence[int], values: Sequence[float | None]
) -> list[tuple[int, float]]:
    """(step, growth) of each step i -> i+1 where the figure grew more than LINEAR_SLACK
    times the size did."""
    return [
        (i, factor)
        for i, factor in enumerate(growth(values))
        if factor is not None and factor > LINEAR_SLACK * sizes[i + 1] / sizes[i]
    ]


def _num(value: Cell) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def curve_rows(
    columns: Sequence[Column], points: Sequence[dict[str, Any]], sizes: Sequence[int]
) -> list[list[Cell]]:
    """A row per point, then a growth row per step: "growth x10" in the first column, then
    each figure over the previous point's ("12.7x")."""
    rows: list[list[Cell]] = [[get(p) for _, get, _ in columns] for p in points]
    factors = [growth([_num(row[col]) for row in rows]) for col in range(len(columns))]
    for step in range(len(points) - 1):
        label: Cell = f"growth x{sizes[step + 1] / sizes[step]:g}"
        cells = [f"{f[step]:.2f}x" if f[step] is not None else None for f in factors[1:]]
        rows.append([label, *cells])
    return rows


def _superlinear(
    what: str, columns: Sequence[Column], points: Sequence[dict[str, Any]], sizes: Sequence[int]
) -> list[str]:
    notes = []
    for title, get, checked in columns:
        if not checked:
            continue
        for i, factor in faster_than_linear(sizes, [_num(get(p)) for p in points]):
            notes.append(
                f"{what}: **{title} grows faster than the topics** from {sizes[i]:,} to "
                f"{sizes[i + 1]:,} topics: {factor:.1f}x for {sizes[i + 1] / sizes[i]:g}x."
            )
    return notes


class ScaleCurve:
    def __init__(self, suite: Suite) -> None:
        self.suite = suite

    def run(self) -> None:
        self.namesrv()
        self.broker()

    def _headline(self, command: int, figures: Sequence[tuple[str, str, Cell]]) -> None:
        """The top point's figures for the summary (a missing value stays unmeasured)."""
        for label, unit, value in figures:
            figure = self.suite.figure(label, unit, command)
            if value is not None:
                figure.samples.append(float(value))

    def namesrv(self) -> None:
        s, c = self.suite, self.suite.config
        sizes = list(c.namesrv_topics)
        args = [
            "namesrv-scale", "--broker-sets", str(c.namesrv_sets),
            "--topics", ",".join(map(str, sizes)), "--period", f"{c.namesrv_period:g}",
        ]  # fmt: skip
        command = s._command(args)
        # A point: bodies built, two back-to-back rounds, one paced period, tables read.
        points = s.bench_points(args, len(sizes) * (c.namesrv_period * 2 + 300))
        s.tables.append(Table(
            "Cluster scale: NameServer",
            f"`orbitmq bench namesrv-scale`: a fresh `orbitmq namesrv` per point, "
            f"{c.namesrv_sets:,} simulated broker sets, each with its own topics (8 queues), "
            "registering with RocketMQ's register body (compressed). CPU per registration is "
            "the NameServer's /proc time over a round of every set registering back to back: "
            "first with a new DataVersion (all topics written), then unchanged (what each "
            "broker sends every 30 s). Then one paced period in which every set registers "
            f"once, spread over {c.namesrv_period:g} s, with 200 route queries per second "
            "(GET_ROUTEINFO_BY_TOPIC of random topics, open loop); the query latency is "
            "under that load. RSS is the NameServer's after the point. Growth rows divide "
            "each figure by the one of the previous point.",
            [title for title, _, _ in _NAMESRV_COLUMNS],
            curve_rows(_NAMESRV_COLUMNS, points, sizes),
        ))  # fmt: skip
        top = points[-1]
        where = f"{top['broker_sets']:,} broker sets x {top['topics_per_set']:,} topics"
        self._headline(command, (
            (f"NameServer CPU per registration, {where}, new DataVersion", "µs",
             top["first_us"]),
            (f"NameServer CPU per registration, {where}, unchanged DataVersion", "µs",
             top["repeat_us"]),
            (f"Route query p99, {where} registering every {c.namesrv_period:g} s", "ms",
             top["query_p99_ms"]),
            (f"NameServer RSS, {where}", "MiB", top["rss_mib"]),
        ))  # fmt: skip
        if c.namesrv_period != HEARTBEAT_S:
            s.notes.append(
                f"NameServer scale: every set registers once per {c.namesrv_period:g} s in "
                f"the paced period, {HEARTBEAT_S / c.namesrv_period:.2g}x the rate of "
                f"RocketMQ brokers' {HEARTBEAT_S:g} s (`--namesrv-period`)."
            )
        s.notes += _superlinear("NameServer", _NAMESRV_COLUMNS, points, sizes)

    def broker(self) -> None:
        s, c = self.suite, self.suite.config
        sizes = list(c.broker_topics)
        args = [
            "broker-scale", "--topics", ",".join(map(str, sizes)),
            "--registrations", str(BROKER_REGISTRATIONS),
        ]  # fmt: skip
        command = s._command(args)
        # A point: topics created one by one (~0.8 ms each), a restart, the registrations.
        points = s.bench_points(args, sum(120 + size * 0.01 for size in sizes))
        s.tables.append(Table(
            "Cluster scale: broker",
            "`orbitmq bench broker-scale`: per point a fresh `orbitmq namesrv` and `orbitmq "
            "broker`; the topics (8 queues each) are created one by one with "
            "UPDATE_AND_CREATE_TOPIC, as a script calling `mqadmin updateTopic` does, then the "
            "broker is restarted and timed from spawn to its boot line, to the first send it "
            "accepts and to the NameServer serving the last topic's route; RssAnon is read "
            f"after that send. Then {BROKER_REGISTRATIONS} full registrations are forced "
            "(UPDATE_BROKER_CONFIG: each bumps the DataVersion and sends the whole topic "
            "table) for the broker's and the NameServer's CPU per registration, and the same "
            "body is replayed unchanged (the NameServer's cost of the 30 s heartbeat). The "
            "queues hold no messages.",
            [title for title, _, _ in _BROKER_COLUMNS],
            curve_rows(_BROKER_COLUMNS, points, sizes),
        ))  # fmt: skip
        top = points[-1]
        where = f"{top['topics']:,} topics x 8 queues"
        self._headline(command, (
            (f"Broker start with {where}: spawn to first accepted send", "s",
             top["first_send_s"]),
            (f"Broker RssAnon with {where}, after start", "MiB", top["anon_mib"]),
            (f"Broker CPU per full registration, {where}", "µs", top["register_broker_us"]),
        ))  # fmt: skip
        s.notes += _superlinear("Broker", _BROKER_COLUMNS, points, sizes)
