"""Run a ClusterPlan: start tier by tier, wait for registration, stop in reverse.

Theory of operation: each host keeps its processes' pid files, configs and logs under its
own home (agent.py), so whatever has been started can always be found and stopped again,
by this call on failure or by `cluster stop` from another shell or machine. Within a tier
every host works at once; a tier starts once the previous one has booted. A start only
succeeds once every broker shows up in GET_BROKER_CLUSTER_INFO of every NameServer, and
every DLedger group has a leader there (readiness.py has the rule).

Failures: a process that fails to start ends the start (what this call started is
stopped again, and its log's tail is shown). A host that cannot be reached does not: its
processes are reported, the rest starts, and the start ends as degraded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from orbitmq.admin.commands.cluster import cluster_rows
from orbitmq.admin.formatting import cluster_list_lines
from orbitmq.client.admin import ClusterInfo, MQAdmin
from orbitmq.cluster.errors import ClusterError
from orbitmq.cluster.fleet import Echo, Fleet, ProcessState
from orbitmq.cluster.processes import can_bind
from orbitmq.cluster.readiness import registration_problems
from orbitmq.cluster.remote import DEFAULT_CONNECT_TIMEOUT
from orbitmq.cluster.template import ClusterPlan, ProcessSpec
from orbitmq.dledger.config import parse_peers

__all__ = [
    "StartOutcome",
    "StopOutcome",
    "cluster_table",
    "process_states",
    "process_table",
    "start_cluster",
    "start_processes",
    "stop_cluster",
    "stop_processes",
]

PROCESS_FORMAT = "%-22s  %-13s  %-8s  %-11s  %-22s  %s"


@dataclass(slots=True)
class StartOutcome:
    started: list[ProcessSpec] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)  # host -> why

    @property
    def degraded(self) -> bool:
        return bool(self.unreachable)


@dataclass(slots=True)
class StopOutcome:
    left: list[ProcessSpec] = field(default_factory=list)  # may still run
    unreachable: dict[str, str] = field(default_factory=dict)


def process_states(
    plan: ClusterPlan, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> list[ProcessState]:
    async def states() -> list[ProcessState]:
        async with Fleet(plan, lambda _line: None, connect_timeout) as fleet:
            return await fleet.states(plan.processes)

    return asyncio.run(states())


def _log_where(plan: ClusterPlan, spec: ProcessSpec) -> str:
    if not spec.host:
        return str(plan.log_path(spec))
    return f"{spec.host}:{plan.home_of(spec.host)}/logs/{spec.name}.log"


def process_table(plan: ClusterPlan, states: list[ProcessState]) -> list[str]:
    lines = [PROCESS_FORMAT % ("#Process", "#Role", "#PID", "#State", "#Addr", "#Log")]
    for state in states:
        spec = state.spec
        status = "running" if state.pid else "stopped"
        if not state.reachable:
            status = "unreachable"
        lines.append(
            PROCESS_FORMAT
            % (
                spec.label,
                spec.role,
                state.pid or "-",
                status,
                spec.address,
                _log_where(plan, spec),
            )
        )
    return lines


async def cluster_table(namesrv_addr: str) -> list[str]:
    """The `mqadmin clusterList` table as the NameServers see the cluster now."""
    async with MQAdmin(namesrv_addr) as admin:
        rows = await cluster_rows(admin)
    return cluster_list_lines(rows, time.time_ns() // 1_000_000)


def _check_local_addresses(plan: ClusterPlan) -> None:
    """Without a hosts file every process runs here: its addresses must be this machine's."""
    if plan.inventory is not None:
        return
    for spec in plan.namesrvs:
        host = spec.address.rpartition(":")[0]
        if not can_bind(host):
            raise ClusterError(
                f"NameServer {spec.address} is not on this machine; add a hosts file "
                f"({plan.template}/hosts) to start it there over ssh"
            )
    for spec in plan.dledger:
        host, port = parse_peers(spec.properties["dLegerPeers"])[spec.dledger_self_id]
        if not can_bind(host):
            raise ClusterError(
                f"{spec.name}: its dLegerPeers address {host}:{port} is not on this machine; "
                f"add a hosts file ({plan.template}/hosts) to start it there over ssh"
            )


def _start_request(plan: ClusterPlan, specs: list[ProcessSpec], timeout: float) -> dict:
    return {
        "op": "start",
        "origin": f"`orbitmq cluster start` from {plan.template}",
        "timeout": timeout,
        "processes": [
            {"name": s.name, "kind": s.kind, "properties": s.properties, "ports": list(s.ports)}
            for s in specs
        ],
    }


def _failure_message(spec: ProcessSpec, row: dict) -> str:
    message = f"{spec.name} {row['message']}"
    if "log_tail" in row:
        message += f"; last lines of {row['log']}:\n{row['log_tail']}"
    if spec.host:
        message += f"\n(on host {spec.host})"
    return message


async def _cluster_info(admin: MQAdmin) -> ClusterInfo | None:
    try:
        return await admin.cluster_info()
    except Exception:
        return None  # not answering yet: retried until the deadline decides


async def wait_registered(plan: ClusterPlan, deadline: float) -> None:
    """Until every broker of `plan` is registered (readiness.py).

    Raises:
        ClusterError: not so by `deadline` (time.monotonic()); names the first problem.
    """
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
                raise ClusterError(problems[0].message)
            await asyncio.sleep(0.2)


async def start_processes(
    fleet: Fleet, specs: list[ProcessSpec], deadline: float, outcome: StartOutcome
) -> None:
    """Start `specs` (one tier) on their hosts at once and wait for them to boot.

    Raises:
        ClusterError: a process exited or did not boot; the message has its log's tail.
    """
    plan = fleet.plan
    answers = await fleet.per_host(
        specs,
        lambda group: _start_request(plan, group, max(1.0, deadline - time.monotonic())),
        max(5.0, deadline - time.monotonic()) + 30.0,
    )
    failures = []
    rows, missed = fleet.rows(answers, "not started")
    for spec in missed:
        outcome.unreachable[spec.host] = fleet.unreachable[spec.host]
    for spec, row in rows:
        if row["state"] == "running":
            fleet.echo(f"already running {spec.label} (pid {row['pid']}) on {spec.address}")
        elif row["state"] == "started":
            outcome.started.append(spec)
            fleet.echo(f"started {spec.label} ({spec.role}, pid {row['pid']}) on {spec.address}")
        else:
            if row.get("pid"):
                outcome.started.append(spec)  # spawned but not booted: stop it again
            failures.append(_failure_message(spec, row))
    if failures:
        raise ClusterError("\n".join(failures))


async def _start(
    plan: ClusterPlan, timeout: float, echo: Echo, connect_timeout: float
) -> StartOutcome:
    _check_local_addresses(plan)
    outcome = StartOutcome()
    async with Fleet(plan, echo, connect_timeout) as fleet:
        states = await fleet.states(plan.processes)
        reachable = [s for s in states if s.reachable]
        if reachable and all(s.pid for s in reachable):
            raise ClusterError(
                f"already running: {', '.join(s.spec.label for s in reachable)}; "
                f"stop it first with `orbitmq cluster stop {plan.template}`"
            )
        deadline = time.monotonic() + timeout
        try:
            for tier in plan.start_tiers():
                await start_processes(fleet, list(tier), deadline, outcome)
            live = fleet.live_plan()
            if live.namesrvs:
                await wait_registered(live, deadline)
        except BaseException:
            echo("start failed; stopping what was started")
            await _stop_specs(fleet, plan.stop_tiers(), 10.0, {s.label for s in outcome.started})
            raise
        outcome.unreachable = dict(fleet.unreachable)
    return outcome


def start_cluster(
    plan: ClusterPlan,
    timeout: float,
    echo: Echo,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> StartOutcome:
    """Start NameServers, masters, DLedger groups, then slaves; return once every broker
    that could be started is registered and every DLedger group has a leader.

    Raises:
        ClusterError: everything runs already, an address is not this machine's (without
            a hosts file), or a process exits, does not boot or does not register within
            `timeout` seconds; what this call started is stopped again first.
    """
    return asyncio.run(_start(plan, timeout, echo, connect_timeout))


async def _stop_specs(
    fleet: Fleet,
    tiers: list[tuple[ProcessSpec, ...]],
    timeout: float,
    only: set[str] | None = None,
) -> StopOutcome:
    """Stop tier by tier; with `only`, just the processes of those labels."""
    outcome = StopOutcome()
    for tier in tiers:
        specs = [s for s in tier if only is None or s.label in only]
        if specs:
            await stop_processes(fleet, specs, timeout, outcome)
    outcome.unreachable = dict(fleet.unreachable)
    return outcome


async def stop_processes(
    fleet: Fleet, specs: list[ProcessSpec], timeout: float, outcome: StopOutcome
) -> None:
    """SIGTERM `specs` on their hosts at once; SIGKILL after `timeout` seconds."""
    answers = await fleet.per_host(
        specs,
        lambda group: {"op": "stop", "names": [s.name for s in group], "timeout": timeout},
        timeout + 30.0,
    )
    rows, missed = fleet.rows(answers, "not stopped")
    outcome.left += missed
    for spec, row in rows:
        if row["outcome"] == "stopped":
            fleet.echo(f"stopped {spec.label} (pid {row['pid']})")
        elif row["outcome"] == "killed":
            fleet.echo(f"killed after {timeout:g}s {spec.label} (pid {row['pid']})")
        elif row["outcome"] == "still running":
            outcome.left.append(spec)
            fleet.echo(f"could not stop {spec.label} (pid {row['pid']})")


def stop_cluster(
    plan: ClusterPlan,
    timeout: float,
    echo: Echo,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> StopOutcome:
    """SIGTERM the console, slaves, DLedger groups, masters, then NameServers; SIGKILL
    after `timeout` seconds. Only processes started from the plan's configs are signalled.
    """

    async def stop() -> StopOutcome:
        async with Fleet(plan, echo, connect_timeout) as fleet:
            return await _stop_specs(fleet, plan.stop_tiers(), timeout)

    return asyncio.run(stop())
