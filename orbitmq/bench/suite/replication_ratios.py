"""The suite's replication part: `bench replication` (a master alone, ASYNC_MASTER and
SYNC_MASTER with one slave, a DLedger group of three, one after another in one run),
its per-layout table, and the issue's two ratios of produce msg/s to the master alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orbitmq.bench.common import BenchError
from orbitmq.bench.replication import LAYOUTS
from orbitmq.bench.suite.report import Cell, Table

if TYPE_CHECKING:
    from orbitmq.bench.suite.scenarios import Suite

__all__ = ["ReplicationRatios", "layout_rows", "ratio_to_alone"]

_NAMES = {layout.key: layout.name for layout in LAYOUTS}
# (layout key, figure label, the floor for its msg/s over the master alone's)
RATIO_TARGETS = (
    ("sync", "SYNC_MASTER with one slave: produce msg/s / a master alone's", 0.8),
    ("dledger", "Three-member DLedger group: produce msg/s / a master alone's", 0.6),
)
_INTRO = (
    "`orbitmq bench replication` starts each layout fresh with `orbitmq cluster start` on "
    "loopback (one broker set, ASYNC_FLUSH, topic `Perf` with 8 queues) and gives it the "
    "same load: one `bench producer` process, 1 KiB async sends, {window} in flight, "
    "{duration:g} s. The layouts run one after another in the same run; the ratio column "
    "divides each layout's msg/s by the master alone's. Lag is sampled every 0.5 s on "
    "the master (DLedger: the leader): bytes not yet acknowledged by the copy, and for "
    "DLedger also Raft entries; catch-up is the time after the load until every copy "
    "holds everything."
)
_COLUMNS = [
    "Layout", "Produce msg/s", "/ master alone", "p99 ms", "Failed",
    "Master (leader) CPU µs/msg", "Lag max (bytes)", "Lag mean (bytes)",
    "Lag max (entries)", "Catch-up after load (s)",
]  # fmt: skip


def ratio_to_alone(results: list[dict[str, Any]], key: str) -> float | None:
    """msg/s of layout `key` over the master alone's, None if either is missing."""
    by_name = {r["layout"]: r for r in results}
    alone, other = by_name.get(_NAMES["alone"]), by_name.get(_NAMES[key])
    if alone is None or other is None or not alone["tps"]:
        return None
    return float(other["tps"]) / float(alone["tps"])


def layout_rows(results: list[dict[str, Any]]) -> list[list[Cell]]:
    """One table row per layout of `bench replication --json`."""
    alone = next((r for r in results if r["layout"] == _NAMES["alone"]), None)
    rows: list[list[Cell]] = []
    for r in results:
        ratio = f"{r['tps'] / alone['tps']:.2f}x" if alone and alone["tps"] else None
        rows.append([
            r["layout"], float(r["tps"]), ratio, float(r["p99_ms"]), int(r["send_failed"]),
            r["broker_cpu_us_per_msg"], r["lag_max_bytes"], r["lag_mean_bytes"],
            r["lag_max_entries"], r["catch_up_s"],
        ])  # fmt: skip
    return rows


class ReplicationRatios:
    def __init__(self, suite: Suite) -> None:
        self.suite = suite

    def run(self) -> None:
        s, c = self.suite, self.suite.config
        args = [
            "replication", "--duration", f"{c.replication_duration:g}", "-w", str(c.window),
        ]  # fmt: skip
        command = s._command(args)
        # Each layout: cluster start and stop (~10 s), the load, the catch-up (<= 60 s).
        results = s.bench_points(args, len(LAYOUTS) * (c.replication_duration + 120))
        if {r["layout"] for r in results} != set(_NAMES.values()):
            raise BenchError(f"bench replication reported {[r['layout'] for r in results]}")
        for key, label, floor in RATIO_TARGETS:
            ratio = ratio_to_alone(results, key)
            figure = s.figure(label, "x", command, (">=", floor))
            if ratio is not None:
                figure.samples.append(ratio)
        failed = sum(int(r["send_failed"]) for r in results)
        if failed:
            s.notes.append(f"Replication: {failed:,} sends failed over the layouts (the "
                           "Failed column); a DLedger leader change shows there.")  # fmt: skip
        s.tables.append(Table(
            "Replication: what a copy costs the producer",
            _INTRO.format(window=c.window, duration=c.replication_duration),
            _COLUMNS, layout_rows(results),
        ))  # fmt: skip
