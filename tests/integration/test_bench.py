"""`orbitmq bench …` run as real subprocesses against real servers: producer and consumer
(alone and with --processes), the suite in smoke mode, and the peer loads when
nats-server / redis-server are installed (skipped otherwise)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orbitmq.bench.suite.report import PROFILE_BEGIN, PROFILE_END
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
        assert " p99 RT(ms): " in line and " Response Failed: 0" in line
        # Every line with messages in it says what the client spent on each.
        if not line.startswith("Send TPS: 0 "):
            assert re.search(r" Client CPU\(us/msg\): \d+\.\d$", line), line
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
    assert summary["client_cpu_s"] > 0
    assert summary["client_cpu_us_per_msg"] == pytest.approx(
        summary["client_cpu_s"] * 1e6 / summary["messages"], rel=0.01
    )


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


def test_producer_processes_merge_counts_and_lines(cluster: Cluster) -> None:
    result = run_bench(
        "producer", "-n", cluster.namesrv_addr, "-t", "BenchFleet", "--processes", "2",
        "--count", "600", "-s", "1024", "--mode", "async", "-w", "8", "--interval", "0.5",
        "--broker-pid", str(cluster.broker.pid), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["processes"] == 2 and summary["messages"] == 600
    assert summary["send_failed"] == 0 and summary["response_failed"] == 0
    assert 0 < summary["p50_rt_ms"] <= summary["p99_rt_ms"] <= summary["max_rt_ms"]
    assert summary["broker_cpu"]["us_per_msg"] is not None
    assert summary["client_cpu_s"] > 0 and summary["client_cpu_us_per_msg"] > 0  # both workers
    timed = run_bench(
        "producer", "-n", cluster.namesrv_addr, "-t", "BenchFleet", "--processes", "2",
        "--duration", "1.5", "--interval", "0.4",
    )  # fmt: skip
    assert timed.returncode == 0, timed.stderr
    lines = timed.stdout.splitlines()
    assert any(line.startswith("Send TPS: ") for line in lines)  # merged progress lines
    assert any(line.startswith("[Summary] Messages: ") for line in lines)


def test_consumer_processes_share_the_group_and_stop_at_the_count(cluster: Cluster) -> None:
    produced = bench_json(cluster, "producer", "-t", "BenchFleetConsume", "--count", "800")
    assert produced["messages"] == 800
    summary = bench_json(
        cluster, "consumer", "-t", "BenchFleetConsume", "--from-first", "--count", "800",
        "--processes", "2", "--duration", "60", "-g", "bench_fleet_group",
    )  # fmt: skip
    assert summary["processes"] == 2 and summary["group"] == "bench_fleet_group"
    assert summary["messages"] >= 800 and summary["elapsed_s"] < 60


def test_processes_cannot_split_a_smaller_count() -> None:
    result = run_bench("producer", "--count", "1", "--processes", "2")
    assert result.returncode == 2 and "less than --processes" in result.stderr


def test_suite_smoke_writes_the_tables(tmp_path: Path) -> None:
    out = tmp_path / "performance.md"
    out.write_text(f"old\n{PROFILE_BEGIN}\nKept by hand.\n{PROFILE_END}\n")
    result = run_bench(
        "suite", "--runs", "1", "--duration", "1", "--sustained-duration", "1",
        "--backlog", "2000", "--store-gib", "0.01", "--no-peers", "--out", str(out),
        "--replication-duration", "1", "--namesrv-sets", "4", "--namesrv-topics", "2,20",
        "--namesrv-period", "0.5", "--broker-topics", "4,40",
        "--workdir", str(tmp_path / "work"), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    doc = out.read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| ") and "msg/s" in line]
    produce = next(line for line in rows if line.startswith("| Produce 1 KiB, 64 in flight"))
    cells = [cell.strip() for cell in produce.split("|")[1:-1]]
    assert cells[1] == "≥ 50,000 msg/s" and cells[3] in ("yes", "**no**")
    assert re.fullmatch(r"[\d,]+ msg/s", cells[2]) and cells[2] != "0 msg/s"
    for label in ("Consume from a backlog of 2,000", "SYNC_FLUSH group commit",
                  "One synchronous sender", "Empty store", "RssAnon"):  # fmt: skip
        assert label in doc
    assert "| OrbitMQ (ASYNC_FLUSH) | " in doc
    for section in ("## Replication", "## Cluster scale: NameServer", "## Cluster scale: broker"):
        assert section in doc
    assert "Kept by hand." in doc and "**Reduced sizes**" in doc
    assert "python -m orbitmq bench producer -n $NAMESRV" in doc


_PEERS = [
    ("nats", "nats-server", "nats"),
    ("redis", "redis-server", "redis"),
]


@pytest.mark.parametrize(("system", "program", "module"), _PEERS)
def test_peer_produce_and_consume(
    tmp_path: Path, system: str, program: str, module: str
) -> None:
    if shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin") is None:
        pytest.skip(f"{program} is not installed (scripts/perf.sh installs it)")
    pytest.importorskip(module, reason="the bench extra is not installed")
    from orbitmq.bench.suite.servers import start_nats, start_redis

    server = start_nats(tmp_path) if system == "nats" else start_redis(tmp_path)
    try:
        common = ["--system", system, "--url", server.address, "--json"]
        result = run_bench("peer-producer", *common, "--count", "2000", "--processes", "2",
                           "--broker-pid", str(server.pid))  # fmt: skip
        assert result.returncode == 0, result.stderr
        produced = json.loads(result.stdout)
        assert produced["messages"] == 2000 and produced["send_failed"] == 0
        assert produced["broker_cpu"]["us_per_msg"] is not None
        result = run_bench("peer-consumer", *common, "--count", "2000", "--duration", "30")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["messages"] >= 2000
    finally:
        server.stop()
