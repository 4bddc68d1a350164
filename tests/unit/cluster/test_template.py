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
    assert len(ports) == len(set(ports)) == 2 + 3 * len(plan.brokers)
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
    ]
    assert [[p.name for p in tier] for tier in plan.stop_tiers()] == names[::-1]


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
