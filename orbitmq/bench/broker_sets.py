"""`orbitmq bench broker-sets`: produce TPS of 1 broker set vs N on this one machine.

A Python broker uses about one core, so a host with more cores runs several broker sets
(`brokersPerHost=N` in a cluster template). This command measures whether that pays off
here: for each N it writes a one-file template with brokersPerHost=N, starts it with
`start_cluster` under a temporary home (no web console, whose collector would take CPU),
creates the topic with the same queue count on every set, and drives it with the official
C++ client (`bench cpp-producer`), so our own Python client is not the bottleneck. Each
row is compared to the first. Client and brokers share the machine's cores, so each row
says where the CPU went during the load (% of one core): the brokers, the client, and
everything else ("other": the NameServer, and other work on the machine, which moves the
figures), with the load average before the row.

Defaults (sync, 32 threads, one client process) gave the highest one-set TPS on a 2-core
machine: about 3x async mode, whose single Python send loop is the client's limit. Sync
sends from many threads make librocketmq 1.2.x fail a few sends per run on the client side
("GetTransport ... get timed_mutex timeout", then "No route info of this topic":
apache/rocketmq-client-cpp#455/#456); those count as failed. `--mode async` has none.
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import orjson

from orbitmq.bench.cpp_cli import default_cpp_python
from orbitmq.bench.cpu import read_cpu_seconds
from orbitmq.bench.replication import free_port_offset
from orbitmq.client.admin import MQAdmin
from orbitmq.cluster.control import start_cluster, stop_cluster
from orbitmq.cluster.errors import ClusterError
from orbitmq.cluster.template import ClusterPlan, load_plan
from orbitmq.errors import OrbitMQError

__all__ = ["SetsResult", "broker_sets"]

BROKER_NAME = "broker-a"
TEMPLATE_NAMESRV_PORT = 9876
TEMPLATE_LISTEN_PORT = 10911
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
ROUTE_TIMEOUT = 30.0  # topic registration is batched by the broker (registration.py)
LOAD_GRACE = 120.0  # beyond --duration: client start-up, warm-up send, shutdown
MAX_SETS = 16
MAX_POINTS = 8


@dataclass
class SetsResult:
    """One row: the load's figures against N broker sets."""

    sets: int
    brokers: list[str]
    tps: float
    messages: int
    elapsed_s: float
    avg_rt_ms: float
    max_rt_ms: float
    p99_rt_ms: float
    failed: int
    window_s: float  # wall time of the cpp-producer run: the CPU figures' span
    broker_cpu_s: dict[str, float]  # by broker name
    client_cpu_s: float  # cpp-producer and its C++ client workers (RUSAGE_CHILDREN)
    machine_cpu_s: float  # busy time of all cores (/proc/stat), whoever used it
    load_before: float  # 1-minute load average before the row (after it, ours dominates)
    ratio: float = 1.0  # tps / the first row's tps
    producer: dict[str, Any] = field(default_factory=dict)  # cpp-producer's JSON, verbatim

    def _percent(self, seconds: float) -> float:
        return seconds * 100 / self.window_s if self.window_s > 0 else 0.0

    @property
    def broker_cpu_percent(self) -> float:
        """All brokers' CPU as % of one core (100 % per busy core)."""
        return self._percent(sum(self.broker_cpu_s.values()))

    @property
    def client_cpu_percent(self) -> float:
        return self._percent(self.client_cpu_s)

    @property
    def other_cpu_percent(self) -> float:
        """CPU neither the brokers nor the client used (NameServer, other work): a busy
        machine shows here."""
        ours = sum(self.broker_cpu_s.values()) + self.client_cpu_s
        return max(0.0, self._percent(self.machine_cpu_s - ours))


def _sets(_ctx: click.Context, _param: click.Parameter, text: str) -> list[int]:
    try:
        sets = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("a comma list of positive integers") from None
    if not sets or min(sets) < 1 or max(sets) > MAX_SETS or len(sets) > MAX_POINTS:
        raise click.BadParameter(f"a comma list of at most {MAX_POINTS} integers in 1..{MAX_SETS}")
    return sets


def write_template(folder: Path, sets: int) -> None:
    """One broker file standing for `sets` broker sets (template ports; moved by offset)."""
    folder.mkdir(parents=True)
    values = {
        "brokerClusterName": "DefaultCluster",
        "brokerName": BROKER_NAME,
        "brokerId": 0,
        "brokerRole": "ASYNC_MASTER",
        "flushDiskType": "ASYNC_FLUSH",
        "brokerIP1": "127.0.0.1",
        "namesrvAddr": f"127.0.0.1:{TEMPLATE_NAMESRV_PORT}",
        "listenPort": TEMPLATE_LISTEN_PORT,
        "storePathRootDir": f"store/{BROKER_NAME}",
        "brokersPerHost": sets,
    }
    text = "".join(f"{key}={value}\n" for key, value in values.items())
    (folder / f"{BROKER_NAME}.properties").write_text(text)


async def _prepare_topic(namesrv: str, topic: str, queues: int, expected: int) -> list[str]:
    """Create the topic on every broker set; return the set names once the route has all.

    Raises:
        click.ClickException: not every set registered, or the route stayed incomplete.
    """
    async with MQAdmin(namesrv) as admin:
        info = await admin.cluster_info()
        names = sorted(info.broker_addr_table)
        if len(names) != expected:
            raise click.ClickException(f"expected {expected} broker sets, found {names}")
        for name in names:
            addrs = info.broker_addr_table[name].broker_addrs
            await admin.create_topic(addrs[min(addrs)], topic, queues, queues)
        deadline = time.monotonic() + ROUTE_TIMEOUT
        while True:
            try:
                route = await admin.topic_route(topic)
                routed = {b.broker_name for b in route.broker_datas}
            except OrbitMQError:  # no route yet
                routed = set()
            if routed >= set(names):
                return names
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"route of {topic} has {sorted(routed)}, not all of {names}, "
                    f"after {ROUTE_TIMEOUT:g} s"
                )
            await asyncio.sleep(0.2)


def _broker_pids(plan: ClusterPlan) -> dict[str, int]:
    return {spec.broker_name: int(plan.pid_path(spec).read_text()) for spec in plan.brokers}


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    return {name: read_cpu_seconds(pid) for name, pid in pids.items()}


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as fh:
        ticks = [int(n) for n in fh.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_load(
    namesrv: str, topic: str, load_args: list[str], duration: float
) -> tuple[dict[str, Any], float]:
    """`bench cpp-producer --json` as a child (its progress lines go to our stderr): its
    summary, and the CPU seconds it and its workers used (reaped children count in full;
    the brokers are not reaped meanwhile)."""
    argv = [
        sys.executable, "-m", "orbitmq", "bench", "cpp-producer", "-n", namesrv, "-t", topic,
        "--duration", str(duration), "--json", *load_args,
    ]  # fmt: skip
    cpu_before = _children_cpu_seconds()
    try:
        done = subprocess.run(
            argv, stdout=subprocess.PIPE, text=True, timeout=duration + LOAD_GRACE, check=False
        )
    except subprocess.TimeoutExpired:
        raise click.ClickException(f"cpp-producer ran past {duration + LOAD_GRACE:g} s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise click.ClickException(f"cpp-producer failed (exit {done.returncode})")
    summary: dict[str, Any] = orjson.loads(lines[-1])
    return summary, _children_cpu_seconds() - cpu_before


def _echo_err(line: str) -> None:
    click.echo(f"  {line}", err=True)


def measure(
    sets: int, topic: str, queues: int, duration: float, load_args: list[str]
) -> SetsResult:
    """Start N broker sets, load them, stop them: everything it started is stopped and its
    directories removed, whatever fails."""
    with tempfile.TemporaryDirectory(prefix="orbitmq-bench-broker-sets-") as work:
        folder = Path(work) / "template"
        write_template(folder, sets)
        plan = load_plan(folder, Path(work) / "home", free_port_offset(folder), console_port=None)
        try:
            try:
                start_cluster(plan, START_TIMEOUT, _echo_err)
            except ClusterError as exc:
                raise click.ClickException(f"cluster start failed: {exc}") from exc
            try:
                names = asyncio.run(_prepare_topic(plan.namesrv_addr, topic, queues, sets))
            except (OrbitMQError, OSError) as exc:
                raise click.ClickException(f"creating {topic} failed: {exc}") from exc
            pids = _broker_pids(plan)
            load_before = os.getloadavg()[0]
            cpu_before, busy_before, started = _cpu(pids), machine_busy_seconds(), time.monotonic()
            summary, client_cpu = _run_load(plan.namesrv_addr, topic, load_args, duration)
            window = time.monotonic() - started
            cpu_after, busy_after = _cpu(pids), machine_busy_seconds()
        finally:
            stop_cluster(plan, STOP_TIMEOUT, _echo_err)
    return SetsResult(
        sets=sets,
        brokers=names,
        tps=summary["tps"],
        messages=summary["messages"],
        elapsed_s=summary["elapsed_s"],
        avg_rt_ms=summary["avg_rt_ms"],
        max_rt_ms=summary["max_rt_ms"],
        p99_rt_ms=summary["p99_rt_ms"],
        failed=summary["send_failed"] + summary["response_failed"],
        window_s=round(window, 3),
        broker_cpu_s={n: round(cpu_after[n] - cpu_before[n], 3) for n in names},
        client_cpu_s=round(client_cpu, 3),
        machine_cpu_s=round(busy_after - busy_before, 3),
        load_before=load_before,
        producer=summary,
    )


def _cells(r: SetsResult) -> tuple[str, ...]:
    return (
        str(r.sets), f"{r.tps:,.0f}", f"{r.avg_rt_ms:.2f}", f"{r.max_rt_ms:.1f}",
        f"{r.p99_rt_ms:.2f}", str(r.failed), f"{r.broker_cpu_percent:.0f}",
        f"{r.client_cpu_percent:.0f}", f"{r.other_cpu_percent:.0f}", f"{r.load_before:.2f}",
        f"{r.ratio:.2f}x",
    )  # fmt: skip


def table(results: list[SetsResult]) -> list[str]:
    """The printed table, one line per broker-set count."""
    head = ("sets", "send TPS", "avg RT ms", "max RT ms", "p99 RT ms", "failed",
            "broker CPU%", "client CPU%", "other CPU%", "load 1m", "ratio")  # fmt: skip
    lines = [head, *(_cells(r) for r in results)]
    widths = [max(len(cells[i]) for cells in lines) for i in range(len(head))]
    return ["  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) for cells in lines]


@click.command(
    "broker-sets",
    help="Produce TPS of 1 broker set vs N (brokersPerHost=N) on this machine, loaded by the "
    "C++ client; each N is a fresh cluster.",
)
@click.option("--sets", "sets_list", default="1,2", show_default=True, callback=_sets,
              help="broker-set counts to compare, one row each (comma list)")  # fmt: skip
@click.option("--duration", type=click.FloatRange(1, 600), default=20.0, show_default=True,
              help="seconds of load per row")  # fmt: skip
@click.option("-s", "--size", type=click.IntRange(1, 4 * 1024 * 1024), default=128,
              show_default=True, help="message body size in bytes")  # fmt: skip
@click.option("-t", "--topic", default="BenchmarkBrokerSets", show_default=True)
@click.option("--queues", type=click.IntRange(1, 64), default=8, show_default=True,
              help="write/read queues per broker set")  # fmt: skip
@click.option("--mode", type=click.Choice(("sync", "async", "oneway")), default="sync",
              show_default=True,
              help="cpp-producer send mode (async: no librocketmq failures, slower)")  # fmt: skip
@click.option("--processes", type=click.IntRange(1, 16), default=1, show_default=True,
              help="cpp-producer client processes")  # fmt: skip
@click.option("--threads", type=click.IntRange(1, 256), default=32, show_default=True,
              help="sync/oneway: sender threads per client process")  # fmt: skip
@click.option("-w", "--window", type=click.IntRange(1, 4096), default=64, show_default=True,
              help="async: sends in flight per client process")  # fmt: skip
@click.option(
    "--cpp-python",
    envvar="ORBITMQ_BENCH_CPP_PYTHON",
    default=default_cpp_python,
    help="python of the C++ client's venv (scripts/cpp_client_env.sh prints it)",
)
@click.option("--json", "as_json", is_flag=True, help="print the rows as one JSON object")
def broker_sets(
    sets_list: list[int], duration: float, size: int, topic: str, queues: int, mode: str,
    processes: int, threads: int, window: int, cpp_python: str | None, as_json: bool,
) -> None:  # fmt: skip
    if not cpp_python:
        raise click.UsageError("no C++ client venv: run scripts/cpp_client_env.sh, or --cpp-python")
    load_args = [
        "-s", str(size), "--mode", mode, "--processes", str(processes),
        "--threads", str(threads), "-w", str(window), "--cpp-python", cpp_python,
    ]  # fmt: skip
    settings = {
        "duration_s": duration, "message_size": size, "queues_per_set": queues, "mode": mode,
        "processes": processes, "threads": threads, "window": window, "cpus": os.cpu_count(),
    }  # fmt: skip
    results: list[SetsResult] = []
    for sets in sets_list:
        click.echo(f"{sets} broker set(s): {duration:g} s of {size} B sends ({mode})", err=True)
        results.append(measure(sets, topic, queues, duration, load_args))
    for result in results:
        result.ratio = result.tps / results[0].tps if results[0].tps else 0.0
    if as_json:
        rows = [
            {**asdict(r), "ratio": round(r.ratio, 3),
             "broker_cpu_percent": round(r.broker_cpu_percent, 1),
             "client_cpu_percent": round(r.client_cpu_percent, 1),
             "other_cpu_percent": round(r.other_cpu_percent, 1)}
            for r in results
        ]  # fmt: skip
        click.echo(orjson.dumps({"settings": settings, "rows": rows}).decode())
        return
    click.echo(
        f"Broker sets benchmark: size={size} mode={mode} processes={processes} "
        f"threads={threads} window={window} queues/set={queues} duration={duration:g}s "
        f"cpus={os.cpu_count()}"
    )
    for line in table(results):
        click.echo(line)
