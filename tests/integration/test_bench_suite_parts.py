"""`orbitmq bench suite --only replication` and `--only scale` at tiny sizes, as real
subprocesses: the figure rows and the per-layout and curve tables carry numbers, and the
hand-written profile section survives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orbitmq.bench.suite.report import PROFILE_BEGIN, PROFILE_END
from tests.integration.test_bench import run_bench

pytestmark = pytest.mark.slow

_NUMBER = r"[\d,]+(\.\d+)?"


def _suite(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "performance.md"
    out.write_text(f"old\n{PROFILE_BEGIN}\nKept by hand.\n{PROFILE_END}\n")
    result = run_bench(
        "suite", *args, "--out", str(out), "--workdir", str(tmp_path / "work"), timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    doc = out.read_text()
    assert "Kept by hand." in doc and "**Reduced sizes**" in doc
    return doc


def _cells(doc: str, first: str, exact: bool = False) -> list[str]:
    """The cells of the row whose first cell starts with (or, exact, is) `first`."""
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if cells and (cells[0] == first or (not exact and cells[0].startswith(first))):
            return cells
    raise AssertionError(f"no row {first!r}")


def test_only_replication_reports_the_ratios_and_the_layouts(tmp_path: Path) -> None:
    doc = _suite(tmp_path, "--only", "replication", "--replication-duration", "2")
    for label, target in (("SYNC_MASTER with one slave", "≥ 0.8 x"),
                          ("Three-member DLedger group", "≥ 0.6 x")):  # fmt: skip
        cells = _cells(doc, label)
        assert cells[1] == target and cells[3] in ("yes", "**no**")
        assert re.fullmatch(rf"{_NUMBER} x", cells[2]) and cells[2] != "0 x"
    assert "## Replication: what a copy costs the producer" in doc
    for layout in ("master alone", "ASYNC_MASTER + 1 slave", "SYNC_MASTER + 1 slave",
                   "DLedger, 3 members"):  # fmt: skip
        cells = _cells(doc, layout)
        assert re.fullmatch(_NUMBER, cells[1]) and re.fullmatch(r"\d\.\d\dx", cells[2])
    assert _cells(doc, "master alone")[2] == "1.00x"
    assert re.fullmatch(_NUMBER, _cells(doc, "DLedger, 3 members")[8])  # Raft entries
    assert "1. `python -m orbitmq bench replication --duration 2 -w 64`" in doc
    assert "**Only the replication part**" in doc and "## OrbitMQ figures" in doc


def test_only_scale_reports_both_curves(tmp_path: Path) -> None:
    doc = _suite(
        tmp_path, "--only", "scale", "--namesrv-sets", "10", "--namesrv-topics", "5,50",
        "--namesrv-period", "1", "--broker-topics", "20,200",
    )  # fmt: skip
    nameserver = doc.split("## Cluster scale: NameServer", 1)[1].split("## ", 1)[0]
    broker = doc.split("## Cluster scale: broker", 1)[1].split("## ", 1)[0]
    for section, sizes in ((nameserver, ("5", "50")), (broker, ("20", "200"))):
        for size in sizes:
            cells = _cells(section, size, exact=True)
            assert all(re.fullmatch(_NUMBER, cell) for cell in cells), cells
        assert _cells(section, "growth x10")[0] == "growth x10"
    assert _cells(nameserver, "50", exact=True)[-1] == "0"  # no failed registration or query
    p99 = _cells(doc, "Route query p99, 10 broker sets x 50 topics registering every 1 s")
    assert re.fullmatch(rf"{_NUMBER} ms", p99[2]) and p99[2] != "0 ms"
    start = _cells(doc, "Broker start with 200 topics x 8 queues")
    assert re.fullmatch(rf"{_NUMBER} s", start[2]) and start[2] != "0 s"
    rss = _cells(doc, "NameServer RSS, 10 broker sets x 50 topics")
    assert re.fullmatch(rf"{_NUMBER} MiB", rss[2])
    assert "30x the rate of RocketMQ brokers' 30 s" in doc
    assert "bench namesrv-scale --broker-sets 10 --topics 5,50 --period 1`" in doc
    assert "bench broker-scale --topics 20,200 --registrations 20`" in doc
