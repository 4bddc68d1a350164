"""Raft log retention (orbitmq/dledger/retention.py): the policy with the wall clock and
the disk usage given, rounds over a real DLedgerLog, and a real single-member
DLedgerNode deleting what it has applied.

The local hour matters (deleteWhen), so times are built with time.mktime.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from orbitmq.dledger.config import DLedgerConfig
from orbitmq.dledger.log import DLedgerLog
from orbitmq.dledger.messages import Entry, Role
from orbitmq.dledger.node import CommitOutcome, DLedgerNode
from orbitmq.dledger.retention import (
    NOTHING,
    DataFileAge,
    FollowerProgress,
    LogRetention,
    RetentionConfig,
    RetentionPlan,
    plan_retention,
)
from orbitmq.store.config import MessageStoreConfig
from tests.processes import free_port

from .test_log import open_log

HOUR = 3600.0
CFG = RetentionConfig()  # deleteWhen 04, 72 + 1 hours, 75 %, forced at 85 %


def local(hour: int, minute: int = 30, day: int = 10) -> float:
    return time.mktime((2024, 5, day, hour, minute, 0, 0, 0, -1))


NOW = local(4)  # inside the deleteWhen hour
NOON = local(13)
OLD = NOW - 100 * HOUR
FRESH = NOW - HOUR


def files(*mtimes: float) -> list[DataFileAge]:
    """Data files of 20 entries each (file k: 20k..20k+19)."""
    return [DataFileAge(20 * k + 19, mtime) for k, mtime in enumerate(mtimes)]


def plan(
    data_files: list[DataFileAge],
    *,
    applied: int = 10_000,
    followers: dict[str, FollowerProgress] | None = None,
    now: float = NOW,
    disk: float = 0.3,
    config: RetentionConfig = CFG,
) -> RetentionPlan:
    return plan_retention(data_files, applied, followers, now, disk, config)


# ---------------------------------------------------------------------- the policy


def test_expired_files_go_at_a_delete_when_hour_only() -> None:
    old = files(OLD, OLD, OLD, OLD)
    assert plan(old) == RetentionPlan(60, 3, "expired")
    assert plan(old, now=local(5)) == NOTHING
    assert plan(old, now=local(3, 59)) == NOTHING
    two_hours = RetentionConfig(delete_when="04;16")
    assert plan(old, now=local(16, 0), config=two_hours).files == 3
    assert plan(old, now=local(16, 0)) == NOTHING


def test_a_file_written_within_the_reserved_time_stops_the_round() -> None:
    just_expired = NOW - 73 * HOUR
    assert plan(files(OLD, just_expired, OLD, OLD)).files == 3
    # One second younger than fileReservedTime + 1 hours: kept, and so is all after it.
    assert plan(files(OLD, just_expired + 1, OLD, OLD)) == RetentionPlan(20, 1, "expired")
    assert plan(files(FRESH, OLD, OLD, OLD)) == NOTHING


def test_the_file_being_written_never_goes() -> None:
    assert plan(files(OLD)) == NOTHING
    assert plan(files(OLD, OLD)) == RetentionPlan(20, 1, "expired")
    assert plan(files(OLD, OLD), disk=0.99) == RetentionPlan(20, 1, "forced: disk 99.0% used")


def test_the_file_holding_the_applied_index_stays() -> None:
    old = files(OLD, OLD, OLD, OLD)
    # The entry at the bound stays readable or at least its term known: the next one
    # applied or sent needs it as its predecessor.
    assert plan(old, applied=59).keep_from == 40
    assert plan(old, applied=60).keep_from == 60
    assert plan(old, applied=19) == NOTHING
    assert plan(old, applied=-1) == NOTHING


def test_the_leader_keeps_what_a_follower_heard_from_recently_needs() -> None:
    old = files(OLD, OLD, OLD, OLD)
    up_to_date = FollowerProgress(79, 0.1)
    assert plan(old, followers={"n1": up_to_date}).keep_from == 60
    # Down for ten minutes: it still catches up from the log.
    brief = {"n1": up_to_date, "n2": FollowerProgress(39, 600)}
    assert plan(old, followers=brief) == RetentionPlan(20, 1, "expired")
    unknown = {"n1": up_to_date, "n2": FollowerProgress(-1, 1.0)}  # not heard in this term
    assert plan(old, followers=unknown) == NOTHING
    # Silent for longer than a file is kept: taken for gone, and named.
    gone = {"n1": up_to_date, "n2": FollowerProgress(5, 74 * HOUR)}
    assert plan(old, followers=gone) == RetentionPlan(60, 3, "expired", (("n2", 5),))


def test_disk_pressure_deletes_expired_files_at_once_and_cuts_off_lagging_followers() -> None:
    followers = {"n1": FollowerProgress(79, 0.1), "n2": FollowerProgress(5, 1.0)}
    old = files(OLD, OLD, OLD, OLD)
    assert plan(old, now=NOON, disk=0.75, followers=followers) == NOTHING  # not above
    assert plan(old, now=NOON, disk=0.8, followers=followers) == RetentionPlan(
        60, 3, "expired, disk 80.0% used", (("n2", 5),)
    )
    # Below the forced ratio the reserved time still holds.
    assert plan(files(OLD, FRESH, OLD, OLD), now=NOON, disk=0.8).files == 1
    # So does the applied index, always.
    assert plan(old, now=NOON, disk=0.8, applied=45).keep_from == 40
    lower_max = RetentionConfig(disk_max_used_space_ratio=60)
    assert plan(old, now=NOON, disk=0.65, config=lower_max).files == 3


def test_above_the_forced_ratio_age_does_not_matter() -> None:
    fresh = files(FRESH, FRESH, FRESH, FRESH)
    assert plan(fresh, now=NOON, disk=0.86, applied=45) == RetentionPlan(
        40, 2, "forced: disk 86.0% used"
    )
    no_force = RetentionConfig(clean_file_forcibly_enable=False)
    assert plan(fresh, now=NOON, disk=0.86, config=no_force) == NOTHING
    assert plan(files(OLD, FRESH, FRESH), now=NOON, disk=0.86, config=no_force).files == 1


def test_at_most_a_batch_per_round_and_an_unknown_disk_usage_is_no_pressure() -> None:
    many = files(*[OLD] * 15)
    assert plan(many) == RetentionPlan(200, 10, "expired")
    assert plan(many, config=RetentionConfig(delete_file_batch_max=3)).files == 3
    assert plan(many, now=NOON, disk=-1.0) == NOTHING


def test_settings_come_from_the_store_config(tmp_path: Path) -> None:
    store = MessageStoreConfig(
        str(tmp_path),
        file_reserved_time_hours=48,
        delete_when="02;14",
        disk_max_used_space_ratio=80,
        disk_space_clean_forcibly_ratio=88,
        clean_file_forcibly_enable=False,
        clean_resource_interval_ms=5000,
        delete_file_batch_max=3,
    )
    assert RetentionConfig.from_store_config(store) == RetentionConfig(
        delete_when="02;14",
        file_reserved_hours=49,  # DLedgerCommitLog: fileReservedTime + 1
        disk_max_used_space_ratio=80,
        disk_space_clean_forcibly_ratio=88,
        clean_file_forcibly_enable=False,
        check_interval_ms=5000,
        delete_file_batch_max=3,
    )
    assert RetentionConfig.from_store_config(MessageStoreConfig(str(tmp_path))) == CFG


# ---------------------------------------------------------------------- rounds on a log


def old_log(path: Path, count: int) -> DLedgerLog:
    """A log of `count` 150-byte entries (20 per data file), every file last written
    100 hours before NOW."""
    raft_log = open_log(path)
    raft_log.append([Entry(i, 1, bytes(150)) for i in range(count)])
    for name in os.listdir(path / "data"):
        os.utime(path / "data" / name, (OLD, OLD))
    return raft_log


class SyncProbe:
    """A state_machine_sync hook that records the applied index it was called at."""

    def __init__(self, applied: list[int], fail: bool = False) -> None:
        self.applied = applied
        self.fail = fail
        self.calls: list[int] = []

    async def __call__(self) -> None:
        self.calls.append(self.applied[0])
        if self.fail:
            raise OSError("commit log flush failed")


async def test_a_round_is_due_every_interval_and_deletes_one_file_per_step(
    tmp_path: Path,
) -> None:
    raft_log = old_log(tmp_path, 8 * 20)
    applied = [100]
    sync = SyncProbe(applied)
    config = RetentionConfig(
        delete_file_batch_max=2,
        state_machine_sync=sync,
        clock=lambda: NOW,
        used_ratio=lambda path: 0.3,
    )
    retention = LogRetention(raft_log, config, lambda: applied[0], lambda: None)
    try:
        assert [await retention.step(t) for t in (0.0, 5.0, 9.9)] == [0, 0, 0]
        assert raft_log.first_index == 0
        assert await retention.step(10.0) == 1  # first check one interval after start
        assert (raft_log.first_index, sync.calls) == (21, [100])
        assert await retention.step(10.1) == 1
        assert raft_log.first_index == 41
        assert await retention.step(10.2) == 0  # a batch of two per round
        applied[0] = 130
        assert [await retention.step(t) for t in (15.0, 20.0, 20.1, 20.2)] == [0, 1, 1, 0]
        assert (raft_log.first_index, sync.calls) == (81, [100, 130])
        assert [await retention.step(t) for t in (30.0, 30.1, 30.2)] == [1, 1, 0]
        assert raft_log.first_index == 121
        # The file holding the applied index (entries 120..139) stays: no round, no sync.
        assert await retention.step(40.0) == 0
        assert sync.calls == [100, 130, 130]
        raft_log.close()
        reopened = open_log(tmp_path)
        assert (reopened.first_index, reopened.last_index) == (121, 159)
        reopened.close()
    finally:
        raft_log.close()


async def test_a_failed_state_machine_sync_keeps_every_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raft_log = old_log(tmp_path, 4 * 20)
    sync = SyncProbe([79], fail=True)
    config = RetentionConfig(state_machine_sync=sync, clock=lambda: NOW, check_interval_ms=1)
    retention = LogRetention(raft_log, config, lambda: 79, lambda: None, "n0")
    try:
        with caplog.at_level(logging.WARNING, "orbitmq.dledger.retention"):
            assert [await retention.step(t) for t in (0.0, 1.0)] == [0, 0]
        assert sync.calls == [79]
        assert raft_log.first_index == 0 and len(os.listdir(tmp_path / "data")) == 4
        assert "could not be synced (commit log flush failed)" in caplog.text
    finally:
        raft_log.close()


async def test_a_follower_cut_off_under_disk_pressure_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raft_log = old_log(tmp_path, 4 * 20)
    config = RetentionConfig(clock=lambda: NOON, used_ratio=lambda path: 0.8, check_interval_ms=1)
    lagging = {"n1": FollowerProgress(79, 0.1), "n2": FollowerProgress(12, 0.5)}
    retention = LogRetention(raft_log, config, lambda: 79, lambda: lagging, "n0")
    try:
        with caplog.at_level(logging.WARNING, "orbitmq.dledger.retention"):
            await retention.step(0.0)
            assert sum([await retention.step(t) for t in (1.0, 1.1, 1.2, 1.3)]) == 3
        assert raft_log.first_index == 61
        (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert "follower n2 (at entry 12) needs Raft log entries below 60" in warning.getMessage()
        assert "disk 80.0% used" in warning.getMessage()
    finally:
        raft_log.close()


# ---------------------------------------------------------------------- a real member


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_member_deletes_what_it_applied_at_the_delete_when_hour(tmp_path: Path) -> None:
    """One member (a group of one commits alone): its housekeeping runs the rounds, after
    the state machine sync, never past the applied index, and appends go on after."""
    later = time.localtime(time.time() + 5 * 24 * HOUR)  # files are older than 73 h then
    delete_hour = time.mktime((later.tm_year, later.tm_mon, later.tm_mday, 4, 30, 0, 0, 0, -1))
    config = DLedgerConfig(
        group="g",
        self_id="n0",
        peers={"n0": ("127.0.0.1", free_port())},
        preferred_leader_ids=(),
        data_dir=str(tmp_path / "dledger-n0"),
        heartbeat_interval_ms=50,
        election_timeout_ms=200,
        sync_flush=False,
        data_file_size=4096,
    )
    applied: list[bytes] = []
    node: DLedgerNode | None = None
    sync_calls: list[int] = []

    async def state_machine_sync() -> None:
        assert node is not None
        sync_calls.append(node.applied_index)

    node = DLedgerNode(
        config,
        apply=lambda body: applied.append(bytes(body)),
        on_role_change=lambda change: None,
        broker_addr=lambda: "127.0.0.1:10911",
        retention=RetentionConfig(
            check_interval_ms=100,
            state_machine_sync=state_machine_sync,
            clock=lambda: delete_hour,
            used_ratio=lambda path: 0.3,
        ),
    )
    node.open()
    await node.start(-1)
    try:
        await wait_for(lambda: node.role is Role.LEADER)
        outcomes: list[CommitOutcome] = []
        bodies = [i.to_bytes(4, "big") * 40 for i in range(150)]
        for body in bodies:
            node.propose(body, outcomes.append)
        await wait_for(lambda: len(outcomes) == len(bodies))
        assert set(outcomes) == {CommitOutcome.COMMITTED}
        raft_log = node.log
        files_before = len(raft_log.data_files())
        assert files_before >= 7
        await wait_for(lambda: len(raft_log.data_files()) == 1)
        assert sync_calls and raft_log.first_index - 1 <= min(sync_calls)
        assert node.status()["first_index"] == raft_log.first_index > 100
        stored = raft_log.entries(raft_log.first_index, 1000, 1 << 30)
        assert [e.body for e in stored] == bodies[raft_log.first_index - 1 :]  # 0: no-op
        node.propose(b"after", outcomes.append)
        await wait_for(lambda: len(outcomes) == len(bodies) + 1)
        assert outcomes[-1] is CommitOutcome.COMMITTED and applied[-1] == b"after"
    finally:
        await node.aclose()


class Member:
    """A DLedgerNode whose state machine is a list of bodies, restartable on its files."""

    def __init__(self, config: DLedgerConfig, retention: RetentionConfig) -> None:
        self.config = config
        self.retention = retention
        self.applied: list[bytes] = []
        self.node: DLedgerNode | None = None

    async def start(self) -> DLedgerNode:
        node = DLedgerNode(
            self.config,
            apply=lambda body: self.applied.append(bytes(body)),
            on_role_change=lambda change: None,
            broker_addr=lambda: "127.0.0.1:10911",
            retention=self.retention,
        )
        node.open()
        await node.start(len(self.applied) - 1)
        self.node = node
        return node

    async def stop(self) -> None:
        if self.node is not None:
            await self.node.aclose()
            self.node = None


async def test_the_leader_keeps_entries_for_a_follower_that_is_briefly_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Three members in one process. A stopped follower still catches up from the
    leader's log while the disk is fine; under disk pressure the leader deletes what it
    needs, names it, and keeps it following without being able to feed it."""
    later = time.localtime(time.time() + 5 * 24 * HOUR)
    delete_hour = time.mktime((later.tm_year, later.tm_mon, later.tm_mday, 4, 30, 0, 0, 0, -1))
    disk = [0.3]
    retention = RetentionConfig(
        check_interval_ms=100, clock=lambda: delete_hour, used_ratio=lambda path: disk[0]
    )
    base = free_port(3)
    peers = {f"n{i}": ("127.0.0.1", base + i) for i in range(3)}
    members = {
        peer: Member(
            DLedgerConfig(
                group="g",
                self_id=peer,
                peers=peers,
                preferred_leader_ids=("n0",),
                data_dir=str(tmp_path / f"dledger-{peer}"),
                heartbeat_interval_ms=50,
                election_timeout_ms=300,
                sync_flush=False,
                data_file_size=4096,
            ),
            retention,
        )
        for peer in peers
    }
    try:
        for member in members.values():
            await member.start()
        leader = members["n0"]

        def lead() -> DLedgerNode:
            assert leader.node is not None
            return leader.node

        await wait_for(lambda: leader.node is not None and leader.node.role is Role.LEADER)
        outcomes: list[CommitOutcome] = []

        async def propose(count: int) -> None:
            want = len(outcomes) + count
            for _ in range(count):
                lead().propose(os.urandom(160), outcomes.append)
            await wait_for(lambda: len(outcomes) == want)
            assert set(outcomes) == {CommitOutcome.COMMITTED}

        await propose(40)
        follower = members["n2"]
        await wait_for(lambda: len(follower.applied) == len(leader.applied))
        await follower.stop()
        stopped_at = len(follower.applied) - 1
        await propose(120)
        await asyncio.sleep(0.5)  # five rounds
        # n1 keeps up, so its deletions only follow its applied index; the leader keeps
        # the file holding n2's last entry.
        n1 = members["n1"].node
        assert n1 is not None and n1.log.first_index > stopped_at
        assert 0 < lead().log.first_index <= stopped_at + 1
        await follower.start()
        await wait_for(lambda: follower.applied == leader.applied)
        await wait_for(lambda: lead().log.first_index > stopped_at + 1)

        await follower.stop()
        stopped_at = len(follower.applied) - 1
        await propose(60)
        with caplog.at_level(logging.WARNING, "orbitmq.dledger.retention"):
            disk[0] = 0.8
            await wait_for(lambda: lead().log.first_index > stopped_at + 1)
        assert f"follower n2 (at entry {stopped_at})" in caplog.text
        restarted = await follower.start()
        await propose(10)  # n1 makes the quorum
        await asyncio.sleep(0.5)
        assert (restarted.role, restarted.leader_id) == (Role.FOLLOWER, "n0")
        assert restarted.log.last_index == stopped_at
        peer = lead().status()["peers"]["n2"]
        assert peer["next_index"] < lead().log.first_index
    finally:
        for member in members.values():
            await member.stop()
