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

With a hosts file (hosts.py) each process runs on the host whose address it uses (a
broker's brokerIP1, a NameServer's namesrvAddr entry), and relative paths resolve against
that host's `home`. A file with brokersPerHost=N stands for N broker sets on its host.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from orbitmq.broker.config import BrokerConfig, load_broker_config
from orbitmq.cluster.hosts import HOSTS_FILE, Inventory, load_inventory
from orbitmq.config_file import ConfigError, read_properties
from orbitmq.dledger.config import follower_broker_id, format_peers, parse_peers

__all__ = ["DLEDGER", "ClusterPlan", "ProcessSpec", "load_plan"]

NAMESRV = "NAMESRV"
CONSOLE = "CONSOLE"  # the web console, `orbitmq dashboard`
DEFAULT_CONSOLE_PORT = 8082
DLEDGER = "DLEDGER"  # the role of a DLedger group member: leader or follower by election
BROKERS_PER_HOST = "brokersPerHost"  # several broker sets from one file (_broker_instances)
INSTANCE_PORT_STEP = 10  # listenPort-2 .. listenPort+1 per broker, as in the conf/ templates
_STORE_PATH_KEYS = ("storePathRootDir", "storePathCommitLog", "storePathDLedgerCommitLog")


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
    host: str = ""  # the hosts-file address it runs on; "": this machine

    @property
    def label(self) -> str:
        """Unique within a plan: NameServers on several hosts share a name."""
        return f"{self.name}@{self.host}" if self.host and self.kind == "namesrv" else self.name


@dataclass(frozen=True, slots=True)
class ClusterPlan:
    template: Path
    home: Path
    namesrvs: tuple[ProcessSpec, ...]
    masters: tuple[ProcessSpec, ...]
    slaves: tuple[ProcessSpec, ...]
    dledger: tuple[ProcessSpec, ...] = ()  # members of DLedger groups, by group
    consoles: tuple[ProcessSpec, ...] = ()  # started once every broker is up
    inventory: Inventory | None = None  # DIR/hosts; None: every process on this machine

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

    def hosts(self) -> list[str]:
        """Every host of the plan ("" for this machine), in start order."""
        return list(dict.fromkeys(spec.host for spec in self.processes))

    def home_of(self, host: str) -> str:
        """The OrbitMQ home of a host, as its shell reads it."""
        if not host or self.inventory is None:
            return str(self.home)
        return self.inventory.entry(host).home

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


def _resolve_path(value: str, home: str, local: bool) -> str:
    """`home` is this machine's absolute home, or a remote one as its shell reads it
    (`~` there is the remote user's home: left for the remote side to expand)."""
    if local:
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else Path(home) / path)
    if value.startswith(("/", "~")):
        return value
    return f"{home.rstrip('/')}/{value}"


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


def _host_of(address: str) -> str:
    return address.rpartition(":")[0]


@dataclass(frozen=True, slots=True)
class _Placement:
    """Where the plan's processes go: this machine, or the hosts of an inventory."""

    local_home: Path
    inventory: Inventory | None

    def host(self, address: str) -> str:
        """The host that runs the process using `address` ("" for this machine).

        Raises:
            ConfigError: the hosts file has no line for the address's host.
        """
        if self.inventory is None:
            return ""
        host = _host_of(address)
        self.inventory.entry(host)
        return host

    def home(self, host: str) -> str:
        if not host or self.inventory is None:
            return str(self.local_home)
        return self.inventory.entry(host).home


def _broker_instances(path: Path, placement: _Placement, offset: int) -> list[ProcessSpec]:
    """The file's broker, or with brokersPerHost=N its N broker sets (docs/deployment.md):
    instance k is `<brokerName>-k` on listenPort+10k (and haListenPort, dLegerPeers ports
    +10k), storing under `<storePathRootDir>-k`, with dLegerGroup `<group>-k`."""
    properties = read_properties(path)
    per_host_text = properties.pop(BROKERS_PER_HOST, "1")
    if not per_host_text.isdigit() or int(per_host_text) < 1:
        raise ConfigError(f"{path.name}: {BROKERS_PER_HOST}={per_host_text} is not a count >= 1")
    per_host = int(per_host_text)
    if per_host == 1:
        return [_broker_spec(path.stem, path.name, properties, placement, offset)]
    try:
        base = load_broker_config(None, dict(properties))
    except ConfigError as exc:
        raise ConfigError(f"{path.name}: {exc}") from exc
    instances = []
    for k in range(per_host):
        copy = dict(properties)
        shift = k * INSTANCE_PORT_STEP
        copy["brokerName"] = f"{base.broker_name}-{k}"
        copy["listenPort"] = str(base.listen_port + shift)
        if "haListenPort" in copy:
            copy["haListenPort"] = str(base.ha_listen_port + shift)
        if copy.get("dLegerPeers"):
            copy["dLegerPeers"] = _shift_peers(copy["dLegerPeers"], shift)
            copy["dLegerGroup"] = f"{base.dleger_group or base.broker_name}-{k}"
        for key in _STORE_PATH_KEYS:
            if copy.get(key):
                copy[key] = f"{copy[key].rstrip('/')}-{k}"
        if not copy.get("storePathRootDir"):
            copy["storePathRootDir"] = f"~/store-{k}"
        spec = _broker_spec(f"{path.stem}-{k}", path.name, copy, placement, offset)
        instances.append(spec)
    return instances


def _broker_spec(
    name: str, file_name: str, properties: dict[str, str], placement: _Placement, offset: int
) -> ProcessSpec:
    if not properties.get("namesrvAddr"):
        raise ConfigError(f"{file_name}: namesrvAddr is required in a cluster template")
    # Validate with the broker's own rules before anything is rewritten.
    try:
        template = load_broker_config(None, properties)
    except ConfigError as exc:
        raise ConfigError(f"{file_name}: {exc}") from exc
    host = placement.host(template.broker_addr)
    home = placement.home(host)
    properties["namesrvAddr"] = _shift_addresses(template.namesrv_addr, offset)
    properties["listenPort"] = str(template.listen_port + offset)
    if "haListenPort" in properties:
        properties["haListenPort"] = str(template.ha_listen_port + offset)
    if template.enable_dleger_commit_log:
        properties["dLegerPeers"] = _shift_peers(template.dleger_peers, offset)
    for key in _STORE_PATH_KEYS:
        if properties.get(key):
            properties[key] = _resolve_path(properties[key], home, not host)
    if "storePathRootDir" not in properties:
        properties["storePathRootDir"] = template.store_path_root_dir if not host else "~/store"
    config: BrokerConfig = load_broker_config(None, properties)
    dledger = config.dledger_config()
    # listenPort - 2 is the VIP channel RocketMQ clients may send to.
    ports = (config.listen_port - 2, config.listen_port)
    if dledger is None:
        return ProcessSpec(
            name=name,
            kind="broker",
            role=config.broker_role,
            properties=properties,
            ports=(*ports, config.ha_listen_port),
            address=config.broker_addr,
            broker_name=config.broker_name,
            broker_id=config.broker_id,
            cluster_name=config.broker_cluster_name,
            host=host,
        )
    # No HA port in DLedger mode: replication runs on the member's dLegerPeers port.
    return ProcessSpec(
        name=name,
        kind="broker",
        role=DLEDGER,
        properties=properties,
        ports=(*ports, dledger.self_address[1]),
        address=config.broker_addr,
        broker_name=config.broker_name,
        broker_id=follower_broker_id(dledger.self_id),
        cluster_name=config.broker_cluster_name,
        dledger_self_id=dledger.self_id,
        host=host,
    )


def _namesrv_spec(template_address: str, placement: _Placement, offset: int) -> ProcessSpec:
    host_name, _, port_text = template_address.rpartition(":")
    port = int(port_text) + offset
    host = placement.host(template_address)
    data_dir = _resolve_path(f"namesrv-{port_text}", placement.home(host), not host)
    return ProcessSpec(
        name=f"namesrv-{port_text}",
        kind="namesrv",
        role=NAMESRV,
        properties={
            "listenPort": str(port),
            "kvConfigPath": f"{data_dir}/kvConfig.json",
            "configStorePath": f"{data_dir}/namesrv.properties",
        },
        ports=(port,),
        address=f"{host_name}:{port}",
        host=host,
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
    owners: dict[tuple[str, int], str] = {}
    for spec in plan.processes:
        for port in spec.ports:
            if (spec.host, port) in owners:
                raise ConfigError(
                    f"port {port} is used by both {owners[spec.host, port]} and {spec.label}"
                    + (f" on host {spec.host}" if spec.host else "")
                )
            owners[spec.host, port] = spec.label
    stores: dict[tuple[str, str], str] = {}
    for spec in plan.brokers:
        for key, store in _store_paths(spec):
            if (spec.host, store) in stores:
                raise ConfigError(f"{stores[spec.host, store]} and {spec.name} share {key} {store}")
            stores[spec.host, store] = spec.name
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
    inventory = load_inventory(folder)
    placement = _Placement(home_path, inventory)
    brokers = [spec for f in files for spec in _broker_instances(f, placement, port_offset)]
    template_addresses: list[str] = []
    for path in files:
        for address in read_properties(path)["namesrvAddr"].split(";"):
            if address.strip() and address.strip() not in template_addresses:
                template_addresses.append(address.strip())
    ports = [a.rpartition(":")[2] for a in template_addresses]
    if inventory is None and len(set(ports)) < len(ports):
        # host1:9876;host2:9876 is a multi-host file: those NameServers run on their hosts.
        raise ConfigError(
            f"namesrvAddr {';'.join(template_addresses)} names several hosts; "
            f"`orbitmq cluster` needs a hosts file ({folder / HOSTS_FILE}) to start them there"
        )
    namesrvs = sorted(
        (_namesrv_spec(a, placement, port_offset) for a in template_addresses),
        key=lambda s: (s.ports, s.host),
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
        inventory=inventory,
    )
    if console_port is not None:
        console = _console_spec(plan.namesrv_addr, home_path, console_port + port_offset)
        plan = dataclasses.replace(plan, consoles=(console,))
    _check(plan)
    return plan


def _broker_order(spec: ProcessSpec) -> tuple[str, int]:
    return spec.broker_name, spec.broker_id
