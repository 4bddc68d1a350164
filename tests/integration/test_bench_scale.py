"""`orbitmq bench namesrv-scale` and `orbitmq bench broker-scale` at small sizes, as real
subprocesses against the servers they start; the figures are checked against what the
NameServer's own tables hold afterwards."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.test_bench import run_bench

pytestmark = pytest.mark.slow


def bench_points(*args: str) -> list[dict[str, Any]]:
    result = run_bench(*args, "--json", timeout=120)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    points: list[dict[str, Any]] = json.loads(result.stdout)
    return points


def test_namesrv_scale_curve_matches_the_namesrv_tables() -> None:
    points = bench_points(
        "namesrv-scale", "--broker-sets", "6", "--topics", "4,40", "--sets-per-topic", "2",
        "--period", "1", "--repeats", "1", "--query-rate", "40",
    )  # fmt: skip
    assert [p["topics_per_set"] for p in points] == [4, 40]
    for point in points:
        assert point["broker_sets"] == point["seen_broker_sets"] == 6
        # Three groups of two sets, each group with its own topics.
        assert point["distinct_topics"] == point["seen_topics"] == 3 * point["topics_per_set"]
        # first + one repeat round + the paced period: three registrations per set.
        assert point["registrations"] == 18 and point["registration_failures"] == 0
        assert point["queries"] == 40 and point["query_failures"] == 0
        assert 0 < point["query_p50_ms"] <= point["query_p99_ms"] <= point["query_max_ms"]
        assert point["first_us"] >= 0 and point["repeat_us"] >= 0
        assert 0 < point["anon_mib"] < point["rss_mib"]
    assert points[0]["body_kib"] < points[1]["body_kib"]


@pytest.mark.parametrize(("create", "topics", "fill"), [("admin", 30, 0), ("file", 60, 1)])
def test_broker_scale_registers_every_topic(create: str, topics: int, fill: int) -> None:
    (point,) = bench_points(
        "broker-scale", "--topics", str(topics), "--create", create, "--registrations", "2",
        "--messages-per-queue", str(fill),
    )  # fmt: skip
    assert point["topics"] == point["topics_registered"] == topics
    assert point["fill_failures"] == 0
    if create == "admin":
        # CPU comes in 10 ms ticks: 30 creations may take fewer than one.
        assert point["create_s"] > 0 and point["create_broker_us"] >= 0
    else:
        assert point["create_s"] is None and point["create_broker_us"] is None
    assert 0 < point["boot_s"] < 30
    assert 0 < point["first_send_s"] < 30 and 0 < point["routed_s"] < 30
    assert 0 < point["anon_mib"] < point["rss_mib"]
    assert point["body_kib"] > 0 and point["register_broker_us"] is not None
