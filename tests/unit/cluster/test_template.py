"""Template folders as plans: order, port offset, path resolution, and the checks that
keep a folder runnable on one machine. Also validates the shipped conf/ templates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orbitmq.cluster.template import load_plan
from orbitmq.config_file import ConfigError

CONF = Path(__file__).resolve().parents[3] / "conf"
TEMPLATES = {
    "2m-noslave": {"broker-a": ("ASYNC_MASTER", 0), "broker-b": ("ASYNC_MASTER", 0)},
    "2m-2s-async": {
        "broker-a": ("ASYNC_MASTER", 0),
        "broker-a-s": ("SLAVE", 1),
        "broker-b": ("ASYNC_MASTER", 0),
        "broker-b-s": ("SLAVE", 1),
    },
    "2m-2s-sync": {
        "broker-a": ("SYNC_MASTER", 0),
        "broker-a-s": ("SLAVE", 1),
        "broker-b": ("SYNC_MASTER", 0),
        "broker-b-s": ("SLAVE", 1),
    },
}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_shipped_template_runs_on_one_machine(name: str, tmp_path: Path) -> None:
    plan = load_plan(CONF / name, tmp_path)  # raises on shared ports, stores or ids
    roles = {b.name: (b.role, b.broker_id) for b in plan.brokers}
    assert roles == TEMPLATES[name]
    assert {b.broker_name for b in plan.brokers} == {"broker-a", "broker-b"}
    assert {b.cluster_name for b in plan.brokers} == {"DefaultCluster"}
    assert plan.namesrv_addr == "127.0.0.1:9876;127.0.0.1:9877"
    ports = plan.ports()
    assert len(ports) == len(set(ports)) == 2 + 3 * len(plan.brokers) + 1  # + the console
    [console] = plan.consoles
    assert (console.kind, console.address) == ("dashboard", "127.0.0.1:8082")
    assert console.properties["rocketmq.config.namesrvAddr"] == plan.namesrv_addr
    stores = [b.properties["storePathRootDir"] for b in plan.brokers]
    assert len(set(stores)) == len(stores)
    assert all(Path(s).is_relative_to(tmp_path / "store") for s in stores)
    for broker in plan.brokers:
        assert broker.properties["namesrvAddr"] == plan.namesrv_addr
        assert broker.properties["deleteWhen"] == "04"
        assert broker.properties["fileReservedTime"] == "48"
        assert broker.properties["flushDiskType"] == "ASYNC_FLUSH"
        assert broker.address == f"127.0.0.1:{broker.properties['listenPort']}"


def test_start_order_is_namesrvs_masters_slaves_and_stop_reverses_it(tmp_path: Path) -> None:
    plan = load_plan(CONF / "2m-2s-async", tmp_path)
    names = [[p.name for p in tier] for tier in plan.start_tiers()]
    assert names == [
        ["namesrv-9876", "namesrv-9877"],
        ["broker-a", "broker-b"],
        ["broker-a-s", "broker-b-s"],
        ["dashboard"],  # once every broker is up; stopped first
    ]
    assert [[p.name for p in tier] for tier in plan.stop_tiers()] == names[::-1]
    without = load_plan(CONF / "2m-2s-async", tmp_path, console_port=None)
    assert [[p.name for p in tier] for tier in without.start_tiers()] == names[:-1]


def test_port_offset_moves_every_port_but_no_name(tmp_path: Path) -> None:
    plain = load_plan(CONF / "2m-2s-sync", tmp_path)
    shifted = load_plan(CONF / "2m-2s-sync", tmp_path, port_offset=1000)
    assert shifted.ports() == [p + 1000 for p in plain.ports()]
    assert shifted.namesrv_addr == "127.0.0.1:10876;127.0.0.1:10877"
    assert [p.name for p in shifted.processes] == [p.name for p in plain.processes]
    broker_a = next(b for b in shifted.brokers if b.name == "broker-a")
    assert broker_a.properties["listenPort"] == "11911"
    assert broker_a.ports == (11909, 11911, 11912)
    assert broker_a.properties["namesrvAddr"] == shifted.namesrv_addr


def test_namesrv_data_and_run_files_live_under_home(tmp_path: Path) -> None:
    plan = load_plan(CONF / "2m-noslave", tmp_path / "home")
    namesrv = plan.namesrvs[0]
    assert namesrv.properties["kvConfigPath"] == str(
        tmp_path / "home" / "namesrv-9876" / "kvConfig.json"
    )
    assert plan.pid_path(namesrv) == tmp_path / "home" / "run" / "namesrv-9876.pid"
    assert plan.log_path(namesrv) == tmp_path / "home" / "logs" / "namesrv-9876.log"


def _copy(tmp_path: Path, name: str = "2m-2s-async") -> Path:
    return Path(shutil.copytree(CONF / name, tmp_path / name))


def _set(path: Path, key: str, value: str) -> None:
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(f"{key}=")]
    path.write_text("\n".join([*lines, f"{key}={value}"]) + "\n")


def test_absolute_store_path_is_kept(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _set(folder / "broker-a.properties", "storePathRootDir", str(tmp_path / "elsewhere"))
    plan = load_plan(folder, tmp_path / "home")
    broker_a = next(b for b in plan.brokers if b.name == "broker-a")
    assert broker_a.properties["storePathRootDir"] == str(tmp_path / "elsewhere")


@pytest.mark.parametrize(
    ("file", "key", "value", "error"),
    [
        ("broker-b.properties", "listenPort", "10912", "port 10912 is used by both"),
        ("broker-b.properties", "storePathRootDir", "store/broker-a", "share storePathRootDir"),
        ("broker-b-s.properties", "brokerName", "broker-a", "both broker-a brokerId=1"),
        ("broker-b-s.properties", "brokerId", "0", "brokerId=0: a SLAVE needs"),
        ("broker-a.properties", "brokerRole", "MASTER", "brokerRole"),
        ("broker-a.properties", "namesrvAddr", "", "namesrvAddr is required"),
        ("broker-a.properties", "namesrvAddr", "host1:9876;host2:9876", "several hosts"),
    ],
)
def test_folder_that_cannot_run_is_refused(
    tmp_path: Path, file: str, key: str, value: str, error: str
) -> None:
    folder = _copy(tmp_path)
    _set(folder / file, key, value)
    with pytest.raises(ConfigError, match=error):
        load_plan(folder, tmp_path / "home")


def test_slave_without_master_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "broker-b.properties").unlink()
    with pytest.raises(ConfigError, match="broker-b-s: no master for broker set broker-b"):
        load_plan(folder, tmp_path / "home")


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no broker \.properties files"):
        load_plan(tmp_path, tmp_path)


DLEDGER_PEERS = "n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913"


def test_shipped_dledger_template_runs_on_one_machine(tmp_path: Path) -> None:
    plan = load_plan(CONF / "dledger", tmp_path)
    assert (plan.masters, plan.slaves) == ((), ())
    assert [(b.name, b.role, b.broker_id, b.dledger_self_id) for b in plan.brokers] == [
        ("broker-n0", "DLEDGER", 1, "n0"),
        ("broker-n1", "DLEDGER", 2, "n1"),
        ("broker-n2", "DLEDGER", 3, "n2"),
    ]
    assert plan.dledger_groups() == {"RaftNode00": plan.dledger}
    assert plan.namesrv_addr == "127.0.0.1:9876;127.0.0.1:9877"
    for i, broker in enumerate(plan.brokers):
        listen_port = 30911 + 10 * i
        # No HA port in DLedger mode: the member's dLegerPeers port instead.
        assert broker.ports == (listen_port - 2, listen_port, 40911 + i)
        assert broker.address == f"127.0.0.1:{listen_port}"
        assert (broker.cluster_name, broker.broker_name) == ("RaftCluster", "RaftNode00")
        props = broker.properties
        assert props["storePathRootDir"] == str(tmp_path / "store" / f"broker-n{i}")
        assert (props["enableDLegerCommitLog"], props["dLegerGroup"]) == ("true", "RaftNode00")
        assert (props["dLegerPeers"], props["dLegerSelfId"]) == (DLEDGER_PEERS, f"n{i}")
        assert props["sendMessageThreadPoolNums"] == "16"
        assert "brokerRole" not in props and "brokerId" not in props
    assert len(plan.ports()) == len(set(plan.ports())) == 2 + 3 * 3 + 1  # + the console


def test_dledger_group_starts_as_one_tier_and_stops_before_namesrvs(tmp_path: Path) -> None:
    plan = load_plan(CONF / "dledger", tmp_path)
    names = [[p.name for p in tier] for tier in plan.start_tiers()]
    assert names == [
        ["namesrv-9876", "namesrv-9877"],
        ["broker-n0", "broker-n1", "broker-n2"],
        ["dashboard"],
    ]
    assert [[p.name for p in tier] for tier in plan.stop_tiers()] == names[::-1]


def test_port_offset_moves_dledger_peer_ports(tmp_path: Path) -> None:
    plain = load_plan(CONF / "dledger", tmp_path)
    shifted = load_plan(CONF / "dledger", tmp_path, port_offset=-1000)
    assert shifted.ports() == [p - 1000 for p in plain.ports()]
    peers = "n0-127.0.0.1:39911;n1-127.0.0.1:39912;n2-127.0.0.1:39913"
    for broker in shifted.brokers:
        assert broker.properties["dLegerPeers"] == peers
        assert broker.ports[2] in (39911, 39912, 39913)


def _mixed(tmp_path: Path) -> Path:
    """2m-noslave and dledger in one folder: classic sets beside a DLedger group."""
    folder = _copy(tmp_path, "2m-noslave")
    for path in (CONF / "dledger").glob("*.properties"):
        shutil.copy(path, folder)
    return folder


def test_classic_and_dledger_sets_in_one_folder(tmp_path: Path) -> None:
    plan = load_plan(_mixed(tmp_path), tmp_path / "home")
    assert [[p.name for p in tier] for tier in plan.start_tiers()] == [
        ["namesrv-9876", "namesrv-9877"],
        ["broker-a", "broker-b"],
        ["broker-n0", "broker-n1", "broker-n2"],
        ["dashboard"],
    ]


def test_dledger_data_dir_is_resolved_under_home(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "dledger")
    _set(folder / "broker-n0.properties", "storePathDLedgerCommitLog", "raft/n0")
    plan = load_plan(folder, tmp_path / "home")
    assert plan.dledger[0].properties["storePathDLedgerCommitLog"] == str(
        tmp_path / "home" / "raft" / "n0"
    )


@pytest.mark.parametrize(
    ("file", "key", "value", "error"),
    [
        ("broker-n1.properties", "dLegerSelfId", "n3", "broker-n1.properties: dLegerSelfId=n3"),
        (
            "broker-n2.properties",
            "dLegerPeers",
            "n1-127.0.0.1:40912;n2-127.0.0.1:40913",
            "broker-n2.properties: dLegerPeers lists 2 member",
        ),
        # Two files for one member: they would also share its dLegerPeers port.
        ("broker-n1.properties", "dLegerSelfId", "n0", "port 40911 is used by both"),
        ("broker-n1.properties", "listenPort", "40913", "port 40911 is used by both"),
        (
            "broker-n2.properties",
            "dLegerPeers",
            "n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40914",
            "differ in dLegerPeers",
        ),
        ("broker-n2.properties", "dLegerGroup", "other", "differ in dLegerGroup"),
        ("broker-n2.properties", "brokerClusterName", "other", "differ in brokerClusterName"),
        (
            "broker-n1.properties",
            "storePathDLedgerCommitLog",
            "raft",
            "broker-n0 and broker-n1 share storePathDLedgerCommitLog",
        ),
    ],
)
def test_dledger_folder_that_cannot_run_is_refused(
    tmp_path: Path, file: str, key: str, value: str, error: str
) -> None:
    folder = _copy(tmp_path, "dledger")
    _set(folder / file, key, value)
    if key == "storePathDLedgerCommitLog":
        _set(folder / "broker-n0.properties", key, value)
    with pytest.raises(ConfigError, match=error):
        load_plan(folder, tmp_path / "home")


def test_dledger_members_agree_on_what_the_broker_reads_not_on_spelling(
    tmp_path: Path,
) -> None:
    folder = _copy(tmp_path, "dledger")
    n1 = folder / "broker-n1.properties"
    n1.write_text(n1.read_text().replace("dLegerGroup=RaftNode00\n", ""))  # = brokerName
    _set(folder / "broker-n2.properties", "dLegerPeers", DLEDGER_PEERS.replace(";", " ; "))
    plan = load_plan(folder, tmp_path / "home")
    assert {b.properties["dLegerPeers"] for b in plan.brokers} == {DLEDGER_PEERS}


def test_dledger_member_without_its_file_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "dledger")
    (folder / "broker-n2.properties").unlink()
    with pytest.raises(
        ConfigError, match="lists n2, but no file of the folder has dLegerSelfId=n2"
    ):
        load_plan(folder, tmp_path / "home")


def test_broker_set_mixing_dledger_and_classic_is_refused(tmp_path: Path) -> None:
    folder = _mixed(tmp_path)
    _set(folder / "broker-b.properties", "brokerName", "RaftNode00")
    with pytest.raises(ConfigError, match=r"RaftNode00 mixes DLedger members .* \(broker-b\)"):
        load_plan(folder, tmp_path / "home")
