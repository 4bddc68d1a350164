"""Run a ClusterPlan: start tier by tier, wait for registration, stop in reverse.

Theory of operation: every process writes its pid to HOME/run/<name>.pid as soon as it
is spawned, so whatever has been started can always be found and stopped again, by
this call on failure or by `cluster stop` from another shell. A start only succeeds once
every broker shows up in GET_BROKER_CLUSTER_INFO of every NameServer, and every DLedger
group has a leader there (readiness.py has the rule).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import javaproperties

from orbitmq.admin.commands.cluster import cluster_rows
from orbitmq.admin.formatting import cluster_list_lines
from orbitmq.client.admin import ClusterInfo, MQAdmin
from orbitmq.cluster.errors import ClusterError
from orbitmq.cluster.processes import is_running, log_tail, read_pid, spawn, terminate
from orbitmq.cluster.readiness import registration_problems
from orbitmq.cluster.template import ClusterPlan, ProcessSpec
from orbitmq.dledger.config import parse_peers

__all__ = [
    "ProcessState",
    "cluster_table",
    "process_states",
    "process_table",
    "start_cluster",
    "stop_cluster",
]

# What each server prints once it listens (orbitmq/cli.py).
BOOT_MARKERS = {
    "namesrv": b"The Name Server boot success",
    "broker": b"boot success",
    "dashboard": b"The console boot success",
}
PROCESS_FORMAT = "%-14s  %-13s  %-8s  %-8s  %-22s  %s"
Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ProcessState:
    spec: ProcessSpec
    pid: int | None  # None: not running


@dataclass(frozen=True, slots=True)
class _Child:
    spec: ProcessSpec
    process: subprocess.Popen[bytes]
    log_start: int  # its log's size before it started: older runs' boot lines don't count


def process_states(plan: ClusterPlan) -> list[ProcessState]:
    states = []
    for spec in plan.processes:
        pid = read_pid(plan.pid_path(spec))
        running = pid is not None and is_running(pid, plan.config_path(spec))
        states.append(ProcessState(spec, pid if running else None))
    return states


def process_table(plan: ClusterPlan, states: list[ProcessState]) -> list[str]:
    lines = [PROCESS_FORMAT % ("#Process", "#Role", "#PID", "#State", "#Addr", "#Log")]
    for state in states:
        spec = state.spec
        lines.append(
            PROCESS_FORMAT
            % (
                spec.name,
                spec.role,
                state.pid or "-",
                "running" if state.pid else "stopped",
                spec.address,
                plan.log_path(spec),
            )
        )
    return lines


async def cluster_table(namesrv_addr: str) -> list[str]:
    """The `mqadmin clusterList` table as the NameServers see the cluster now."""
    async with MQAdmin(namesrv_addr) as admin:
        rows = await cluster_rows(admin)
    return cluster_list_lines(rows, time.time_ns() // 1_000_000)


def _check_can_start(plan: ClusterPlan) -> None:
    running = [s.spec.name for s in process_states(plan) if s.pid]
    if running:
        raise ClusterError(
            f"already running under {plan.home}: {', '.join(running)}; "
            f"stop it first with `orbitmq cluster stop {plan.template}`"
        )
    for spec in plan.namesrvs:
        host = spec.address.rpartition(":")[0]
        if not _can_bind(host, 0):
            raise ClusterError(
                f"NameServer {spec.address} is not on this machine; start it there with "
                "mqnamesrv (remote hosts over ssh are not supported yet)"
            )
    for spec in plan.dledger:
        host, port = parse_peers(spec.properties["dLegerPeers"])[spec.dledger_self_id]
        if not _can_bind(host, 0):
            raise ClusterError(
                f"{spec.name}: its dLegerPeers address {host}:{port} is not on this machine "
                "(remote hosts over ssh are not supported yet)"
            )
    for spec in plan.processes:
        for port in spec.ports:
            if not _can_bind("0.0.0.0", port):
                raise ClusterError(f"port {port} needed by {spec.name} is in use")


def _can_bind(host: str, port: int) -> bool:
    with socket.socket() as sock:
        # As asyncio servers do, so a port held only by TIME_WAIT sockets counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _write_config(plan: ClusterPlan, spec: ProcessSpec) -> None:
    path = plan.config_path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        javaproperties.dump(
            spec.properties,
            fh,
            comments=f" written by `orbitmq cluster start` from {plan.template}",
            timestamp=False,
        )


def _log_size(plan: ClusterPlan, spec: ProcessSpec) -> int:
    path = plan.log_path(spec)
    return path.stat().st_size if path.exists() else 0


def _booted(plan: ClusterPlan, spec: ProcessSpec, log_start: int) -> bool:
    with open(plan.log_path(spec), "rb") as fh:
        fh.seek(log_start)
        return BOOT_MARKERS[spec.kind] in fh.read()


def _failure(plan: ClusterPlan, spec: ProcessSpec, what: str) -> ClusterError:
    return _failure_with_log(plan, spec, f"{spec.name} {what}")


def _failure_with_log(plan: ClusterPlan, spec: ProcessSpec, message: str) -> ClusterError:
    log = plan.log_path(spec)
    return ClusterError(f"{message}; last lines of {log}:\n{log_tail(log)}")


def _wait_booted(plan: ClusterPlan, children: list[_Child], deadline: float) -> None:
    waiting = list(children)
    while waiting:
        for child in list(waiting):
            if _booted(plan, child.spec, child.log_start):
                waiting.remove(child)
            elif (code := child.process.poll()) is not None:
                raise _failure(plan, child.spec, f"exited with code {code} while starting")
        if waiting and time.monotonic() > deadline:
            raise _failure(plan, waiting[0].spec, "did not finish booting in time")
        time.sleep(0.05)


async def _cluster_info(admin: MQAdmin) -> ClusterInfo | None:
    try:
        return await admin.cluster_info()
    except Exception:
        return None  # not answering yet: retried until the deadline decides


async def _wait_registered(plan: ClusterPlan, deadline: float) -> None:
    async with contextlib.AsyncExitStack() as stack:
        admins = {
            n.address: await stack.enter_async_context(MQAdmin(n.address)) for n in plan.namesrvs
        }
        while True:
            # Every NameServer in one round: a DLedger failover between two rounds could
            # otherwise leave one NameServer's earlier "ready" stale.
            infos = {address: await _cluster_info(admin) for address, admin in admins.items()}
            problems = registration_problems(plan, infos)
            if not problems:
                return
            if time.monotonic() > deadline:
                raise _failure_with_log(plan, problems[0].spec, problems[0].message)
            await asyncio.sleep(0.2)


def start_cluster(plan: ClusterPlan, timeout: float, echo: Echo) -> None:
    """Start NameServers, masters, DLedger groups, then slaves; return once all brokers
    are registered and every DLedger group has a leader.

    On failure whatever was started is stopped again before the error propagates.

    Raises:
        ClusterError: something of the plan runs already, a port is taken, or a process
            exits, does not boot or does not register within `timeout` seconds.
    """
    _check_can_start(plan)
    deadline = time.monotonic() + timeout
    try:
        for tier in plan.start_tiers():
            children = []
            for spec in tier:
                _write_config(plan, spec)
                log_start = _log_size(plan, spec)
                process = spawn(spec.kind, plan.config_path(spec), plan.log_path(spec), plan.home)
                plan.pid_path(spec).write_text(f"{process.pid}\n")
                children.append(_Child(spec, process, log_start))
            _wait_booted(plan, children, deadline)
            for child in children:
                spec = child.spec
                echo(
                    f"started {spec.name} ({spec.role}, pid {child.process.pid}) on {spec.address}"
                )
        asyncio.run(_wait_registered(plan, deadline))
    except BaseException:
        echo("start failed; stopping what was started")
        stop_cluster(plan, timeout=10.0, echo=echo)
        raise


def stop_cluster(plan: ClusterPlan, timeout: float, echo: Echo) -> None:
    """SIGTERM slaves, DLedger groups, masters, then NameServers; SIGKILL after
    `timeout` seconds."""
    for tier in plan.stop_tiers():
        pids: dict[int, ProcessSpec] = {}
        for spec in tier:
            pid = read_pid(plan.pid_path(spec))
            if pid is not None and is_running(pid, plan.config_path(spec)):
                pids[pid] = spec
            else:
                plan.pid_path(spec).unlink(missing_ok=True)
        killed = terminate({pid: plan.config_path(s) for pid, s in pids.items()}, timeout)
        for pid, spec in pids.items():
            how = f"killed after {timeout:g}s" if pid in killed else "stopped"
            echo(f"{how} {spec.name} (pid {pid})")
            plan.pid_path(spec).unlink(missing_ok=True)
