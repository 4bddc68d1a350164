"""A template folder (conf/2m-2s-async, …) as a plan of processes. Pure: reads files only.

A folder holds one RocketMQ broker `.properties` file per broker, as RocketMQ's
distribution does. The NameServers are not described separately: they are the
addresses in the brokers' `namesrvAddr`, one NameServer per distinct address.

Resolution against the cluster home (`--home`, default `$ORBITMQ_HOME` or ~/orbitmq):
  - a relative `storePathRootDir` / `storePathCommitLog` is HOME/<value>; `~` expands;
  - NameServer `host:port` keeps its kvConfig under HOME/namesrv-<port>/;
  - `port_offset` is added to every `listenPort`, `haListenPort`, namesrvAddr port and
    dLegerPeers port, so one folder can run twice on a machine (tests run it on free
    ports).
A broker file with enableDLegerCommitLog=true belongs to a DLedger group: its members
start together (no election without a majority) and the election, not the file, decides
which of them is brokerId 0; every member of the group must have its file in the folder.
Process names are stable whatever the offset: the broker file's stem (`broker-a-s`) and
`namesrv-<template port>`; pid files, logs and rendered configs are named after them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from orbitmq.broker.config import BrokerConfig, load_broker_config
from orbitmq.config_file import ConfigError, read_properties
from orbitmq.dledger.config import follower_broker_id, format_peers, parse_peers

__all__ = ["DLEDGER", "ClusterPlan", "ProcessSpec", "load_plan"]

NAMESRV = "NAMESRV"
CONSOLE = "CONSOLE"  # the web console, `orbitmq dashboard`
DEFAULT_CONSOLE_PORT = 8082
DLEDGER = "DLEDGER"  # the role of a DLedger group member: leader or follower by election


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One process of the plan, with the properties it is started from."""

    name: str
    kind: str  # "namesrv", "broker" or "dashboard": the `orbitmq` sub-command that runs it
    role: str  # NAMESRV, ASYNC_MASTER, SYNC_MASTER, SLAVE, DLEDGER or CONSOLE
    properties: dict[str, str]
    ports: tuple[int, ...]  # every port it binds
    address: str  # host:port clients reach it at
    broker_name: str = ""
    # DLEDGER: the id it has while a follower; as leader it registers as 0 instead.
    broker_id: int = 0
    cluster_name: str = ""
    dledger_self_id: str = ""  # DLEDGER only: dLegerSelfId


@dataclass(frozen=True, slots=True)
class ClusterPlan:
    template: Path
    home: Path
    namesrvs: tuple[ProcessSpec, ...]
    masters: tuple[ProcessSpec, ...]
    slaves: tuple[ProcessSpec, ...]
    dledger: tuple[ProcessSpec, ...] = ()  # members of DLedger groups, by group
    consoles: tuple[ProcessSpec, ...] = ()  # started once every broker is up

    @property
    def namesrv_addr(self) -> str:
        return ";".join(p.address for p in self.namesrvs)

    @property
    def brokers(self) -> tuple[ProcessSpec, ...]:
        return self.masters + self.dledger + self.slaves

    def start_tiers(self) -> list[tuple[ProcessSpec, ...]]:
        """NameServers, masters, DLedger members, slaves; a tier starts once the previous
        is up. All members of a DLedger group are one tier: none is elected alone."""
        tiers = (self.namesrvs, self.masters, self.dledger, self.slaves, self.consoles)
        return [t for t in tiers if t]

    def stop_tiers(self) -> list[tuple[ProcessSpec, ...]]:
        # Slaves first so none of them sees its master vanish and retries meanwhile.
        return self.start_tiers()[::-1]

    @property
    def processes(self) -> tuple[ProcessSpec, ...]:
        return self.namesrvs + self.brokers + self.consoles

    def dledger_groups(self) -> dict[str, tuple[ProcessSpec, ...]]:
        """brokerName -> the members of its DLedger group."""
        groups: dict[str, tuple[ProcessSpec, ...]] = {}
        for spec in self.dledger:
            groups[spec.broker_name] = (*groups.get(spec.broker_name, ()), spec)
        return groups

    def ports(self) -> list[int]:
        return sorted(port for p in self.processes for port in p.ports)

    def run_dir(self) -> Path:
        return self.home / "run"

    def log_dir(self) -> Path:
        return self.home / "logs"

    def config_path(self, spec: ProcessSpec) -> Path:
        return self.run_dir() / f"{spec.name}.properties"

    def pid_path(self, spec: ProcessSpec) -> Path:
        return self.run_dir() / f"{spec.name}.pid"

    def log_path(self, spec: ProcessSpec) -> Path:
        return self.log_dir() / f"{spec.name}.log"


def _resolve_path(value: str, home: Path) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else home / path)


def _shift_addresses(namesrv_addr: str, offset: int) -> str:
    shifted = []
    for address in (a.strip() for a in namesrv_addr.split(";")):
        if address:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"namesrvAddr entry {address!r} is not host:port")
            shifted.append(f"{host}:{int(port) + offset}")
    return ";".join(shifted)


def _shift_peers(dleger_peers: str, offset: int) -> str:
    peers = parse_peers(dleger_peers)
    return format_peers({i: (host, port + offset) for i, (host, port) in peers.items()})


def _broker_spec(path: Path, home: Path, offset: int) -> ProcessSpec:
    properties = read_properties(path)
    if not properties.get("namesrvAddr"):
        raise ConfigError(f"{path}: namesrvAddr is required in a cluster template")
    # Validate with the broker's own rules before anything is rewritten.
    try:
        template = load_broker_config(None, properties)
    except ConfigError as exc:
        raise ConfigError(f"{path.name}: {exc}") from exc
    properties["namesrvAddr"] = _shift_addresses(template.namesrv_addr, offset)
    properties["listenPort"] = str(template.listen_port + offset)
    if "haListenPort" in properties:
        properties["haListenPort"] = str(template.ha_listen_port + offset)
    if template.enable_dleger_commit_log:
        properties["dLegerPeers"] = _shift_peers(template.dleger_peers, offset)
    for key in ("storePathRootDir", "storePathCommitLog", "storePathDLedgerCommitLog"):
        if properties.get(key):
            properties[key] = _resolve_path(properties[key], home)
    if "storePathRootDir" not in properties:
        properties["storePathRootDir"] = template.store_path_root_dir
    config: BrokerConfig = load_broker_config(None, properties)
    dledger = config.dledger_config()
    # listenPort - 2 is the VIP channel RocketMQ clients may send to.
    ports = (config.listen_port - 2, config.listen_port)
    if dledger is None:
        return ProcessSpec(
            name=path.stem,
            kind="broker",
            role=config.broker_role,
            properties=properties,
            ports=(*ports, config.ha_listen_port),
            address=config.broker_addr,
            broker_name=config.broker_name,
            broker_id=config.broker_id,
            cluster_name=config.broker_cluster_name,
        )
    # No HA port in DLedger mode: replication runs on the member's dLegerPeers port.
    return ProcessSpec(
        name=path.stem,
        kind="broker",
        role=DLEDGER,
        properties=properties,
        ports=(*ports, dledger.self_address[1]),
        address=config.broker_addr,
        broker_name=config.broker_name,
        broker_id=follower_broker_id(dledger.self_id),
        cluster_name=config.broker_cluster_name,
        dledger_self_id=dledger.self_id,
    )


def _namesrv_spec(template_address: str, home: Path, offset: int) -> ProcessSpec:
    host, _, port_text = template_address.rpartition(":")
    port = int(port_text) + offset
    data_dir = home / f"namesrv-{port_text}"
    return ProcessSpec(
        name=f"namesrv-{port_text}",
        kind="namesrv",
        role=NAMESRV,
        properties={
            "listenPort": str(port),
            "kvConfigPath": str(data_dir / "kvConfig.json"),
            "configStorePath": str(data_dir / "namesrv.properties"),
        },
        ports=(port,),
        address=f"{host}:{port}",
    )


def _console_spec(namesrv_addr: str, home: Path, port: int) -> ProcessSpec:
    """The web console on this machine, with rocketmq-dashboard's key names."""
    return ProcessSpec(
        name="dashboard",
        kind="dashboard",
        role=CONSOLE,
        properties={
            "server.address": "127.0.0.1",
            "server.port": str(port),
            "rocketmq.config.namesrvAddr": namesrv_addr,
            "rocketmq.config.dataPath": str(home / "dashboard"),
        },
        ports=(port,),
        address=f"127.0.0.1:{port}",
    )


def _check(plan: ClusterPlan) -> None:
    """What would make the folder fail on one machine, caught before anything starts."""
    owners: dict[int, str] = {}
    for spec in plan.processes:
        for port in spec.ports:
            if port in owners:
                raise ConfigError(f"port {port} is used by both {owners[port]} and {spec.name}")
            owners[port] = spec.name
    stores: dict[str, str] = {}
    for spec in plan.brokers:
        for key, store in _store_paths(spec):
            if store in stores:
                raise ConfigError(f"{stores[store]} and {spec.name} share {key} {store}")
            stores[store] = spec.name
    seen: dict[tuple[str, int], str] = {}
    for spec in plan.brokers:
        key = (spec.broker_name, spec.broker_id)
        if key in seen:
            raise ConfigError(
                f"{seen[key]} and {spec.name} are both {spec.broker_name} brokerId={spec.broker_id}"
            )
        seen[key] = spec.name
    master_names = {m.broker_name for m in plan.masters}
    for spec in plan.slaves:
        if spec.broker_name not in master_names:
            raise ConfigError(f"{spec.name}: no master for broker set {spec.broker_name}")
    for broker_name, members in plan.dledger_groups().items():
        _check_dledger_group(plan, broker_name, members)


def _store_paths(spec: ProcessSpec) -> list[tuple[str, str]]:
    """(key, normalised path) of each directory the broker owns alone."""
    paths = [("storePathRootDir", os.path.normpath(spec.properties["storePathRootDir"]))]
    dledger_dir = spec.properties.get("storePathDLedgerCommitLog")
    if spec.role == DLEDGER and dledger_dir:
        # The default, <storePathRootDir>/dledger-<selfId>, is unique with the root.
        paths.append(("storePathDLedgerCommitLog", os.path.normpath(dledger_dir)))
    return paths


def _group_identity(spec: ProcessSpec) -> tuple[str, str, str]:
    """What every member of a group must agree on, as the broker reads it (an absent
    dLegerGroup is the brokerName; dLegerPeers was normalised by _shift_peers)."""
    group = spec.properties.get("dLegerGroup") or spec.broker_name
    return spec.cluster_name, group, spec.properties["dLegerPeers"]


def _check_dledger_group(
    plan: ClusterPlan, broker_name: str, members: tuple[ProcessSpec, ...]
) -> None:
    """One brokerName, one Raft group: same peers everywhere, a file for every peer."""
    classic = [s.name for s in plan.masters + plan.slaves if s.broker_name == broker_name]
    if classic:
        raise ConfigError(
            f"broker set {broker_name} mixes DLedger members ({members[0].name}) with "
            f"classic brokers ({', '.join(classic)})"
        )
    first = members[0]
    for spec in members[1:]:
        for key, mine, theirs in zip(
            ("brokerClusterName", "dLegerGroup", "dLegerPeers"),
            _group_identity(first),
            _group_identity(spec),
            strict=True,
        ):
            if mine != theirs:
                raise ConfigError(
                    f"{first.name} and {spec.name} are both in broker set {broker_name} "
                    f"but differ in {key}"
                )
    files = {spec.dledger_self_id: spec.name for spec in members}
    for peer_id in parse_peers(first.properties["dLegerPeers"]):
        if peer_id not in files:
            raise ConfigError(
                f"dLegerPeers of {broker_name} lists {peer_id}, but no file of the folder "
                f"has dLegerSelfId={peer_id}; a group on one machine needs all its members"
            )


def load_plan(
    template: str | os.PathLike[str],
    home: str | os.PathLike[str],
    port_offset: int = 0,
    console_port: int | None = DEFAULT_CONSOLE_PORT,
) -> ClusterPlan:
    """Read every `*.properties` in `template` and resolve it for a cluster at `home`,
    with the web console on `console_port` (moved by `port_offset` too; None: none).

    Raises:
        ConfigError: the folder has no broker file, a file does not load, or two
            processes would share a port, a store path or a (brokerName, brokerId).
    """
    folder = Path(template)
    home_path = Path(home).expanduser().absolute()
    files = sorted(folder.glob("*.properties"))
    if not files:
        raise ConfigError(f"{folder}: no broker .properties files")
    brokers = [_broker_spec(f, home_path, port_offset) for f in files]
    template_addresses: list[str] = []
    for path in files:
        for address in read_properties(path)["namesrvAddr"].split(";"):
            if address.strip() and address.strip() not in template_addresses:
                template_addresses.append(address.strip())
    ports = [a.rpartition(":")[2] for a in template_addresses]
    if len(set(ports)) < len(ports):
        # host1:9876;host2:9876 is a multi-host file: those NameServers run on their hosts.
        raise ConfigError(
            f"namesrvAddr {';'.join(template_addresses)} names several hosts; "
            "`orbitmq cluster` starts NameServers on this machine only"
        )
    namesrvs = sorted(
        (_namesrv_spec(a, home_path, port_offset) for a in template_addresses),
        key=lambda s: s.ports,
    )
    plan = ClusterPlan(
        template=folder,
        home=home_path,
        namesrvs=tuple(namesrvs),
        masters=tuple(
            sorted((b for b in brokers if b.role not in ("SLAVE", DLEDGER)), key=_broker_order)
        ),
        slaves=tuple(sorted((b for b in brokers if b.role == "SLAVE"), key=_broker_order)),
        dledger=tuple(sorted((b for b in brokers if b.role == DLEDGER), key=_broker_order)),
    )
    if console_port is not None:
        console = _console_spec(plan.namesrv_addr, home_path, console_port + port_offset)
        plan = dataclasses.replace(plan, consoles=(console,))
    _check(plan)
    return plan


def _broker_order(spec: ProcessSpec) -> tuple[str, int]:
    return spec.broker_name, spec.broker_id
