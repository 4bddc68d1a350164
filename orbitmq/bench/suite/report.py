"""docs/performance.md from a suite's figures. Pure: values in, markdown out.

The "Profile" section is written by people: whatever sits between PROFILE_BEGIN and
PROFILE_END in the existing file is carried over unchanged when the file is rewritten.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "PROFILE_BEGIN",
    "PROFILE_END",
    "Cell",
    "CostRow",
    "Figure",
    "PeerRow",
    "Table",
    "keep_profile",
    "render",
]

PROFILE_BEGIN = "<!-- profile:begin (kept when the suite rewrites this file) -->"
PROFILE_END = "<!-- profile:end -->"
_DEFAULT_PROFILE = (
    "_Not written yet: profile the broker under the produce scenario (for example with\n"
    "py-spy or cProfile) and summarise where the CPU per message goes._"
)


@dataclass(slots=True)
class Figure:
    """One measured figure: a sample per run, judged against an optional target."""

    label: str
    unit: str
    command: int  # index into the commands list
    target: tuple[str, float] | None = None  # (">=" or "<=" or "<", value)
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    def met(self) -> bool | None:
        median = self.median
        if self.target is None or median is None:
            return None
        op, value = self.target
        return {">=": median >= value, "<=": median <= value, "<": median < value}[op]


@dataclass(slots=True)
class PeerRow:
    """One system's produce/consume figures (medians), for the comparison table."""

    system: str
    produce_tps: float | None = None
    produce_p99_ms: float | None = None
    produce_cpu_us: float | None = None
    consume_tps: float | None = None
    consume_cpu_us: float | None = None


@dataclass(slots=True)
class CostRow:
    """One system under one workload of the raw load generator: a sample per round.
    Peer rows are compared with the OrbitMQ row of the same workload."""

    workload: str
    system: str
    command: int
    orbitmq: bool = False
    tps: list[float] = field(default_factory=list)
    server_us: list[float] = field(default_factory=list)
    generator_us: list[float] = field(default_factory=list)
    failed: int = 0


Cell = float | int | str | None


@dataclass(slots=True)
class Table:
    """A section of its own with one table: numbers are written like the figures',
    text as it is, None as a dash."""

    title: str
    intro: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)


def _cell(value: Cell) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    return _number(value)


def _table(table: Table) -> list[str]:
    return [
        "",
        f"## {table.title}",
        "",
        table.intro,
        "",
        "| " + " | ".join(table.columns) + " |",
        "| " + " | ".join("---" for _ in table.columns) + " |",
        *("| " + " | ".join(_cell(v) for v in row) + " |" for row in table.rows),
    ]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or not theirs:
        return "—"
    ratio = ours / theirs
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.1f}x"


def _cost_rows(costs: Sequence[CostRow]) -> list[str]:
    out = [
        "| Workload | System | msg/s | Server CPU µs/msg | Generator CPU µs/msg "
        "| OrbitMQ / peer, msg/s | OrbitMQ / peer, CPU/msg | Rounds (msg/s @ server µs/msg) "
        "| Command |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ours = {row.workload: row for row in costs if row.orbitmq}
    for row in costs:
        tps, cpu = _median(row.tps), _median(row.server_us)
        mine = ours.get(row.workload)
        if row.orbitmq or mine is None:
            tps_ratio = cpu_ratio = "—"
        else:
            tps_ratio = _ratio(_median(mine.tps), tps)
            cpu_ratio = _ratio(_median(mine.server_us), cpu)
        rounds = ", ".join(
            f"{_number(t)} @ {_number(c)}" for t, c in zip(row.tps, row.server_us, strict=False)
        )
        failed = f" ({row.failed:,} failed)" if row.failed else ""
        out.append(
            f"| {row.workload} | {row.system}{failed} | {_number(tps)} | {_number(cpu)} "
            f"| {_number(_median(row.generator_us))} | {tps_ratio} | {cpu_ratio} "
            f"| {rounds or '—'} | [{row.command + 1}](#commands) |"
        )
    return out


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit in ("ms", "s") or abs(value) < 100:
        text = f"{value:.3g}" if abs(value) < 1 else f"{value:,.2f}".rstrip("0").rstrip(".")
    else:
        text = f"{value:,.0f}"
    return f"{text} {unit}".strip()


def _target(figure: Figure) -> str:
    if figure.target is None:
        return "—"
    op, value = figure.target
    symbol = {">=": "≥", "<=": "≤", "<": "<"}[op]
    return f"{symbol} {_number(value, figure.unit)}"


def _met(figure: Figure) -> str:
    met = figure.met()
    return "—" if met is None else ("yes" if met else "**no**")


def keep_profile(existing: str | None) -> str:
    """The hand-written profile text of an existing file (or the placeholder)."""
    if existing and PROFILE_BEGIN in existing and PROFILE_END in existing:
        inner = existing.split(PROFILE_BEGIN, 1)[1].split(PROFILE_END, 1)[0]
        return inner.strip("\n")
    return _DEFAULT_PROFILE


def render(
    *,
    figures: list[Figure],
    peers: list[PeerRow],
    commands: list[str],
    setup: list[str],
    notes: list[str],
    profile: str,
    reproduce: str,
    costs: Sequence[CostRow] = (),
    tables: Sequence[Table] = (),
) -> str:
    """The whole document; a section without rows is left out."""
    out = ["# Performance", ""]
    out += [
        "Every figure below comes from one run of the command below on this machine "
        "(the median of the runs it lists), with the client on the same machine as "
        "the broker, over loopback:",
        "",
        "```sh",
        reproduce,
        "```",
        "",
        "## Setup",
        "",
        *[f"- {line}" for line in setup],
        "",
        "## OrbitMQ figures",
        "",
        "| Figure | Target | Measured (median) | Met? | Runs | Command |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        runs = ", ".join(_number(s, f.unit) for s in f.samples) or "—"
        out.append(
            f"| {f.label} | {_target(f)} | {_number(f.median, f.unit)} | {_met(f)} "
            f"| {runs} | [{f.command + 1}](#commands) |"
        )
    if costs:
        out += [
            "",
            "## Server cost: OrbitMQ beside Redis Streams and NATS JetStream",
            "",
            "The load comes from `orbitmq bench raw-producer|raw-consumer`, a generator that "
            "encodes each request once and then only patches counters in it, and reads "
            "responses by their lengths and status alone, so that the server, not the "
            "client, is what is measured (its own CPU per message is the generator "
            "column). Rounds alternate between the systems in one run (OrbitMQ, Redis, "
            "NATS, OrbitMQ, …); produce rounds each start a fresh server. Server CPU is "
            "the server process's user+system time per message, from /proc; the ratio "
            "columns divide OrbitMQ's median by the peer's.",
            "",
            *_cost_rows(costs),
        ]
    if peers:
        out += [
            "",
            "## Other brokers, same workload",
            "",
            "End to end with Python clients (ours, nats-py, redis-py): same payload (1 KiB), "
            "same client process count and in-flight window, servers started by the suite "
            "on loopback with file persistence on. CPU is the server process's user+system "
            "time per message, from /proc.",
            "",
            "| System | Produce msg/s | Produce p99 | Server CPU µs/msg (produce) "
            "| Consume msg/s (backlog) | Server CPU µs/msg (consume) |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in peers:
            out.append(
                f"| {row.system} | {_number(row.produce_tps)} "
                f"| {_number(row.produce_p99_ms, 'ms')} | {_number(row.produce_cpu_us)} "
                f"| {_number(row.consume_tps)} | {_number(row.consume_cpu_us)} |"
            )
    for table in tables:
        out += _table(table)
    out += ["", "## Notes", "", *[f"- {line}" for line in notes], ""]
    out += ["## Commands", "", "`$NAMESRV`, `$URL` and `$PID`: the server the suite started.", ""]
    out += [f"{i + 1}. `{command}`" for i, command in enumerate(commands)]
    out += ["", "## Profile", "", PROFILE_BEGIN, profile, PROFILE_END, ""]
    return "\n".join(out)
