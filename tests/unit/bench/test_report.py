"""The suite's markdown report and the /proc memory reader."""

from __future__ import annotations

import os

import pytest

from orbitmq.bench.memory import parse_status_memory, read_memory
from orbitmq.bench.suite.report import (
    PROFILE_BEGIN,
    PROFILE_END,
    Figure,
    PeerRow,
    keep_profile,
    render,
)


def test_figure_median_and_target() -> None:
    tps = Figure("Produce", "msg/s", 0, (">=", 50_000), [48_000, 61_000, 52_000])
    assert tps.median == 52_000 and tps.met() is True
    p99 = Figure("p99", "ms", 0, ("<", 20), [25.0, 19.0, 30.0])
    assert p99.median == 25.0 and p99.met() is False
    assert Figure("RSS", "MiB", 0).met() is None


def _document(profile: str) -> str:
    return render(
        figures=[Figure("Produce", "msg/s", 0, (">=", 50_000), [51_234.5])],
        peers=[PeerRow("Redis", 30_000, 2.5, 4.2, None, None)],
        commands=["python -m orbitmq bench producer -n $NAMESRV"],
        setup=["2 CPUs"],
        notes=["a note"],
        profile=profile,
        reproduce="scripts/perf.sh",
    )


def test_render_has_the_tables_and_keeps_the_profile() -> None:
    doc = _document("Hand-written: 40 % of the time is in the frame decoder.")
    row = "| Produce | ≥ 50,000 msg/s | 51,234 msg/s | yes | 51,234 msg/s | [1](#commands) |"
    assert row in doc
    assert "| Redis | 30,000 | 2.5 ms | 4.2 | — | — |" in doc
    assert "1. `python -m orbitmq bench producer -n $NAMESRV`" in doc
    kept = keep_profile(doc)
    assert kept == "Hand-written: 40 % of the time is in the frame decoder."
    assert _document(kept).count(PROFILE_BEGIN) == 1 and PROFILE_END in _document(kept)


def test_keep_profile_without_markers_gives_the_placeholder() -> None:
    assert "Not written yet" in keep_profile(None)
    assert "Not written yet" in keep_profile("# Performance\nno markers here\n")


def test_parse_status_memory() -> None:
    text = (
        "Name:\tpython\nVmRSS:\t  2048 kB\nRssAnon:\t 1024 kB\n"
        "RssFile:\t 1000 kB\nRssShmem:\t 24 kB\n"
    )
    usage = parse_status_memory(text)
    sizes = (usage.rss_kib, usage.anon_kib, usage.file_kib, usage.shmem_kib)
    assert sizes == (2048, 1024, 1000, 24)
    assert usage.to_json()["anon_mib"] == 1.0
    with pytest.raises(ValueError, match="RssAnon"):
        parse_status_memory("VmRSS:\t1 kB\n")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_read_own_memory() -> None:
    usage = read_memory(os.getpid())
    assert usage.rss_kib >= usage.anon_kib > 0
