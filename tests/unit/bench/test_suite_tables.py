"""The suite's replication and scale tables: ratios to a master alone, curve rows with
their growth rows, the faster-than-linear check, and how a table section renders."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from orbitmq.bench.suite.cli import suite
from orbitmq.bench.suite.replication_ratios import layout_rows, ratio_to_alone
from orbitmq.bench.suite.report import Figure, Table, render
from orbitmq.bench.suite.scale_curve import (
    Column,
    curve_rows,
    faster_than_linear,
    growth,
)


def _layout(name: str, tps: float, **lag: Any) -> dict[str, Any]:
    """One object of `bench replication --json` (LayoutResult)."""
    return {
        "layout": name, "tps": tps, "p99_ms": 9.5, "send_failed": 0,
        "broker_cpu_us_per_msg": 14.2, "lag_max_bytes": lag.get("max_bytes"),
        "lag_mean_bytes": lag.get("mean_bytes"), "lag_max_entries": lag.get("entries"),
        "lag_mean_entries": None, "catch_up_s": lag.get("catch_up"),
    }  # fmt: skip


_RESULTS = [
    _layout("master alone", 30_000.0),
    _layout("ASYNC_MASTER + 1 slave", 27_000.0, max_bytes=229_056, catch_up=0.01),
    _layout("SYNC_MASTER + 1 slave", 24_600.0, max_bytes=76_352, catch_up=0.02),
    _layout("DLedger, 3 members", 15_000.0, max_bytes=76_160, entries=2, catch_up=0.1),
]


def test_ratio_to_a_master_alone() -> None:
    assert ratio_to_alone(_RESULTS, "sync") == pytest.approx(0.82)
    assert ratio_to_alone(_RESULTS, "dledger") == pytest.approx(0.5)
    assert ratio_to_alone(_RESULTS[1:], "sync") is None  # no master alone in the run
    assert ratio_to_alone(_RESULTS[:1], "dledger") is None


def test_layout_rows_render_with_the_ratio_column() -> None:
    table = Table("Replication", "intro", ["Layout", "msg/s", "/ alone", "p99", "Failed",
                                           "CPU", "max", "mean", "entries", "catch-up"],
                  layout_rows(_RESULTS))  # fmt: skip
    doc = _render([table])
    assert "| master alone | 30,000 | 1.00x | 9.5 | 0 | 14.2 | — | — | — | — |" in doc
    sync = "| SYNC_MASTER + 1 slave | 24,600 | 0.82x | 9.5 | 0 | 14.2 | 76,352 |"
    assert sync + " — | — | 0.02 |" in doc
    assert "| DLedger, 3 members | 15,000 | 0.50x |" in doc


def _render(tables: list[Table]) -> str:
    return render(
        figures=[Figure("Produce", "msg/s", 0, (">=", 50_000), [51_000.0])], peers=[],
        commands=["python -m orbitmq bench replication --duration 15"], setup=["2 CPUs"],
        notes=["a note"], profile="kept", reproduce="scripts/perf.sh", tables=tables,
    )  # fmt: skip


def test_a_table_section_sits_before_the_notes() -> None:
    table = Table("Cluster scale: broker", "What it measures.", ["Topics", "RssAnon MiB"],
                  [[200, 25.4], [20_000, None], ["growth x100", "1.60x"]])  # fmt: skip
    doc = _render([table])
    section = (
        "## Cluster scale: broker\n\nWhat it measures.\n\n| Topics | RssAnon MiB |\n"
        "| --- | --- |\n| 200 | 25.4 |\n| 20,000 | — |\n| growth x100 | 1.60x |\n"
    )
    assert section in doc
    assert doc.index("## OrbitMQ figures") < doc.index(section) < doc.index("## Notes")
    assert "## Cluster scale" not in _render([])


def test_growth_is_each_figure_over_the_previous() -> None:
    assert growth([2.0, 20.0, 400.0]) == [10.0, 20.0]
    assert growth([0.0, 5.0, None, 3.0]) == [None, None, None]
    assert growth([7.0]) == []


def test_faster_than_linear_allows_tick_noise_only() -> None:
    sizes = [50, 500, 5_000]
    assert faster_than_linear(sizes, [250.0, 1_500.0, 19_100.0]) == []  # 6x, then 12.7x
    assert faster_than_linear(sizes, [100.0, 1_000.0, 16_000.0]) == [(1, 16.0)]
    assert faster_than_linear(sizes, [0.0, 100.0, None]) == []
    assert faster_than_linear([1, 2], [1.0, 3.5]) == [(0, 3.5)]


def test_curve_rows_add_a_growth_row_per_step() -> None:
    columns: list[Column] = [
        ("Topics", lambda p: int(p["topics"]), False),
        ("µs per registration", lambda p: p["us"], True),
        ("RSS MiB", lambda p: p["rss"], True),
    ]
    points = [{"topics": 200, "us": 2_000.0, "rss": 25.0},
              {"topics": 2_000, "us": 17_000.0, "rss": 50.0},
              {"topics": 20_000, "us": None, "rss": 400.0}]  # fmt: skip
    rows = curve_rows(columns, points, [200, 2_000, 20_000])
    assert rows == [
        [200, 2_000.0, 25.0],
        [2_000, 17_000.0, 50.0],
        [20_000, None, 400.0],
        ["growth x10", "8.50x", "2.00x"],
        ["growth x10", None, "8.00x"],
    ]


@pytest.mark.parametrize("topics", ["500,50", "0,10", "10,ten", "10,10"])
def test_suite_rejects_curve_sizes_that_do_not_increase(topics: str) -> None:
    result = CliRunner().invoke(suite, ["--only", "scale", "--broker-topics", topics])
    assert result.exit_code == 2 and "--broker-topics" in result.output
