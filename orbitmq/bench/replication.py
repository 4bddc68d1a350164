"""`orbitmq bench replication`: what replication costs the producer, and how far copies lag.

Four layouts of one broker set, each started fresh with `orbitmq cluster start` on
loopback and given the same `bench producer` load:

- a master alone, an ASYNC_MASTER with one slave, a SYNC_MASTER with one slave: the
  broker-a files of a 2m-2s folder, written on free ports (one NameServer). The master's
  GET_BROKER_RUNTIME_INFO is sampled for `slaveFallBehindMuch` (bytes the slave has not
  yet acknowledged);
- a DLedger group of three: the conf/dledger folder (two NameServers) moved onto free
  ports with --port-offset. Each follower's lag is sampled two ways: in Raft entries from
  the leader's status (DLedger's METADATA request: leader `last_index` minus the
  follower's `match_index`), and in bytes from the members' GET_BROKER_RUNTIME_INFO
  (leader `commitLogMaxOffset` minus the follower's: committed records the follower has
  not yet written into its own commit log).

After the load the time until every copy has caught up is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import orjson

from orbitmq.bench.suite.servers import free_port, is_port_free
from orbitmq.client.admin import MQAdmin
from orbitmq.cluster.template import ClusterPlan, ProcessSpec, load_plan
from orbitmq.dledger.rpc import METADATA

TOPIC = "Perf"
SAMPLE_SECONDS = 0.5
CATCH_UP_LIMIT_SECONDS = 60.0
SLAVE_CONNECT_LIMIT_SECONDS = 30.0
# A source checkout's template; an installed package has none (then pass --dledger-template).
DLEDGER_TEMPLATE = Path(__file__).resolve().parents[2] / "conf" / "dledger"

NONE, HA, DLEDGER = "none", "ha", "dledger"


@dataclass(frozen=True)
class Layout:
    key: str  # the --layout name
    name: str
    replication: str  # NONE, HA (a master and one slave) or DLEDGER (a Raft group of three)
    master_role: str = "ASYNC_MASTER"  # of the written broker-a file; not used by DLEDGER


LAYOUTS = (
    Layout("alone", "master alone", NONE),
    Layout("async", "ASYNC_MASTER + 1 slave", HA),
    Layout("sync", "SYNC_MASTER + 1 slave", HA, "SYNC_MASTER"),
    Layout("dledger", "DLedger, 3 members", DLEDGER),
)


@dataclass
class LayoutResult:
    layout: str
    tps: float
    p99_ms: float
    send_failed: int
    broker_cpu_us_per_msg: float | None  # the master's; in a DLedger group the leader's
    lag_max_bytes: int | None
    lag_mean_bytes: float | None
    lag_max_entries: int | None  # DLedger only: Raft entries
    lag_mean_entries: float | None
    catch_up_s: float | None


@dataclass(frozen=True)
class LagSample:
    """How far one copy trails the master (leader) at one moment."""

    bytes: int
    entries: int | None = None  # DLedger only

    @property
    def caught_up(self) -> bool:
        return self.bytes == 0 and not self.entries


LagProbe = Callable[[], Awaitable[list[LagSample]]]


def _write_template(folder: Path, layout: Layout, namesrv_port: int, first_port: int) -> None:
    """The broker-a files of a 2m-2s folder, on free ports."""
    folder.mkdir(parents=True)
    common = {
        "brokerClusterName": "DefaultCluster",
        "brokerName": "broker-a",
        "flushDiskType": "ASYNC_FLUSH",
        "namesrvAddr": f"127.0.0.1:{namesrv_port}",
        "brokerIP1": "127.0.0.1",
    }
    brokers = {
        "broker-a": {"brokerId": 0, "brokerRole": layout.master_role, "listenPort": first_port}
    }
    if layout.replication == HA:
        brokers["broker-a-s"] = {
            "brokerId": 1,
            "brokerRole": "SLAVE",
            "listenPort": first_port + 10,
        }
    for name, values in brokers.items():
        values = {**common, **values, "storePathRootDir": f"store/{name}"}
        text = "".join(f"{key}={value}\n" for key, value in values.items())
        (folder / f"{name}.properties").write_text(text)


def _free_listen_port() -> int:
    """A master listenPort whose VIP and HA neighbours, and the slave's (+10), are free."""
    while True:
        port = free_port()
        neighbours = (port - 2, port + 1, port + 8, port + 10, port + 11)
        if port < 60000 and all(is_port_free(p) for p in neighbours):
            return port


def _ephemeral_ports() -> range:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        low, high = (int(n) for n in text.split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port_offset(template: Path) -> int:
    """A --port-offset putting every port of `template` on a free port above 1024 and
    outside the kernel's ephemeral range (where a client socket could take one)."""
    ports = load_plan(template, "/unused", console_port=None).ports()
    ephemeral = _ephemeral_ports()
    offsets = [
        offset
        for offset in range(1024 - ports[0], 65536 - ports[-1])
        if not any(port + offset in ephemeral for port in ports)
    ]
    for offset in random.sample(offsets, min(200, len(offsets))):
        if all(is_port_free(port + offset) for port in ports):
            return offset
    raise click.ClickException(f"no free port offset for {template}")


def _orbitmq(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orbitmq", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def _ha_lag(admin: MQAdmin, master: str) -> list[LagSample]:
    info = await admin.get_broker_runtime_info(master)
    return [LagSample(int(info.get("slaveFallBehindMuch", "0")))]


async def _wait_for_slave(admin: MQAdmin, master: str) -> None:
    """A slave registers before its HA client connects (it learns the address then)."""
    deadline = time.monotonic() + SLAVE_CONNECT_LIMIT_SECONDS
    while time.monotonic() < deadline:
        info = await admin.get_broker_runtime_info(master)
        if int(info.get("haConnectionCount", "0")) > 0:
            return
        await asyncio.sleep(0.1)
    raise click.ClickException(
        f"no slave connected to {master} within {SLAVE_CONNECT_LIMIT_SECONDS:g} s"
    )


async def _raft_status(admin: MQAdmin, member: ProcessSpec) -> dict[str, Any]:
    response = await admin.invoke(member.address, METADATA)
    status: dict[str, Any] = orjson.loads(response.body)
    return status


def follower_lags(
    status: dict[str, Any], max_offsets: dict[str, int], leader_id: str
) -> dict[str, LagSample]:
    """Each follower's lag from the leader's Raft status and every member's commit-log
    max offset (by member id)."""
    lags = {}
    for peer, progress in status["peers"].items():
        if peer == leader_id:
            continue
        # The two offsets come from two requests answered at slightly different moments;
        # a follower never holds records its leader has not applied, so a negative
        # difference is that skew, not a follower ahead.
        behind = max(0, max_offsets[leader_id] - max_offsets[peer])
        lags[peer] = LagSample(behind, status["last_index"] - progress["match_index"])
    return lags


class _DLedgerProbe:
    """Lag of each follower of the leader elected when the load starts."""

    def __init__(
        self, admin: MQAdmin, leader: ProcessSpec, members: tuple[ProcessSpec, ...]
    ) -> None:
        self._admin = admin
        self._leader = leader
        self._members = members
        self.lost_leadership = False

    async def __call__(self) -> list[LagSample]:
        # All at once, so the leader's and the followers' offsets are read close together.
        status, *infos = await asyncio.gather(
            _raft_status(self._admin, self._leader),
            *(self._admin.get_broker_runtime_info(m.address) for m in self._members),
        )
        if status["role"] != "LEADER":
            # Sends fail over to the new leader (the Failed column shows it); lag
            # measured against a follower would mean nothing.
            self.lost_leadership = True
            return []
        offsets = {
            m.dledger_self_id: int(info["commitLogMaxOffset"])
            for m, info in zip(self._members, infos, strict=True)
        }
        return list(follower_lags(status, offsets, self._leader.dledger_self_id).values())


async def _wait_for_leader(admin: MQAdmin, members: tuple[ProcessSpec, ...]) -> ProcessSpec:
    """The writable leader, once both followers hold every entry it has."""
    deadline = time.monotonic() + SLAVE_CONNECT_LIMIT_SECONDS
    while time.monotonic() < deadline:
        # `cluster start` returned once every member was registered, so all answer.
        for member in members:
            status = await _raft_status(admin, member)
            peers = status["peers"]
            followers = [m.dledger_self_id for m in members if m is not member]
            if (
                status["role"] == "LEADER"
                and status["writable"]
                and all(f in peers for f in followers)
                and all(peers[f]["match_index"] == status["last_index"] for f in followers)
            ):
                return member
        await asyncio.sleep(0.1)
    raise click.ClickException(
        f"no writable DLedger leader with caught-up followers within "
        f"{SLAVE_CONNECT_LIMIT_SECONDS:g} s"
    )


async def _sample(probe: LagProbe, samples: list[LagSample], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples += await probe()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)


async def _catch_up_seconds(probe: LagProbe) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < CATCH_UP_LIMIT_SECONDS:
        lags = await probe()
        if lags and all(s.caught_up for s in lags):
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return None


async def _load(
    layout: Layout,
    namesrv: str,
    broker_pid: int,
    probe: LagProbe | None,
    duration: float,
    window: int,
) -> LayoutResult:
    """The producer load, with the probe sampled meanwhile and polled afterwards."""
    load = [
        sys.executable, "-m", "orbitmq", "bench", "producer", "-n", namesrv, "-t", TOPIC,
        "-s", "1024", "--mode", "async", "-w", str(window), "--duration", str(duration),
        "--broker-pid", str(broker_pid), "--json",
    ]  # fmt: skip
    samples: list[LagSample] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample(probe, samples, stop)) if probe else None
    proc = await asyncio.create_subprocess_exec(
        *load, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    stop.set()
    if sampler is not None:
        await sampler
    if proc.returncode != 0:
        raise click.ClickException(f"bench producer failed:\n{err.decode(errors='replace')}")
    catch_up = await _catch_up_seconds(probe) if probe else None
    summary = json.loads(out.decode().strip().splitlines()[-1])
    cpu = summary.get("broker_cpu") or {}
    lag_bytes = [s.bytes for s in samples]
    lag_entries = [s.entries for s in samples if s.entries is not None]
    return LayoutResult(
        layout=layout.name,
        tps=summary["tps"],
        p99_ms=summary["p99_rt_ms"],
        send_failed=summary["send_failed"] + summary["response_failed"],
        broker_cpu_us_per_msg=cpu.get("us_per_msg"),
        lag_max_bytes=max(lag_bytes) if lag_bytes else None,
        lag_mean_bytes=statistics.fmean(lag_bytes) if lag_bytes else None,
        lag_max_entries=max(lag_entries) if lag_entries else None,
        lag_mean_entries=statistics.fmean(lag_entries) if lag_entries else None,
        catch_up_s=catch_up,
    )


async def _measure_master(
    layout: Layout, plan: ClusterPlan, duration: float, window: int
) -> LayoutResult:
    master = plan.masters[0]
    async with MQAdmin(plan.namesrv_addr) as admin:
        probe = None
        if layout.replication == HA:
            await _wait_for_slave(admin, master.address)
            probe = functools.partial(_ha_lag, admin, master.address)
        pid = int(plan.pid_path(master).read_text())
        return await _load(layout, plan.namesrv_addr, pid, probe, duration, window)


async def _measure_dledger(
    layout: Layout, plan: ClusterPlan, duration: float, window: int
) -> LayoutResult:
    async with MQAdmin(plan.namesrv_addr) as admin:
        leader = await _wait_for_leader(admin, plan.dledger)
        probe = _DLedgerProbe(admin, leader, plan.dledger)
        pid = int(plan.pid_path(leader).read_text())
        result = await _load(layout, plan.namesrv_addr, pid, probe, duration, window)
    if probe.lost_leadership:
        click.echo(
            f"warning: {leader.dledger_self_id} lost leadership during the run; its lag "
            "samples after that were dropped and its CPU figure covers a deposed leader",
            err=True,
        )
    return result


@contextlib.contextmanager
def _cluster(folder: Path, home: Path, port_offset: int) -> Iterator[ClusterPlan]:
    """`orbitmq cluster start` the folder with the topic created; stop it afterwards."""
    where = ("--home", str(home), "--port-offset", str(port_offset))
    plan = load_plan(folder, home, port_offset, console_port=None)
    # No console: its collector's CPU would be counted with the brokers'.
    started = _orbitmq("cluster", "start", str(folder), *where, "--no-dashboard", timeout=120)
    try:
        if started.returncode != 0:
            raise click.ClickException(f"cluster start failed:\n{started.stdout}{started.stderr}")
        cluster_name = plan.brokers[0].cluster_name
        created = _orbitmq(
            "admin", "updateTopic", "-n", plan.namesrv_addr, "-c", cluster_name, "-t", TOPIC,
            "-r", "8", "-w", "8", timeout=60,
        )  # fmt: skip
        if created.returncode != 0:
            raise click.ClickException(f"updateTopic failed:\n{created.stderr}")
        yield plan
    finally:
        _orbitmq("cluster", "stop", str(folder), *where, timeout=120)


def run_layout(
    layout: Layout, duration: float, window: int, dledger_template: Path
) -> LayoutResult:
    with tempfile.TemporaryDirectory(prefix="orbitmq-bench-replication-") as work:
        home = Path(work) / "home"
        if layout.replication == DLEDGER:
            with _cluster(dledger_template, home, free_port_offset(dledger_template)) as plan:
                return asyncio.run(_measure_dledger(layout, plan, duration, window))
        folder = Path(work) / "template"
        _write_template(folder, layout, free_port(), _free_listen_port())
        with _cluster(folder, home, 0) as plan:
            return asyncio.run(_measure_master(layout, plan, duration, window))


def _format(results: list[LayoutResult]) -> str:
    def opt(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    rows = [
        "| Layout | Produce msg/s | p99 ms | Failed | Master (leader) CPU µs/msg "
        "| Lag max (bytes) | Lag mean (bytes) | Lag max (entries) | Lag mean (entries) "
        "| Catch-up after load (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        rows.append(
            f"| {r.layout} | {r.tps:,.0f} | {r.p99_ms:.2f} | {r.send_failed} "
            f"| {opt(r.broker_cpu_us_per_msg, '.1f')} | {opt(r.lag_max_bytes, ',')} "
            f"| {opt(r.lag_mean_bytes, ',.0f')} | {opt(r.lag_max_entries, ',')} "
            f"| {opt(r.lag_mean_entries, ',.1f')} | {opt(r.catch_up_s, '.2f')} |"
        )
    return "\n".join(rows)


@click.command(
    help="Produce TPS of a master alone, with an ASYNC slave, with a SYNC slave and of a "
    "three-member DLedger group, with each copy's lag."
)
@click.option("--duration", type=click.FloatRange(min=1), default=20.0, show_default=True)
@click.option("-w", "--window", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--layout",
    "layout_keys",
    multiple=True,
    type=click.Choice([layout.key for layout in LAYOUTS]),
    help="run only this layout (repeatable; default: all, in this order: "
    + ", ".join(layout.key for layout in LAYOUTS)
    + ")",
)
@click.option(
    "--dledger-template",
    type=click.Path(file_okay=False, path_type=Path),
    default=DLEDGER_TEMPLATE,
    show_default=True,
    help="folder of the DLedger group's broker files (started with a free --port-offset)",
)
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
def replication(
    duration: float,
    window: int,
    layout_keys: tuple[str, ...],
    dledger_template: Path,
    as_json: bool,
) -> None:
    layouts = [layout for layout in LAYOUTS if not layout_keys or layout.key in layout_keys]
    if any(layout.replication == DLEDGER for layout in layouts) and not dledger_template.is_dir():
        raise click.ClickException(f"no DLedger template folder at {dledger_template}")
    results = []
    for layout in layouts:
        click.echo(f"{layout.name}: {duration:g} s of 1 KiB sends, {window} in flight", err=True)
        results.append(run_layout(layout, duration, window, dledger_template))
        # Other work on the machine moves these figures; say how busy it was.
        click.echo(f"  load average (1 min) after it: {os.getloadavg()[0]:.2f}", err=True)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in results]))
    else:
        click.echo(_format(results))
