"""The hosts of a plan, for one `orbitmq cluster` command: a link to each, agent requests
fanned out host by host in parallel, and the hosts that could not be reached.

A host that cannot be reached (or has no agent) is remembered with the reason, reported
once, and skipped by the rest of the command, which goes on with the other hosts.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from orbitmq.cluster.errors import ClusterError
from orbitmq.cluster.remote import DEFAULT_CONNECT_TIMEOUT, HostLink, LocalLink, SshLink
from orbitmq.cluster.template import ClusterPlan, ProcessSpec

__all__ = ["Echo", "Fleet", "ProcessState", "host_label"]

Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ProcessState:
    spec: ProcessSpec
    pid: int | None  # None: not running, or not known (see reachable)
    reachable: bool = True


def host_label(host: str) -> str:
    return host or "this machine"


class Fleet:
    def __init__(
        self,
        plan: ClusterPlan,
        echo: Echo,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self.plan = plan
        self.echo = echo
        self.links: dict[str, HostLink] = {}
        inventory = plan.inventory
        for host in plan.hosts():
            if host and inventory is not None:
                entry = inventory.entry(host)
                self.links[host] = SshLink(entry, inventory.known_hosts, connect_timeout)
            else:
                self.links[host] = LocalLink()
        self.unreachable: dict[str, str] = {}  # host -> why

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(link.close() for link in self.links.values()))

    def reachable(self, spec: ProcessSpec) -> bool:
        return spec.host not in self.unreachable

    async def call(self, host: str, request: dict[str, Any], timeout: float) -> Any | None:
        """The agent's answer on `host`, or None once the host failed (reported once)."""
        if host in self.unreachable:
            return None
        try:
            return await self.links[host].call(
                {**request, "home": self.plan.home_of(host)}, timeout
            )
        except ClusterError as exc:
            if host not in self.unreachable:
                self.unreachable[host] = str(exc)
                self.echo(f"host {host_label(host)} failed: {exc}")
            return None

    async def per_host(
        self,
        specs: Iterable[ProcessSpec],
        request: Callable[[list[ProcessSpec]], dict[str, Any]],
        timeout: float,
    ) -> dict[str, tuple[list[ProcessSpec], Any | None]]:
        """`request(specs on the host)` on every host holding some of `specs`, all hosts
        at once; host -> (its specs, the agent's answer or None)."""
        by_host: dict[str, list[ProcessSpec]] = {}
        for spec in specs:
            by_host.setdefault(spec.host, []).append(spec)
        answers = await asyncio.gather(
            *(self.call(host, request(group), timeout) for host, group in by_host.items())
        )
        return {
            host: (group, answer)
            for (host, group), answer in zip(by_host.items(), answers, strict=True)
        }

    def rows(
        self, answers: dict[str, tuple[list[ProcessSpec], Any | None]], not_done: str
    ) -> tuple[list[tuple[ProcessSpec, dict[str, Any]]], list[ProcessSpec]]:
        """The agents' per-process rows of `per_host` answers, paired with their specs,
        and the specs of hosts that did not answer (echoed as `not_done` there)."""
        rows: list[tuple[ProcessSpec, dict[str, Any]]] = []
        missed: list[ProcessSpec] = []
        for host, (group, answer) in answers.items():
            if answer is None:
                missed += group
                names = ", ".join(s.label for s in group)
                self.echo(f"{not_done} on {host_label(host)} (unreachable): {names}")
                continue
            by_name = {row["name"]: row for row in answer}
            rows += [(spec, by_name[spec.name]) for spec in group]
        return rows, missed

    async def states(
        self, specs: Iterable[ProcessSpec], timeout: float = 30.0
    ) -> list[ProcessState]:
        """Which of `specs` run now (pid files checked against command lines)."""
        specs = list(specs)
        answers = await self.per_host(
            specs, lambda group: {"op": "status", "names": [s.name for s in group]}, timeout
        )
        pids: dict[tuple[str, str], int | None] = {}
        for host, (_group, answer) in answers.items():
            for row in answer or ():
                pids[host, row["name"]] = row["pid"]
        return [
            ProcessState(spec, pids.get((spec.host, spec.name)), self.reachable(spec))
            for spec in specs
        ]

    def live_plan(self) -> ClusterPlan:
        """The plan without the processes of unreachable hosts (what can be waited for)."""

        def keep(specs: tuple[ProcessSpec, ...]) -> tuple[ProcessSpec, ...]:
            return tuple(s for s in specs if self.reachable(s))

        plan = self.plan
        return dataclasses.replace(
            plan,
            namesrvs=keep(plan.namesrvs),
            masters=keep(plan.masters),
            slaves=keep(plan.slaves),
            dledger=keep(plan.dledger),
            consoles=keep(plan.consoles),
        )
