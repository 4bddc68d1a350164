"""Template folders with a hosts file: each process on the host whose address it uses,
paths under that host's home, per-host port and store checks, and brokersPerHost.
Also validates the shipped four-host template, conf/2m-2s-sync-4hosts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orbitmq.broker.config import load_broker_config
from orbitmq.cluster.template import ProcessSpec, load_plan
from orbitmq.config_file import ConfigError, read_properties
from tests.unit.cluster.test_template import _copy as copy_template
from tests.unit.cluster.test_template import _set

CONF = Path(__file__).resolve().parents[3] / "conf"
FOUR_HOSTS = "2m-2s-sync-4hosts"
HOSTS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
NAMESRV_ADDR = ";".join(f"{h}:9876" for h in HOSTS)


def _copy(tmp_path: Path, name: str = FOUR_HOSTS) -> Path:
    return copy_template(tmp_path, name)


def _by_label(specs: tuple[ProcessSpec, ...]) -> dict[str, ProcessSpec]:
    return {s.label: s for s in specs}


def test_shipped_four_host_template(tmp_path: Path) -> None:
    plan = load_plan(CONF / FOUR_HOSTS, tmp_path)  # raises on shared ports, stores or ids
    assert plan.inventory is not None and list(plan.inventory.hosts) == HOSTS
    assert plan.namesrv_addr == NAMESRV_ADDR
    # One NameServer per host, all on 9876: one name, labels told apart by host.
    assert [(n.name, n.label, n.host, n.ports) for n in plan.namesrvs] == [
        ("namesrv-9876", f"namesrv-9876@{h}", h, (9876,)) for h in HOSTS
    ]
    placed = {b.name: (b.host, b.role, b.broker_name, b.broker_id) for b in plan.brokers}
    assert placed == {
        "broker-a": ("10.0.0.1", "SYNC_MASTER", "broker-a", 0),
        "broker-a-s": ("10.0.0.2", "SLAVE", "broker-a", 1),
        "broker-b": ("10.0.0.3", "SYNC_MASTER", "broker-b", 0),
        "broker-b-s": ("10.0.0.4", "SLAVE", "broker-b", 1),
    }
    for broker in plan.brokers:
        assert broker.label == broker.name
        assert broker.ports == (10909, 10911, 10912)  # the same ports, on four hosts
        assert broker.address == f"{broker.host}:10911"
        props = broker.properties
        assert props["namesrvAddr"] == NAMESRV_ADDR
        # Under the remote home, as the remote shell reads it: `~` is expanded there.
        assert props["storePathRootDir"] == f"~/orbitmq/store/{broker.name}"
        assert (props["deleteWhen"], props["fileReservedTime"]) == ("04", "48")
    for namesrv in plan.namesrvs:
        assert namesrv.properties == {
            "listenPort": "9876",
            "kvConfigPath": "~/orbitmq/namesrv-9876/kvConfig.json",
            "configStorePath": "~/orbitmq/namesrv-9876/namesrv.properties",
        }
    # The console runs on this machine, its data under the local home.
    [console] = plan.consoles
    assert (console.host, console.address) == ("", "127.0.0.1:8082")
    assert console.properties["rocketmq.config.namesrvAddr"] == NAMESRV_ADDR
    assert console.properties["rocketmq.config.dataPath"] == str(tmp_path / "dashboard")
    assert plan.hosts() == [*HOSTS, ""]
    assert plan.home_of("10.0.0.3") == "~/orbitmq"
    assert plan.home_of("") == str(tmp_path)


def test_four_host_tiers_use_labels(tmp_path: Path) -> None:
    plan = load_plan(CONF / FOUR_HOSTS, tmp_path)
    tiers = [[p.label for p in tier] for tier in plan.start_tiers()]
    assert tiers == [
        [f"namesrv-9876@{h}" for h in HOSTS],
        ["broker-a", "broker-b"],
        ["broker-a-s", "broker-b-s"],
        ["dashboard"],
    ]
    assert [[p.label for p in tier] for tier in plan.stop_tiers()] == tiers[::-1]


def test_without_hosts_file_several_hosts_on_one_port_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "hosts").unlink()
    with pytest.raises(ConfigError, match=r"names several hosts; .* needs a hosts file"):
        load_plan(folder, tmp_path / "home")


def test_port_offset_moves_ports_not_names_or_hosts(tmp_path: Path) -> None:
    plain = load_plan(CONF / FOUR_HOSTS, tmp_path)
    shifted = load_plan(CONF / FOUR_HOSTS, tmp_path, port_offset=100)
    assert shifted.ports() == [p + 100 for p in plain.ports()]
    assert [p.label for p in shifted.processes] == [p.label for p in plain.processes]
    assert shifted.namesrv_addr == ";".join(f"{h}:9976" for h in HOSTS)
    broker_a = _by_label(shifted.brokers)["broker-a"]
    assert (broker_a.host, broker_a.address) == ("10.0.0.1", "10.0.0.1:11011")
    assert broker_a.properties["namesrvAddr"] == shifted.namesrv_addr
    # The data directory keeps the template's port in its name, as the process name does.
    assert shifted.namesrvs[0].properties["kvConfigPath"] == (
        "~/orbitmq/namesrv-9876/kvConfig.json"
    )


def test_paths_resolve_against_each_hosts_home(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "hosts").write_text(
        "10.0.0.1 home=/opt/orbitmq\n"
        "10.0.0.2 home=/srv/mq/\n"  # a trailing slash does not double
        "10.0.0.3\n"
        "10.0.0.4 home=~/other\n"
    )
    _set(folder / "broker-b.properties", "storePathRootDir", "/data/broker-b")
    _set(folder / "broker-b-s.properties", "storePathRootDir", "~/stores/b-s")
    _set(folder / "broker-a.properties", "storePathCommitLog", "commitlog/a")
    plan = load_plan(folder, tmp_path / "home")
    brokers = _by_label(plan.brokers)
    assert brokers["broker-a"].properties["storePathRootDir"] == "/opt/orbitmq/store/broker-a"
    assert brokers["broker-a"].properties["storePathCommitLog"] == "/opt/orbitmq/commitlog/a"
    assert brokers["broker-a-s"].properties["storePathRootDir"] == "/srv/mq/store/broker-a-s"
    assert brokers["broker-b"].properties["storePathRootDir"] == "/data/broker-b"  # absolute
    # A `~` path is the remote user's: neither joined to the home nor expanded here.
    assert brokers["broker-b-s"].properties["storePathRootDir"] == "~/stores/b-s"
    namesrvs = _by_label(plan.namesrvs)
    assert namesrvs["namesrv-9876@10.0.0.1"].properties["kvConfigPath"] == (
        "/opt/orbitmq/namesrv-9876/kvConfig.json"
    )
    assert namesrvs["namesrv-9876@10.0.0.4"].properties["kvConfigPath"] == (
        "~/other/namesrv-9876/kvConfig.json"
    )
    assert plan.home_of("10.0.0.2") == "/srv/mq/"


def test_remote_broker_without_store_path_gets_the_remote_default(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "broker-a.properties"
    path.write_text(path.read_text().replace("storePathRootDir=store/broker-a\n", ""))
    broker_a = _by_label(load_plan(folder, tmp_path / "home").brokers)["broker-a"]
    # Not this machine's ~/store expanded: the remote user's.
    assert broker_a.properties["storePathRootDir"] == "~/store"


def test_host_missing_from_hosts_file_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    hosts = folder / "hosts"
    hosts.write_text(hosts.read_text().replace("10.0.0.4\n", ""))
    with pytest.raises(ConfigError, match=r"hosts: no line for host 10\.0\.0\.4"):
        load_plan(folder, tmp_path / "home")


def test_bad_hosts_file_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "hosts").write_text("10.0.0.1\n10.0.0.2 password=x\n")
    with pytest.raises(ConfigError, match="hosts:2: passwords are not read"):
        load_plan(folder, tmp_path / "home")


@pytest.mark.parametrize(
    ("file", "key", "value", "error"),
    [
        # broker-a-s moves onto broker-a's host, on broker-a's ports.
        (
            "broker-a-s.properties",
            "brokerIP1",
            "10.0.0.1",
            "port 10909 is used by both broker-a and broker-a-s on host 10.0.0.1",
        ),
        # VIP port 9876 = the NameServer's port on 10.0.0.3.
        (
            "broker-b.properties",
            "listenPort",
            "9878",
            "port 9876 is used by both namesrv-9876@10.0.0.3 and broker-b on host 10.0.0.3",
        ),
    ],
)
def test_ports_must_be_unique_per_host(
    tmp_path: Path, file: str, key: str, value: str, error: str
) -> None:
    folder = _copy(tmp_path)
    _set(folder / file, key, value)
    with pytest.raises(ConfigError, match=error):
        load_plan(folder, tmp_path / "home")


def test_two_brokers_on_one_host_need_their_own_ports_and_stores(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _set(folder / "broker-a-s.properties", "brokerIP1", "10.0.0.1")
    _set(folder / "broker-a-s.properties", "listenPort", "10921")
    plan = load_plan(folder, tmp_path / "home")
    assert _by_label(plan.brokers)["broker-a-s"].host == "10.0.0.1"
    assert plan.hosts() == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", ""]
    _set(folder / "broker-a-s.properties", "storePathRootDir", "store/broker-a")
    with pytest.raises(ConfigError, match="broker-a and broker-a-s share storePathRootDir"):
        load_plan(folder, tmp_path / "home")


def test_same_store_path_on_different_hosts_is_fine(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    for path in folder.glob("*.properties"):
        _set(path, "storePathRootDir", "/data/orbitmq/store")
    plan = load_plan(folder, tmp_path / "home")
    assert {b.properties["storePathRootDir"] for b in plan.brokers} == {"/data/orbitmq/store"}


def test_brokers_per_host_expands_into_broker_sets(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    for name in ("broker-a", "broker-a-s"):
        _set(folder / f"{name}.properties", "brokersPerHost", "3")
    _set(folder / "broker-a.properties", "haListenPort", "10950")
    plan = load_plan(folder, tmp_path / "home")
    brokers = _by_label(plan.brokers)
    assert sorted(brokers) == [
        "broker-a-0",
        "broker-a-1",
        "broker-a-2",
        "broker-a-s-0",
        "broker-a-s-1",
        "broker-a-s-2",
        "broker-b",
        "broker-b-s",
    ]
    for k in range(3):
        master, slave = brokers[f"broker-a-{k}"], brokers[f"broker-a-s-{k}"]
        assert (master.host, slave.host) == ("10.0.0.1", "10.0.0.2")
        assert (master.role, slave.role) == ("SYNC_MASTER", "SLAVE")
        assert (master.broker_name, master.broker_id) == (f"broker-a-{k}", 0)
        assert (slave.broker_name, slave.broker_id) == (f"broker-a-{k}", 1)
        port = 10911 + 10 * k
        assert master.ports == (port - 2, port, 10950 + 10 * k)  # haListenPort set: +10k
        assert slave.ports == (port - 2, port, port + 1)  # default HA port: listenPort+1
        assert master.address == f"10.0.0.1:{port}"
        assert master.properties["listenPort"] == str(port)
        assert master.properties["haListenPort"] == str(10950 + 10 * k)
        assert "haListenPort" not in slave.properties
        assert master.properties["storePathRootDir"] == f"~/orbitmq/store/broker-a-{k}"
        assert slave.properties["storePathRootDir"] == f"~/orbitmq/store/broker-a-s-{k}"
        for spec in (master, slave):
            assert "brokersPerHost" not in spec.properties  # the broker would reject it
            assert spec.properties["namesrvAddr"] == NAMESRV_ADDR
    assert [[p.label for p in tier] for tier in plan.start_tiers()][1:3] == [
        ["broker-a-0", "broker-a-1", "broker-a-2", "broker-b"],
        ["broker-a-s-0", "broker-a-s-1", "broker-a-s-2", "broker-b-s"],
    ]


def test_brokers_per_host_one_is_a_plain_broker(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _set(folder / "broker-a.properties", "brokersPerHost", "1")
    broker_a = _by_label(load_plan(folder, tmp_path / "home").brokers)["broker-a"]
    assert broker_a.broker_name == "broker-a"
    assert "brokersPerHost" not in broker_a.properties


def test_brokers_per_host_with_port_offset_and_default_store(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "broker-b.properties"
    path.write_text(path.read_text().replace("storePathRootDir=store/broker-b\n", ""))
    _set(path, "brokersPerHost", "2")
    _set(folder / "broker-b-s.properties", "brokersPerHost", "2")
    plan = load_plan(folder, tmp_path / "home", port_offset=1000)
    brokers = _by_label(plan.brokers)
    assert brokers["broker-b-0"].ports == (11909, 11911, 11912)
    assert brokers["broker-b-1"].ports == (11919, 11921, 11922)
    assert brokers["broker-b-0"].properties["storePathRootDir"] == "~/store-0"
    assert brokers["broker-b-1"].properties["storePathRootDir"] == "~/store-1"


def test_brokers_per_host_on_one_machine(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "2m-noslave")
    _set(folder / "broker-a.properties", "brokersPerHost", "2")
    _set(folder / "broker-b.properties", "listenPort", "10931")
    plan = load_plan(folder, tmp_path / "home")
    assert plan.inventory is None
    brokers = _by_label(plan.brokers)
    assert sorted(brokers) == ["broker-a-0", "broker-a-1", "broker-b"]
    assert {b.host for b in plan.brokers} == {""}
    assert brokers["broker-a-1"].ports == (10919, 10921, 10922)
    assert brokers["broker-a-1"].properties["storePathRootDir"] == str(
        tmp_path / "home" / "store" / "broker-a-1"
    )


def test_brokers_per_host_instances_clash_with_a_neighbour(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "2m-noslave")  # broker-b sits on broker-a's listenPort + 10
    _set(folder / "broker-a.properties", "brokersPerHost", "2")
    with pytest.raises(ConfigError, match="port 10919 is used by both broker-a-1 and broker-b"):
        load_plan(folder, tmp_path / "home")


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
def test_bad_brokers_per_host_is_refused(tmp_path: Path, value: str) -> None:
    folder = _copy(tmp_path)
    _set(folder / "broker-a.properties", "brokersPerHost", value)
    with pytest.raises(
        ConfigError, match=re.escape(f"broker-a.properties: brokersPerHost={value} is not a count")
    ):
        load_plan(folder, tmp_path / "home")


DLEDGER_HOSTS = ["10.0.1.1", "10.0.1.2", "10.0.1.3"]


def _dledger_folder(tmp_path: Path, per_host: int, group_key: bool = True) -> Path:
    """A DLedger group over three hosts, every member on the same ports."""
    folder = tmp_path / "dledger-3hosts"
    folder.mkdir()
    peers = ";".join(f"n{i}-{h}:40911" for i, h in enumerate(DLEDGER_HOSTS))
    for i, host in enumerate(DLEDGER_HOSTS):
        lines = [
            "brokerClusterName=RaftCluster",
            "brokerName=RaftNode00",
            "namesrvAddr=" + ";".join(f"{h}:9876" for h in DLEDGER_HOSTS),
            f"brokerIP1={host}",
            "listenPort=30911",
            f"storePathRootDir=store/broker-n{i}",
            f"storePathDLedgerCommitLog=/data/raft-n{i}",
            "enableDLegerCommitLog=true",
            f"dLegerPeers={peers}",
            f"dLegerSelfId=n{i}",
            f"brokersPerHost={per_host}",
        ]
        if group_key:
            lines.append("dLegerGroup=RaftNode00")
        (folder / f"broker-n{i}.properties").write_text("\n".join(lines) + "\n")
    (folder / "hosts").write_text("\n".join(DLEDGER_HOSTS) + "\n")
    return folder


@pytest.mark.parametrize("group_key", [True, False])
def test_brokers_per_host_expands_dledger_groups(tmp_path: Path, group_key: bool) -> None:
    plan = load_plan(_dledger_folder(tmp_path, 2, group_key), tmp_path / "home")
    assert (plan.masters, plan.slaves) == ((), ())
    groups = plan.dledger_groups()
    assert sorted(groups) == ["RaftNode00-0", "RaftNode00-1"]
    for k in range(2):
        members = groups[f"RaftNode00-{k}"]
        assert [m.name for m in members] == [f"broker-n{i}-{k}" for i in range(3)]
        peers = ";".join(f"n{i}-{h}:{40911 + 10 * k}" for i, h in enumerate(DLEDGER_HOSTS))
        for i, member in enumerate(members):
            props = member.properties
            assert (member.host, member.role) == (DLEDGER_HOSTS[i], "DLEDGER")
            assert member.dledger_self_id == props["dLegerSelfId"] == f"n{i}"
            assert member.ports == (30909 + 10 * k, 30911 + 10 * k, 40911 + 10 * k)
            assert props["dLegerPeers"] == peers
            assert props["dLegerGroup"] == f"RaftNode00-{k}"
            assert props["storePathRootDir"] == f"~/orbitmq/store/broker-n{i}-{k}"
            assert props["storePathDLedgerCommitLog"] == f"/data/raft-n{i}-{k}"
            assert "brokersPerHost" not in props
    assert [[p.label for p in tier] for tier in plan.start_tiers()][1] == [
        f"broker-n{i}-{k}" for k in range(2) for i in range(3)
    ]


@pytest.mark.parametrize("key", ["listenPort", "haListenPort"])
def test_brokers_per_host_with_a_bad_port_is_a_config_error(tmp_path: Path, key: str) -> None:
    folder = _copy(tmp_path)
    _set(folder / "broker-a.properties", "brokersPerHost", "2")
    _set(folder / "broker-a.properties", key, "abc")
    with pytest.raises(ConfigError, match=r"broker-a\.properties"):
        load_plan(folder, tmp_path / "home")


def test_remote_commit_log_path_is_expanded_by_the_broker(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _set(folder / "broker-a.properties", "storePathCommitLog", "commitlog/broker-a")
    broker_a = _by_label(load_plan(folder, tmp_path / "home").brokers)["broker-a"]
    assert broker_a.properties["storePathCommitLog"] == "~/orbitmq/commitlog/broker-a"
    store = load_broker_config(None, broker_a.properties).store_config()
    assert store.store_path_commit_log is not None
    assert not store.store_path_commit_log.startswith("~")


def test_rendered_properties_load_as_broker_config(tmp_path: Path) -> None:
    """What the agent writes to run/NAME.properties is a config the broker accepts."""
    folder = _copy(tmp_path)
    _set(folder / "broker-a.properties", "brokersPerHost", "2")
    _set(folder / "broker-a-s.properties", "brokersPerHost", "2")
    plan = load_plan(folder, tmp_path / "home")
    for broker in plan.brokers:
        config = load_broker_config(None, broker.properties)
        assert config.broker_name == broker.broker_name
        assert f"{config.broker_ip1}:{config.listen_port}" == broker.address
    # The template files themselves are left as they were.
    assert read_properties(folder / "broker-a.properties")["brokersPerHost"] == "2"
