"""`orbitmq cluster start|status|stop conf/dledger`: three real DLedger brokers and two
NameServers, moved with --port-offset (which also moves the dLegerPeers ports), under a
temporary --home. The group must elect one master (id 0); the others follow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orbitmq.bench.replication import free_port_offset
from orbitmq.config_file import read_properties
from tests.integration.test_cluster_cli import (
    ClusterRun,
    cluster_list,
    ok,
    stop_and_check,
)

pytestmark = pytest.mark.slow

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_dledger_group_elects_one_master_and_two_followers(tmp_path: Path) -> None:
    template = CONF / "dledger"
    run = ClusterRun(template, tmp_path / "home", free_port_offset(template), console=False)
    out = ok(run.cli("start"))
    try:
        plan = run.plan
        started = re.findall(r"^started (\S+) \((\w+),", out, re.MULTILINE)
        assert started == [(p.name, p.role) for p in plan.processes]
        assert [role for _, role in started] == ["NAMESRV"] * 2 + ["DLEDGER"] * 3
        peers = ";".join(f"n{i}-127.0.0.1:{40911 + i + run.port_offset}" for i in range(3))
        for member in plan.dledger:
            assert read_properties(plan.config_path(member))["dLegerPeers"] == peers

        ok(run.cli("status"))
        leaders = set()
        for namesrv in plan.namesrvs:
            rows = [r for r in cluster_list(namesrv.address) if r[1] == "RaftNode00"]
            assert {r[0] for r in rows} == {"RaftCluster"}
            ids = {r[3]: int(r[2]) for r in rows}
            assert set(ids) == {m.address for m in plan.dledger}, rows
            leader = [address for address, broker_id in ids.items() if broker_id == 0]
            assert len(leader) == 1, rows
            leaders.add(leader[0])
            followers = [m for m in plan.dledger if m.address != leader[0]]
            # A follower registers as the digits of its dLegerSelfId + 1.
            assert [ids[m.address] for m in followers] == [m.broker_id for m in followers]
        assert len(leaders) == 1, f"NameServers disagree on the leader: {leaders}"
        for i in range(3):
            assert (run.home / "store" / f"broker-n{i}" / f"dledger-n{i}").is_dir()

        # Followers first, then leadership handed over, then the old leader.
        before = run.pids()
        rolled = ok(run.cli("rolling-restart"))
        assert len(re.findall(r"^restarted broker-n\d ", rolled, re.MULTILINE)) == 3, rolled
        after = run.pids()
        assert all(after[m.name] != before[m.name] for m in plan.dledger)
        [old_leader] = leaders
        new_leader = re.search(r"RaftNode00: (broker-n\d) leads now", rolled)
        assert new_leader, rolled
        assert plan.dledger[int(new_leader.group(1)[-1])].address != old_leader
        ok(run.cli("status"))
    finally:
        stopped = stop_and_check(run)
    assert re.findall(r"^stopped (\S+) ", stopped, re.MULTILINE) == [
        "broker-n0", "broker-n1", "broker-n2", "namesrv-9876", "namesrv-9877",
    ]  # fmt: skip
