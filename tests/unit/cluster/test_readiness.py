"""The rule `orbitmq cluster start` waits on, against hand-made GET_BROKER_CLUSTER_INFO
tables: classic brokers at their configured ids, DLedger groups with every member listed
and one elected leader at id 0, the same on every NameServer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orbitmq.client.admin import ClusterInfo
from orbitmq.client.route import BrokerData
from orbitmq.cluster.control import start_cluster
from orbitmq.cluster.errors import ClusterError
from orbitmq.cluster.readiness import registration_problems
from orbitmq.cluster.template import ClusterPlan, load_plan

CONF = Path(__file__).resolve().parents[3] / "conf"
NS1, NS2 = "127.0.0.1:9876", "127.0.0.1:9877"
N0, N1, N2 = "127.0.0.1:30911", "127.0.0.1:30921", "127.0.0.1:30931"


@pytest.fixture
def plan(tmp_path: Path) -> ClusterPlan:
    """conf/2m-noslave and conf/dledger in one folder: two classic masters and a group."""
    folder = Path(shutil.copytree(CONF / "2m-noslave", tmp_path / "mixed"))
    for path in (CONF / "dledger").glob("*.properties"):
        shutil.copy(path, folder)
    return load_plan(folder, tmp_path / "home")


def info(raft: dict[int, str], cluster: str = "RaftCluster") -> ClusterInfo:
    """A NameServer's table: broker-a and broker-b registered, RaftNode00 as `raft`."""
    brokers = {
        "broker-a": BrokerData("DefaultCluster", "broker-a", {0: "127.0.0.1:10911"}),
        "broker-b": BrokerData("DefaultCluster", "broker-b", {0: "127.0.0.1:10921"}),
    }
    clusters = {"DefaultCluster": ["broker-a", "broker-b"]}
    if raft:
        brokers["RaftNode00"] = BrokerData(cluster, "RaftNode00", dict(raft))
        clusters.setdefault(cluster, []).append("RaftNode00")
    return ClusterInfo(brokers, clusters)


def messages(plan: ClusterPlan, infos: dict[str, ClusterInfo | None]) -> list[str]:
    return [p.message for p in registration_problems(plan, infos)]


ELECTED = {0: N1, 1: N0, 3: N2}  # n1 leads; n0 and n2 follow at their own ids


def test_up_once_every_member_is_listed_and_one_leads_everywhere(plan: ClusterPlan) -> None:
    assert messages(plan, {NS1: info(ELECTED), NS2: info(ELECTED)}) == []


def test_follower_ids_are_not_checked_only_that_one_member_is_id_0(plan: ClusterPlan) -> None:
    # Ids are the election's business; what matters is one leader among the members.
    table = {0: N2, 5: N0, 7: N1}
    assert messages(plan, {NS1: info(table), NS2: info(table)}) == []


def test_nothing_registered_yet(plan: ClusterPlan) -> None:
    problems = registration_problems(plan, {NS1: info({}), NS2: info({})})
    assert [(p.spec.name, p.message) for p in problems[:4]] == [
        ("broker-n0", f"broker-n0 is not registered with NameServer {NS1}"),
        ("broker-n1", f"broker-n1 is not registered with NameServer {NS1}"),
        ("broker-n2", f"broker-n2 is not registered with NameServer {NS1}"),
        (
            "broker-n0",
            "no member of DLedger group RaftNode00 (broker-n0, broker-n1, broker-n2) is "
            f"registered as leader (brokerId 0) with NameServer {NS1}: no leader elected yet",
        ),
    ]
    assert len(problems) == 8  # the same again for NS2


def test_all_followers_and_no_leader_is_not_up(plan: ClusterPlan) -> None:
    followers = {1: N0, 2: N1, 3: N2}
    assert messages(plan, {NS1: info(followers), NS2: info(ELECTED)}) == [
        "no member of DLedger group RaftNode00 (broker-n0, broker-n1, broker-n2) is "
        f"registered as leader (brokerId 0) with NameServer {NS1}: no leader elected yet"
    ]


def test_a_member_missing_on_one_namesrv(plan: ClusterPlan) -> None:
    two = {0: N1, 1: N0}
    assert messages(plan, {NS1: info(ELECTED), NS2: info(two)}) == [
        f"broker-n2 is not registered with NameServer {NS2}"
    ]


def test_id_0_held_by_an_address_outside_the_group_is_no_leader(plan: ClusterPlan) -> None:
    # A leftover of an earlier run on other ports, say, which expires after 120 s.
    stale = {0: "127.0.0.1:40000", 1: N0, 2: N1, 3: N2}
    assert messages(plan, {NS1: info(stale), NS2: info(ELECTED)}) == [
        "no member of DLedger group RaftNode00 (broker-n0, broker-n1, broker-n2) is "
        f"registered as leader (brokerId 0) with NameServer {NS1}: no leader elected yet"
    ]


def test_namesrvs_naming_different_leaders_is_not_up(plan: ClusterPlan) -> None:
    # NS2 has not heard the last failover yet.
    other = {0: N0, 2: N1, 3: N2}
    problems = registration_problems(plan, {NS1: info(ELECTED), NS2: info(other)})
    assert [(p.spec.name, p.message) for p in problems] == [
        (
            "broker-n1",
            "NameServers disagree on the leader of DLedger group RaftNode00: "
            f"{NS1} lists {N1}; {NS2} lists {N0}",
        )
    ]


def test_group_listed_under_another_cluster_is_not_registered(plan: ClusterPlan) -> None:
    assert messages(plan, {NS1: info(ELECTED, "DefaultCluster"), NS2: info(ELECTED)})[:1] == [
        f"broker-n0 is not registered with NameServer {NS1}"
    ]


def test_silent_namesrv_is_not_up(plan: ClusterPlan) -> None:
    problems = registration_problems(plan, {NS1: info(ELECTED), NS2: None})
    assert [(p.spec.name, p.message) for p in problems] == [
        ("namesrv-9877", f"NameServer {NS2} does not answer GET_BROKER_CLUSTER_INFO")
    ]


def test_classic_broker_must_be_at_its_configured_id(plan: ClusterPlan) -> None:
    table = info(ELECTED)
    table.broker_addr_table["broker-b"] = BrokerData(
        "DefaultCluster", "broker-b", {1: "127.0.0.1:10921"}
    )
    assert messages(plan, {NS1: table, NS2: info(ELECTED)}) == [
        f"broker-b is not registered with NameServer {NS1}"
    ]


def test_start_refuses_a_dledger_address_not_on_this_machine(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(CONF / "dledger", tmp_path / "dledger"))
    for path in folder.glob("*.properties"):
        # 192.0.2.0/24 is TEST-NET-1: never an address of this machine.
        path.write_text(path.read_text().replace("n0-127.0.0.1:", "n0-192.0.2.1:"))
    plan = load_plan(folder, tmp_path / "home")
    echoed: list[str] = []
    with pytest.raises(ClusterError, match=r"broker-n0: its dLegerPeers address 192\.0\.2\.1"):
        start_cluster(plan, 1.0, echoed.append)
    assert echoed == []  # refused before anything started
    assert not (tmp_path / "home" / "run").exists()
