"""docs/performance.md from a suite's figures. Pure: values in, markdown out.

The "Profile" section is written by people: whatever sits between PROFILE_BEGIN and
PROFILE_END in the existing file is carried over unchanged when the file is rewritten.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

__all__ = ["PROFILE_BEGIN", "PROFILE_END", "Figure", "PeerRow", "keep_profile", "render"]

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
) -> str:
    """The whole document."""
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
    out += [
        "",
        "## Other brokers, same workload",
        "",
        "Same payload (1 KiB), same client process count and in-flight window, servers "
        "started by the suite on loopback with file persistence on. CPU is the server "
        "process's user+system time per message, from /proc.",
        "",
        "| System | Produce msg/s | Produce p99 | Server CPU µs/msg (produce) "
        "| Consume msg/s (backlog) | Server CPU µs/msg (consume) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in peers:
        out.append(
            f"| {row.system} | {_number(row.produce_tps)} | {_number(row.produce_p99_ms, 'ms')} "
            f"| {_number(row.produce_cpu_us)} | {_number(row.consume_tps)} "
            f"| {_number(row.consume_cpu_us)} |"
        )
    out += ["", "## Notes", "", *[f"- {line}" for line in notes], ""]
    out += ["## Commands", "", "`$NAMESRV`, `$URL` and `$PID`: the server the suite started.", ""]
    out += [f"{i + 1}. `{command}`" for i, command in enumerate(commands)]
    out += ["", "## Profile", "", PROFILE_BEGIN, profile, PROFILE_END, ""]
    return "\n".join(out)
