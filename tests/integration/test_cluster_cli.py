"""`orbitmq cluster start|stop|status` on the shipped conf/ templates: real processes,
moved onto free ports with --port-offset, everything under a temporary --home."""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from orbitmq.client import Message, MQAdmin, Producer
from orbitmq.cluster.template import DEFAULT_CONSOLE_PORT, ClusterPlan, load_plan
from tests.integration.scenario import start_collector, wait_for
from tests.processes import wait_until

pytestmark = pytest.mark.slow

CONF = Path(__file__).resolve().parents[2] / "conf"
CLI_TIMEOUT = 180.0


def run_orbitmq(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ORBITMQ_HOME", "NAMESRV_ADDR")}
    return subprocess.run(
        [sys.executable, "-m", "orbitmq", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        env=env,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_port_offset(template: Path) -> int:
    """An offset that puts every port of `template` on a free port in 20000-32000, below
    the ephemeral range as tests/processes.py's ports are."""
    ports = load_plan(template, "/unused").ports()
    for _ in range(200):
        offset = random.randrange(20000 - ports[0], 32000 - ports[-1])
        if all(_is_free(p + offset) for p in ports):
            return offset
    raise RuntimeError(f"no free port offset for {template}")


@dataclass
class ClusterRun:
    template: Path
    home: Path
    port_offset: int
    console: bool = True  # False: `start --no-dashboard`

    @property
    def plan(self) -> ClusterPlan:
        console_port = DEFAULT_CONSOLE_PORT if self.console else None
        return load_plan(self.template, self.home, self.port_offset, console_port)

    def cli(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        no_console = ("--no-dashboard",) if command == "start" and not self.console else ()
        return run_orbitmq(
            "cluster", command, str(self.template), "--home", str(self.home),
            "--port-offset", str(self.port_offset), *no_console, *args,
        )  # fmt: skip

    def pids(self) -> dict[str, int]:
        plan = self.plan
        return {
            p.name: int(plan.pid_path(p).read_text())
            for p in plan.processes
            if plan.pid_path(p).exists()
        }


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def cluster_list(namesrv_addr: str) -> list[list[str]]:
    """`orbitmq admin clusterList` data rows, split on whitespace."""
    lines = ok(run_orbitmq("admin", "clusterList", "-n", namesrv_addr)).splitlines()
    assert lines[0].split()[:6] == ["#Cluster", "Name", "#Broker", "Name", "#BID", "#Addr"]
    return [line.split() for line in lines[1:] if line.strip()]


def start(template: Path, home: Path) -> tuple[ClusterRun, str]:
    run = ClusterRun(template, home, free_port_offset(template))
    return run, ok(run.cli("start"))


def stop_and_check(run: ClusterRun) -> str:
    pids = run.pids()
    out = ok(run.cli("stop"))
    assert not run.pids(), "pid files left behind"
    assert [name for name, pid in pids.items() if alive(pid)] == []
    return out


@pytest.fixture(scope="module")
def async_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ClusterRun, str]]:
    run, out = start(CONF / "2m-2s-async", tmp_path_factory.mktemp("home"))
    try:
        yield run, out
    finally:
        stop_and_check(run)


def test_start_waits_for_registration_and_prints_the_cluster(
    async_cluster: tuple[ClusterRun, str],
) -> None:
    run, out = async_cluster
    plan = run.plan
    started = re.findall(r"^started (\S+) ", out, re.MULTILINE)
    assert started == [p.name for p in plan.processes]  # NameServers, masters, slaves, console
    table = out[out.index("#Cluster Name") :].splitlines()
    for broker in plan.brokers:
        assert any(broker.address in line for line in table), f"{broker.name} not listed"


def test_status_shows_every_process_running(async_cluster: tuple[ClusterRun, str]) -> None:
    run, _ = async_cluster
    out = ok(run.cli("status"))
    pids = run.pids()
    assert len(pids) == 7  # 2 NameServers, 4 brokers, the web console
    for name, pid in pids.items():
        row = next(line.split() for line in out.splitlines() if line.startswith(f"{name} "))
        assert row[2:4] == [str(pid), "running"]
        assert alive(pid)
    assert "#Cluster Name" in out


def test_second_start_is_refused_and_leaves_the_cluster_running(
    async_cluster: tuple[ClusterRun, str],
) -> None:
    run, _ = async_cluster
    pids = run.pids()
    result = run.cli("start")
    assert result.returncode == 1
    assert "already running" in result.stderr
    assert run.pids() == pids
    assert all(alive(pid) for pid in pids.values())


def test_cluster_list_shows_master_and_slave_of_each_broker_set(
    async_cluster: tuple[ClusterRun, str],
) -> None:
    run, _ = async_cluster
    plan = run.plan
    rows = cluster_list(plan.namesrvs[1].address)  # any NameServer knows every broker
    listed = {(r[0], r[1], r[2], r[3]) for r in rows}
    assert listed == {
        ("DefaultCluster", b.broker_name, str(b.broker_id), b.address) for b in plan.brokers
    }
    assert [r[1:3] for r in rows] == [
        ["broker-a", "0"], ["broker-a", "1"], ["broker-b", "0"], ["broker-b", "1"],
    ]  # fmt: skip
    for row in rows:
        assert row[4:6] == ["OrbitMQ", "0.1.0"]  # version from GET_BROKER_RUNTIME_INFO
        assert re.fullmatch(r"\d+\.\d{2}\(\S*ms\)", row[6]), row  # InTPS(LOAD)


def test_the_console_started_with_the_cluster_shows_every_broker(
    async_cluster: tuple[ClusterRun, str],
) -> None:
    run, out = async_cluster
    [console] = run.plan.consoles
    assert f"Web console: http://{console.address}/" in out
    page = httpx.get(f"http://{console.address}/cluster", timeout=10).text
    for broker in run.plan.brokers:
        assert f'data-addr="{broker.address}"' in page


async def test_round_trip_spreads_over_both_broker_sets(
    async_cluster: tuple[ClusterRun, str],
) -> None:
    run, _ = async_cluster
    namesrv_addr = run.plan.namesrv_addr
    topic = "ClusterRoundTrip"
    ok(run_orbitmq("admin", "updateTopic", "-c", "DefaultCluster", "-t", topic,
                   "-r", "2", "-w", "2", "-n", namesrv_addr))  # fmt: skip
    async with MQAdmin(namesrv_addr) as admin:

        async def route_brokers() -> set[str]:
            try:
                route = await admin.topic_route(topic)
            except Exception:
                return set()
            return {q.broker_name for q in route.queue_datas}

        deadline = asyncio.get_running_loop().time() + 30
        while await route_brokers() != {"broker-a", "broker-b"}:
            assert asyncio.get_running_loop().time() < deadline, "topic never routed to both"
            await asyncio.sleep(0.2)

    collector = await start_collector(namesrv_addr, "CG_CLUSTER_CLI", topic)
    try:
        producer = Producer("PG_CLUSTER_CLI", namesrv_addr)
        await producer.start()
        try:
            results = [await producer.send(Message(topic, f"m-{i}".encode())) for i in range(40)]
        finally:
            await producer.shutdown()
        assert {r.message_queue.broker_name for r in results} == {"broker-a", "broker-b"}
        expected = {f"m-{i}".encode() for i in range(40)}
        await wait_for(lambda: collector.bodies >= expected, 60, "messages went missing")
        assert collector.bodies == expected
    finally:
        await collector.consumer.shutdown()


def test_two_masters_start_status_and_stop(tmp_path: Path) -> None:
    run, _ = start(CONF / "2m-noslave", tmp_path / "home")
    try:
        plan = run.plan
        ok(run.cli("status"))
        rows = cluster_list(plan.namesrvs[0].address)
        assert [r[1:4] for r in rows] == [
            ["broker-a", "0", plan.masters[0].address],
            ["broker-b", "0", plan.masters[1].address],
        ]
        assert (run.home / "store" / "broker-a" / "commitlog").is_dir()
        assert (run.home / "logs" / "broker-b.log").is_file()
    finally:
        out = stop_and_check(run)
    stopped = re.findall(r"^stopped (\S+) ", out, re.MULTILINE)
    assert stopped == ["dashboard", "broker-a", "broker-b", "namesrv-9876", "namesrv-9877"]
    status = run.cli("status")
    assert status.returncode == 1
    assert status.stdout.count(" stopped ") == 5


def test_failed_start_shows_the_log_and_stops_what_started(tmp_path: Path) -> None:
    template = Path(shutil.copytree(CONF / "2m-noslave", tmp_path / "2m-noslave"))
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    broker_b = template / "broker-b.properties"
    broker_b.write_text(
        broker_b.read_text().replace("storePathRootDir=store/broker-b",
                                     f"storePathRootDir={blocker}/store")
    )  # fmt: skip
    run = ClusterRun(template, tmp_path / "home", free_port_offset(template))
    result = run.cli("start")
    assert result.returncode == 1, result.stdout
    assert "broker-b exited with code" in result.stderr
    assert "broker-b.log" in result.stderr and "Error" in result.stderr  # the log's tail
    started = dict(re.findall(r"^started (\S+) \(\w+, pid (\d+)\)", result.stdout, re.M))
    assert {"namesrv-9876", "namesrv-9877"} <= set(started)
    wait_until(lambda: not any(alive(int(pid)) for pid in started.values()), 10)
    assert not run.pids()


def test_rolling_restart_logs_and_config_diff(async_cluster: tuple[ClusterRun, str]) -> None:
    """Last of the module: restarts every broker of the shared cluster."""
    run, _ = async_cluster
    plan = run.plan
    before = run.pids()
    # No producer runs here: each drain ends after --idle seconds without a stored message.
    rolled = ok(run.cli("rolling-restart", "--client-pause", "10", "--idle", "1"))
    restarted = re.findall(r"^restarted (\S+) ", rolled, re.MULTILINE)
    # ASYNC_MASTER sets: the slave first (no drain needed), then the drained master.
    assert restarted == ["broker-a-s", "broker-a", "broker-b-s", "broker-b"], rolled
    after = run.pids()
    assert all(after[b.name] != before[b.name] for b in plan.brokers)
    assert all(after[n.name] == before[n.name] for n in plan.namesrvs)
    assert "brokerPermission=6 on broker-a" in rolled
    ok(run.cli("status"))
    # Both masters take sends again, on the queues of both broker sets.
    ok(run_orbitmq("admin", "sendMessage", "-n", plan.namesrv_addr, "-t", "TopicTest", "-p", "x"))
    assert "every process runs its template's config" in ok(run.cli("config-diff"))
    logs = ok(run.cli("logs", "-p", "broker-a", "-n", "5"))
    assert logs.startswith("==> broker-a on this machine: ")
