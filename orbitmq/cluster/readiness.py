"""When `orbitmq cluster start` may call a cluster up: the waiting rule. Pure: it reads
GET_BROKER_CLUSTER_INFO answers that control.py fetched.

A classic broker is ready once every NameServer lists its address under its brokerName
and configured brokerId. A DLedger member's id is not in its file: the election decides
it, and it changes on failover. A DLedger group is ready once every NameServer lists the
address of every member under the group's brokerName (any id), one member's address as
brokerId 0 (the leader), and all NameServers name the same leader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orbitmq.client.admin import ClusterInfo
from orbitmq.client.route import MASTER_ID
from orbitmq.cluster.template import ClusterPlan, ProcessSpec

__all__ = ["Unready", "registration_problems"]


@dataclass(frozen=True, slots=True)
class Unready:
    """Why the cluster is not up yet."""

    spec: ProcessSpec  # the process whose log most likely tells why
    message: str  # a sentence naming the process and the NameServer


def _addresses(info: ClusterInfo, spec: ProcessSpec) -> dict[int, str]:
    """The brokerId -> address table of spec's broker set, if its cluster lists it."""
    if spec.broker_name not in info.cluster_addr_table.get(spec.cluster_name, []):
        return {}
    broker = info.broker_addr_table.get(spec.broker_name)
    return broker.broker_addrs if broker is not None else {}


def _classic_problems(plan: ClusterPlan, namesrv: str, info: ClusterInfo) -> list[Unready]:
    return [
        Unready(spec, f"{spec.name} is not registered with NameServer {namesrv}")
        for spec in plan.masters + plan.slaves
        if _addresses(info, spec).get(spec.broker_id) != spec.address
    ]


def _group_problems(
    members: tuple[ProcessSpec, ...], namesrv: str, info: ClusterInfo
) -> list[Unready]:
    addrs = _addresses(info, members[0])
    registered = set(addrs.values())
    problems = [
        Unready(spec, f"{spec.name} is not registered with NameServer {namesrv}")
        for spec in members
        if spec.address not in registered
    ]
    if addrs.get(MASTER_ID) not in {spec.address for spec in members}:
        first = members[0]
        problems.append(
            Unready(
                first,
                f"no member of DLedger group {first.broker_name} "
                f"({', '.join(s.name for s in members)}) is registered as leader "
                f"(brokerId {MASTER_ID}) with NameServer {namesrv}: no leader elected yet",
            )
        )
    return problems


def _leader_disagreement(
    members: tuple[ProcessSpec, ...], infos: Mapping[str, ClusterInfo | None]
) -> list[Unready]:
    """NameServers that name different leaders: one of them has not heard the last
    role change yet."""
    by_address = {spec.address: spec for spec in members}
    leaders: dict[str, str] = {}
    for namesrv, info in infos.items():
        leader = _addresses(info, members[0]).get(MASTER_ID) if info is not None else None
        if leader is not None and leader in by_address:
            leaders[namesrv] = leader
    if len(set(leaders.values())) <= 1:
        return []
    listing = "; ".join(f"{namesrv} lists {leader}" for namesrv, leader in leaders.items())
    first_leader = by_address[next(iter(leaders.values()))]
    return [
        Unready(
            first_leader,
            f"NameServers disagree on the leader of DLedger group {first_leader.broker_name}: "
            f"{listing}",
        )
    ]


def registration_problems(
    plan: ClusterPlan, infos: Mapping[str, ClusterInfo | None]
) -> list[Unready]:
    """Everything that keeps the plan's brokers from counting as up.

    Args:
        plan: the cluster being started.
        infos: each NameServer address of the plan -> its GET_BROKER_CLUSTER_INFO
            answer, or None when it did not answer.

    Returns:
        The problems, NameServer by NameServer; empty when the cluster is up.
    """
    problems: list[Unready] = []
    groups = plan.dledger_groups()
    for namesrv in plan.namesrvs:
        info = infos.get(namesrv.address)
        if info is None:
            problems.append(
                Unready(
                    namesrv, f"NameServer {namesrv.address} does not answer GET_BROKER_CLUSTER_INFO"
                )
            )
            continue
        problems += _classic_problems(plan, namesrv.address, info)
        for members in groups.values():
            problems += _group_problems(members, namesrv.address, info)
    for members in groups.values():
        problems += _leader_disagreement(members, infos)
    return problems
