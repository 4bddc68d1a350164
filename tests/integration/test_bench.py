"""`orbitmq bench producer|consumer` run as real subprocesses against a real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.integration.conftest import Cluster
from tests.processes import free_port

pytestmark = pytest.mark.slow


def run_bench(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NAMESRV_ADDR"}
    return subprocess.run(
        [sys.executable, "-m", "orbitmq", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def bench_json(cluster: Cluster, role: str, *args: str) -> dict[str, Any]:
    result = run_bench(role, "-n", cluster.namesrv_addr, "--json", *args)
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


@pytest.mark.parametrize(
    ("mode", "extra"),
    [("sync", []), ("async", ["--tags", "--keys"]), ("sync", ["--batch", "10"])],
)
def test_producer_count_bound(cluster: Cluster, mode: str, extra: list[str]) -> None:
    summary = bench_json(
        cluster, "producer", "-t", "BenchCount", "--count", "300", "--mode", mode,
        "-s", "1024", "-w", "8", "--duration", "60", *extra,
    )  # fmt: skip
    assert summary["role"] == "producer" and summary["mode"] == mode
    assert summary["messages"] == 300
    assert summary["send_failed"] == 0 and summary["response_failed"] == 0
    assert summary["tps"] > 0
    assert 0 < summary["avg_rt_ms"] <= summary["max_rt_ms"]
    assert summary["p99_rt_ms"] <= summary["max_rt_ms"]
    assert summary["elapsed_s"] < 60


def test_producer_duration_bound_prints_interval_lines(cluster: Cluster) -> None:
    result = run_bench(
        "producer", "-n", cluster.namesrv_addr, "-t", "BenchDuration", "--duration", "2",
        "--interval", "0.5", "-w", "4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    ticks = [line for line in lines if line.startswith("Send TPS: ")]
    assert len(ticks) >= 2
    for line in ticks:
        assert " Max RT(ms): " in line and " Average RT(ms): " in line
        assert " p99 RT(ms): " in line and line.endswith("Response Failed: 0")
    assert any(line.startswith("[Summary] Send TPS: ") for line in lines)


def test_oneway_producer_and_broker_cpu(cluster: Cluster) -> None:
    summary = bench_json(
        cluster, "producer", "-t", "BenchOneway", "--mode", "oneway", "--count", "500",
        "--broker-pid", str(cluster.broker.pid),
    )  # fmt: skip
    assert summary["messages"] == 500
    cpu = summary["broker_cpu"]
    assert cpu["pid"] == cluster.broker.pid
    assert cpu["cpu_s"] >= 0 and cpu["us_per_msg"] is not None


def test_consumer_from_first_reads_what_was_produced(cluster: Cluster) -> None:
    produced = bench_json(cluster, "producer", "-t", "BenchConsume", "--count", "400", "-s", "256")
    assert produced["messages"] == 400
    result = run_bench(
        "consumer", "-n", cluster.namesrv_addr, "-t", "BenchConsume", "--from-first",
        "--count", "400", "--duration", "60", "--interval", "0.5", "--json",
        "--broker-pid", str(cluster.broker.pid),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["role"] == "consumer" and summary["from_first"] is True
    assert summary["messages"] >= 400
    assert summary["tps"] > 0
    assert summary["b2c_rt_ms"]["max_ms"] >= summary["b2c_rt_ms"]["avg_ms"] >= 0
    assert summary["broker_cpu"]["us_per_msg"] is not None


def test_consumer_stops_at_duration_without_messages(cluster: Cluster) -> None:
    result = run_bench(
        "consumer", "-n", cluster.namesrv_addr, "-t", "BenchNothingHere", "--duration", "2",
        "--interval", "0.5",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("Consume TPS: 0 ") for line in result.stdout.splitlines())
    assert "[Summary] Messages: 0 " in result.stdout


def test_unreachable_namesrv_exits_1() -> None:
    result = run_bench("producer", "-n", f"127.0.0.1:{free_port()}", "--count", "1")
    assert result.returncode == 1
    assert "bench failed:" in result.stderr and "Traceback" not in result.stderr
