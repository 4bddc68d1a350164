"""`orbitmq dledger status|transfer` run as real subprocesses against a real DLedger set,
and preferredLeaderId moving leadership by itself.

- status prints one line per member (role, term, leader, commit, broker id, address);
  the leader's line gives each follower's lag in entries, which grows by one entry per
  send while a follower is down.
- transfer hands leadership to the named member, which then registers with the
  NameServer as id 0 (the old leader as its follower id) and takes the sends.
- With preferredLeaderId=n2, n2 leads a few seconds after the start whoever won the
  first election, and again a few seconds after it is killed and restarted.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orbitmq.client import Message, MQAdmin, Producer, SendStatus
from orbitmq.protocol.message import decode_offset_msg_id
from orbitmq.remoting.client import RemotingClient
from tests.integration.dledger_set import (
    DLedgerSet,
    Member,
    member_status,
    registered_ids,
    wait_master,
)
from tests.processes import ServerProcess, start_namesrv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TOPIC = "RaftCli"
GROUP = "RaftNode00"


@pytest.fixture
def namesrv(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    process, addr = start_namesrv(tmp_path)
    try:
        yield process, addr
    finally:
        process.stop()


@pytest.fixture
def raft_set(tmp_path: Path, namesrv: tuple[ServerProcess, str]) -> Iterator[DLedgerSet]:
    dset = DLedgerSet(tmp_path, namesrv[1])
    try:
        dset.start_all()
        yield dset
    finally:
        dset.stop_all()


def orbitmq(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NAMESRV_ADDR"}
    return subprocess.run(
        [sys.executable, "-m", "orbitmq", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(orbitmq, *args)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def status_rows(out: str) -> dict[str, dict[str, str]]:
    """`dledger status` lines by member: the columns by header name, lag as one string."""
    lines = out.splitlines()
    names = lines[0].split()
    assert names == [
        "#Group",
        "#Member",
        "#Role",
        "#Term",
        "#Leader",
        "#Commit",
        "#Applied",
        "#LastIndex",
        "#BrokerId",
        "#Addr",
        "#Lag",
    ], lines[0]
    rows = {}
    for line in lines[1:]:
        fields = line.split()
        row = dict(zip(names[:-1], fields[:10], strict=True))
        row["#Lag"] = " ".join(fields[10:])
        rows[row["#Member"]] = row
    return rows


async def send(namesrv_addr: str, count: int, prefix: str) -> list[str]:
    """Send `count` messages to TOPIC; return the address that stored each."""
    stored_at = []
    async with Producer("PG_RAFT_CLI", namesrv_addr, send_timeout=5.0) as producer:
        for i in range(count):
            result = await producer.send(Message(TOPIC, f"{prefix}-{i}".encode()))
            assert result.status is SendStatus.SEND_OK
            ip, port, _ = decode_offset_msg_id(result.offset_msg_id)
            stored_at.append(f"{ip}:{port}")
    return stored_at


async def wait_registered_master(
    admin: MQAdmin, dset: DLedgerSet, member: Member, timeout: float
) -> float:
    """Wait until the NameServer has `member` as id 0 and every other live member at
    its follower id; return the wait."""
    started = time.monotonic()
    want = {
        (0 if m is member else int(m.self_id[1:]) + 1): m.broker_addr
        for m in dset.members
        if m.alive
    }
    while (ids := await registered_ids(admin, dset.name)) != want:
        assert time.monotonic() - started < timeout, f"{ids} != {want}\n{dset.logs()}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_status_shows_roles_terms_commit_and_lag(raft_set: DLedgerSet) -> None:
    dset = raft_set
    namesrv_addr = dset.namesrv_addr
    async with MQAdmin(namesrv_addr) as admin:
        leader = await wait_master(admin, dset, 30)
        await wait_registered_master(admin, dset, leader, 15)
        await admin.create_topic(leader.broker_addr, TOPIC, 2, 2)
    await send(namesrv_addr, 20, "s")
    client = RemotingClient()
    try:
        # Sends done: wait for the followers to have applied everything.
        deadline = time.monotonic() + 10
        while True:
            statuses = [await member_status(client, m) for m in dset.members]
            if (
                all(s is not None for s in statuses)
                and len({(s["last_index"], s["applied_index"]) for s in statuses if s}) == 1
            ):
                break
            assert time.monotonic() < deadline, statuses
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()
    last = statuses[0]["last_index"] if statuses[0] else -1

    rows = status_rows(ok(await cli("dledger", "status", "-n", namesrv_addr)))
    assert set(rows) == {"n0", "n1", "n2"}
    followers = sorted(m.self_id for m in dset.members if m is not leader)
    assert {r["#Role"] for name, r in rows.items() if name != leader.self_id} == {"FOLLOWER"}
    lead = rows[leader.self_id]
    assert lead["#Role"] == "LEADER" and lead["#BrokerId"] == "0"
    assert len({r["#Term"] for r in rows.values()}) == 1
    assert {r["#Leader"] for r in rows.values()} == {leader.self_id}
    for member in dset.members:
        row = rows[member.self_id]
        assert row["#Group"] == GROUP and row["#Addr"] == member.broker_addr
        assert row["#Commit"] == row["#Applied"] == row["#LastIndex"] == str(last)
        if member is not leader:
            assert row["#BrokerId"] == str(int(member.self_id[1:]) + 1)
            assert row["#Lag"] == ""
    assert lead["#Lag"] == " ".join(f"{f}=0" for f in followers)
    as_json = json.loads(ok(await cli("dledger", "status", "-n", namesrv_addr, "--json")))
    assert sorted(s["self_id"] for s in as_json) == ["n0", "n1", "n2"]

    # A follower down: the leader's lag line counts the entries it has not got.
    down = dset.member(followers[0])
    dset.kill(down)
    await send(namesrv_addr, 15, "while-down")
    result = await cli("dledger", "status", "-n", namesrv_addr)
    rows = status_rows(ok(result))
    assert down.self_id not in rows
    lags = dict(pair.split("=") for pair in rows[leader.self_id]["#Lag"].split())
    assert int(lags[down.self_id]) >= 15 and lags[followers[1]] == "0", lags


async def test_transfer_moves_leadership_and_sends(raft_set: DLedgerSet) -> None:
    dset = raft_set
    namesrv_addr = dset.namesrv_addr
    async with MQAdmin(namesrv_addr) as admin:
        leader = await wait_master(admin, dset, 30)
        await wait_registered_master(admin, dset, leader, 15)
        await admin.create_topic(leader.broker_addr, TOPIC, 2, 2)
        assert set(await send(namesrv_addr, 5, "before")) == {leader.broker_addr}

        target = next(m for m in dset.members if m is not leader)
        started = time.monotonic()
        out = ok(
            await cli("dledger", "transfer", "-n", namesrv_addr, "-g", GROUP, "-t", target.self_id)
        )
        took = time.monotonic() - started
        assert out.startswith(f"{target.self_id} leads {GROUP} in term ")
        assert out.rstrip().endswith(f"is master at {target.broker_addr}")
        await wait_registered_master(admin, dset, target, 10)
        assert set(await send(namesrv_addr, 5, "after")) == {target.broker_addr}

        again = ok(
            await cli("dledger", "transfer", "-n", namesrv_addr, "-g", GROUP, "-t", target.self_id)
        )
        assert again.startswith(f"{target.self_id} already leads {GROUP}")
        unknown = await cli(
            "dledger", "transfer", "-n", namesrv_addr, "-g", "NoSuchGroup", "-t", "n1"
        )
        assert unknown.returncode == 1 and "NoSuchGroup" in unknown.stderr
        assert "Traceback" not in unknown.stderr
    print(f"\ndledger transfer {leader.self_id} -> {target.self_id}: {took:.2f} s (CLI included)")


async def test_preferred_leader_takes_over_after_start_and_restart(
    tmp_path: Path, namesrv: tuple[ServerProcess, str]
) -> None:
    dset = DLedgerSet(tmp_path, namesrv[1], overrides={"preferredLeaderId": "n2"})
    preferred = dset.member("n2")
    try:
        async with MQAdmin(namesrv[1]) as admin:
            # n0 and n1 first, so that someone else surely wins the first election.
            for member in dset.members[:2]:
                dset.start(member)
            first = await wait_master(admin, dset, 30)
            dset.start(preferred)
            after_start = await wait_registered_master(admin, dset, preferred, 15)
            await admin.create_topic(preferred.broker_addr, TOPIC, 2, 2)
            assert set(await send(dset.namesrv_addr, 3, "p")) == {preferred.broker_addr}

            dset.kill(preferred)
            interim = await wait_master(admin, dset, 15, exclude=preferred.self_id)
            dset.start(preferred)
            after_restart = await wait_registered_master(admin, dset, preferred, 15)
            assert set(await send(dset.namesrv_addr, 3, "q")) == {preferred.broker_addr}
        print(
            f"\npreferred leader n2: master {after_start:.2f} s after it booted (first leader "
            f"{first.self_id}), {after_restart:.2f} s after its restart (interim {interim.self_id})"
        )
    finally:
        dset.stop_all()
    assert after_start < 3 and after_restart < 3
