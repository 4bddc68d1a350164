"""A DLedger member's disk misbehaving, with real processes and a real filesystem.

(a) A follower's store on a small tmpfs fills up while sends go on: the other two
    members are a majority, so every send is still acknowledged; the full follower
    stays up (no crash loop), and once space is freed it catches up by itself and can
    lead with every acknowledged message. Needs root (mount); skipped otherwise.
(b) A follower killed and restarted with the unsynced tail of its Raft log lost (the
    data file zeroed from the middle of an entry, as lost page cache leaves it, while
    its index still names the lost entries), and in a second variant a longer tail of
    its commit log too: recovery cuts the torn tails, the member applies again what its
    commit log lost, rejoins and catches up; after the leader is killed the new leader,
    and then that member as leader, serve every acknowledged message.

Both also run the official C++ client (cpp_load.CppLoad: a paced producer and a
PushConsumer) through the fault and the change of leader that ends them, on until the
producer works again and the consumer has everything (librocketmq takes up to 30 s for
either, see cpp_load): its acknowledged sends must be read where acknowledged and all be
consumed. Runtime: about 85 s for the file (each torn-tail variant 35 s).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orbitmq.client import MQAdmin, Producer
from orbitmq.dledger.entry import EntryKind, check_entry
from orbitmq.dledger.rpc import LEADERSHIP_TRANSFER
from orbitmq.protocol.message import MESSAGE_MAGIC_CODE
from orbitmq.remoting.client import RemotingClient
from tests.integration.cpp_load import CppLoad, without_cpp
from tests.integration.dledger_set import (
    DLedgerSet,
    Member,
    max_offsets,
    member_status,
    registered_ids,
    wait_master,
)
from tests.integration.send_history import (
    SendHistory,
    final_read,
    send_load,
    send_one,
    verdict,
)
from tests.integration.test_store_disk import tmpfs
from tests.processes import start_namesrv

pytestmark = [pytest.mark.slow, pytest.mark.compat, pytest.mark.timeout(240)]

_RECORD_HEAD = struct.Struct(">ii")  # a commit log record's TOTALSIZE, MAGICCODE
TOPIC = "RaftDisk"
RAFT_GROUP = "RaftNode00"
QUEUES = 4
# Small segments (Raft data files are commit-log-sized too) so that a few MiB of sends
# need new ones; everything kept so that "nothing lost" can be checked.
SMALL_FILES: dict[str, object] = {
    "mapedFileSizeCommitLog": 4 * 1024 * 1024,
    "maxHashSlotNum": 1000,
    "maxIndexNum": 10_000,
    "cleanFileForciblyEnable": "false",
}


@pytest.fixture
def namesrv(tmp_path: Path) -> Iterator[str]:
    process, addr = start_namesrv(tmp_path)
    try:
        yield addr
    finally:
        process.stop()


def _assert_clean(history: SendHistory, read: dict[tuple[str, int, int], str]) -> None:
    bad = {row: keys for row, keys in verdict(history, without_cpp(read)).items() if keys}
    assert not bad, {row: keys[:10] for row, keys in bad.items()}


async def _create_topic(admin: MQAdmin, dset: DLedgerSet) -> Member:
    master = await wait_master(admin, dset, 30)
    await admin.create_topic(
        master.broker_addr, TOPIC, read_queue_nums=QUEUES, write_queue_nums=QUEUES
    )
    return master


async def _status(client: RemotingClient, member: Member) -> dict[str, object]:
    status = await member_status(client, member)
    assert status is not None, f"{member.self_id} does not answer"
    return status


async def _caught_up(
    client: RemotingClient, dset: DLedgerSet, leader: Member, member: Member, timeout: float
) -> float:
    """Wait until `member` holds and serves everything the leader had at the previous
    poll; return the wait. (The C++ load keeps writing: a follower learns that an entry is
    committed only with the leader's next append or heartbeat, so it trails the leader's
    latest state by an entry or so, and may hold more than an older one.)"""
    started = time.monotonic()
    deadline = started + timeout
    before: tuple[dict[str, Any] | None, list[int]] | None = None
    while True:
        lead = await member_status(client, leader)
        lead_offsets = await max_offsets(client, leader.broker_addr, TOPIC, QUEUES)
        mine = await member_status(client, member)
        offsets = await max_offsets(client, member.broker_addr, TOPIC, QUEUES)
        if before is not None and before[0] is not None and mine is not None:
            then, then_offsets = before
            if (
                mine["last_index"] >= then["last_index"]
                and mine["applied_index"] >= then["last_index"]
                and all(got >= want for got, want in zip(offsets, then_offsets, strict=True))
            ):
                return time.monotonic() - started
        assert time.monotonic() < deadline, (
            f"{member.self_id} did not catch up: {mine}, offsets {offsets}; leader {lead}, "
            f"offsets {lead_offsets}\n{dset.logs()}"
        )
        before = (lead, lead_offsets)
        await asyncio.sleep(0.1)


def _fill(disk: Path) -> Path:
    """Take every free block of `disk` with one file; return it."""
    ballast = disk / "ballast"
    stat = os.statvfs(disk)
    with open(ballast, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, stat.f_bavail * stat.f_frsize)
    return ballast


async def _send_padded(
    producer: Producer, history: SendHistory, prefix: str, count: int, size: int = 16 * 1024
) -> None:
    """Send `count` keyed messages of about `size` bytes ("key:" then padding; the
    producer must not compress), recording each outcome as send_load does."""
    for i in range(count):
        key = f"{prefix}-{i}"
        await send_one(producer, history, key, f"{key}:".encode().ljust(size, b"x"))


async def _first_ok_send(producer: Producer, history: SendHistory, timeout: float) -> None:
    """Send until one send is acknowledged. After a handover the producer's route still
    names the old leader, which refuses sends (definite "fail"s), until the producer
    refreshes it (at most once a second)."""
    deadline = time.monotonic() + timeout
    for attempt in itertools.count():
        await _send_padded(producer, history, f"handover{attempt}", 1)
        if history.records[-1].outcome == "ok":
            return
        assert time.monotonic() < deadline, history.records[-1]
        await asyncio.sleep(0.05)


async def _read_keys(namesrv: str) -> dict[tuple[str, int, int], str]:
    read = without_cpp(await final_read(namesrv, TOPIC, [RAFT_GROUP], QUEUES))
    return {where: body.split(":", 1)[0] for where, body in read.items()}


async def _lead(admin: MQAdmin, dset: DLedgerSet, member: Member, timeout: float) -> None:
    """Hand leadership to `member` and wait until the NameServer has it as id 0."""
    leader = await wait_master(admin, dset, 15)
    if leader is not member:
        await admin.invoke(
            leader.broker_addr, LEADERSHIP_TRANSFER, {"transfereeId": member.self_id}
        )
    deadline = time.monotonic() + timeout
    while (await registered_ids(admin, dset.name)).get(0) != member.broker_addr:
        assert time.monotonic() < deadline, f"{member.self_id} never became master\n{dset.logs()}"
        await asyncio.sleep(0.1)


async def test_full_follower_disk_keeps_the_set_writable_and_catches_up(
    tmp_path: Path, namesrv: str
) -> None:
    with tmpfs(tmp_path / "disk", "64m") as disk:
        dset = DLedgerSet(tmp_path, namesrv, overrides=SMALL_FILES)
        full = dset.member("n2")
        full.properties["storePathRootDir"] = disk / "store"
        admin = MQAdmin(namesrv)
        client = RemotingClient()
        history = SendHistory(TOPIC)
        producer = Producer(
            "PG_DISK",
            namesrv,
            send_timeout=5.0,
            retry_times_when_send_failed=0,
            compress_over=1 << 30,  # sizes on disk as sent
        )
        cpp = CppLoad(tmp_path, namesrv, TOPIC)
        try:
            # n0 and n1 elect a leader first, so the small disk belongs to a follower.
            for member in dset.members[:2]:
                dset.start(member, wait=False)
            for member in dset.members[:2]:
                assert member.process is not None
                member.process.wait_booted()
            leader = await _create_topic(admin, dset)
            dset.start(full)
            await producer.start()
            await cpp.start()
            await _send_padded(producer, history, "before", 100)
            await _caught_up(client, dset, leader, full, 20)

            ballast = _fill(disk)
            await _send_padded(producer, history, "full", 600)
            lead, stuck = await _status(client, leader), await _status(client, full)
            lag = int(lead["last_index"]) - int(stuck["last_index"])
            assert lag > 100, f"the follower never ran out of space (lag {lag})"
            assert full.alive, dset.logs()
            assert stuck["role"] == "FOLLOWER" and stuck["leader_id"] == leader.self_id
            assert full.process is not None
            # It says why, once per failing streak rather than once per resent entry (a
            # smaller resent batch may still fit the current file now and then).
            said = full.process.tail(400).count("cannot store entries")
            assert 1 <= said <= 3, full.process.tail()
            not_ok = [r for r in history.records if r.outcome != "ok"]
            assert not not_ok, [(r.key, r.outcome) for r in not_ok[:10]]

            ballast.unlink()
            took = await _caught_up(client, dset, leader, full, 30)
            assert full.alive and "storing entries resumed" in full.process.tail(400)
            # A whole member again: it can lead, and serves every acknowledged message.
            await _lead(admin, dset, full, 15)
            handed_over_ms = time.time() * 1000
            await _first_ok_send(producer, history, 5)
            await _send_padded(producer, history, "after", 50)
            read = await _read_keys(namesrv)
            cpp_result, cpp_report = await cpp.finish(handed_over_ms, [dset.name], QUEUES)
            print(
                f"\nfull follower: {lag} entries behind while full, caught up {took:.2f} s "
                f"after space was freed; {len(history.ok)} ok sends; {cpp_report}"
            )
        finally:
            cpp.close()
            await producer.shutdown()
            await admin.shutdown()
            await client.aclose()
            dset.stop_all()
    _assert_clean(history, read)
    not_ok = [(r.key, r.outcome) for r in history.records if r.outcome != "ok"]
    assert all(key.startswith("handover") and outcome == "fail" for key, outcome in not_ok)
    assert len(history.ok) == 751
    cpp.assert_clean(cpp_result)


def _cut_torn_tail(data_dir: Path, entries_lost: int) -> int:
    """Zero the newest data file from the middle of its `entries_lost`-th last entry to
    its end, as lost page cache would leave it (the index file keeps naming the lost
    entries). Returns the index of the torn entry: the log must now end just before."""
    newest = max(data_dir.iterdir(), key=lambda p: int(p.name))
    data = bytearray(newest.read_bytes())
    starts: list[tuple[int, int, int]] = []  # (offset, size, entry index)
    offset = 0
    while True:
        kind, header, _ = check_entry(data, offset, len(data))
        if kind is not EntryKind.ENTRY:
            break
        assert header is not None
        starts.append((offset, header.size, header.index))
        offset += header.size
    assert len(starts) > entries_lost, f"only {len(starts)} entries in {newest}"
    torn_at, torn_size, torn_index = starts[-entries_lost]
    cut = torn_at + torn_size // 2
    with open(newest, "r+b") as fh:
        fh.seek(cut)
        fh.write(bytes(offset - cut))
    return torn_index


def _cut_commit_log(commit_log_dir: Path, records_lost: int) -> None:
    """Zero the commit log from the middle of its `records_lost`-th last record on."""
    newest = max(commit_log_dir.iterdir(), key=lambda p: int(p.name))
    data = newest.read_bytes()
    starts: list[tuple[int, int]] = []
    offset = 0
    while offset + 8 <= len(data):
        size, magic = _RECORD_HEAD.unpack_from(data, offset)
        if size <= 0 or magic != MESSAGE_MAGIC_CODE:
            break
        starts.append((offset, size))
        offset += size
    assert len(starts) > records_lost, f"only {len(starts)} records in {newest}"
    torn_at, torn_size = starts[-records_lost]
    cut = torn_at + torn_size // 2
    with open(newest, "r+b") as fh:
        fh.seek(cut)
        fh.write(bytes(offset - cut))


@pytest.mark.parametrize(
    "lost",
    [
        "raft-log",  # the Raft log's tail only: the commit log is ahead of it
        "raft-and-commit-log",  # the commit log lost more: entries are applied again
    ],
)
async def test_member_restarted_without_its_unsynced_tail_recovers_and_loses_nothing(
    tmp_path: Path, namesrv: str, lost: str
) -> None:
    dset = DLedgerSet(tmp_path, namesrv)
    admin = MQAdmin(namesrv)
    client = RemotingClient()
    history = SendHistory(TOPIC)
    producer = Producer("PG_TORN", namesrv, send_timeout=3.0, retry_times_when_send_failed=0)
    cpp = CppLoad(tmp_path, namesrv, TOPIC)
    try:
        dset.start_all()
        leader = await _create_topic(admin, dset)
        await producer.start()
        await cpp.start()
        await send_load(producer, history, "first", count=300, seconds=20, interval=0)
        member = next(m for m in dset.members if m is not leader)
        await _caught_up(client, dset, leader, member, 10)
        dset.kill(member)
        torn = _cut_torn_tail(member.store_dir / f"dledger-{member.self_id}" / "data", 30)
        if lost == "raft-and-commit-log":
            _cut_commit_log(member.store_dir / "commitlog", 60)
        await send_load(producer, history, "second", count=100, seconds=10, interval=0)

        dset.start(member)
        assert member.process is not None
        boot = member.process.tail(400)
        assert f"loaded: entries 0..{torn - 1}," in boot, boot  # the torn entry and after: cut
        dropped = re.search(r"log ends at \d+ \((\d+) bytes dropped\)", boot)
        applied = re.search(
            r"started: term \d+, log 0\.\.\d+, committed -?\d+, applied (-?\d+)", boot
        )
        assert dropped is not None and applied is not None, boot
        if lost == "raft-log":
            # The commit log holds more than the Raft log now: applied up to its end.
            assert (int(dropped.group(1)), int(applied.group(1))) == (0, torn - 1), boot
        else:
            # The commit log lost its torn tail too: those entries are applied again.
            assert int(dropped.group(1)) > 0 and int(applied.group(1)) < torn - 1, boot
        took = await _caught_up(client, dset, leader, member, 20)
        await send_load(producer, history, "third", count=100, seconds=10, interval=0)
        await _caught_up(client, dset, leader, member, 10)

        dset.kill(leader)
        new = await wait_master(admin, dset, 15, exclude=leader.self_id)
        read_new = await final_read(namesrv, TOPIC, [dset.name], QUEUES)
        # Back as a supervisor would bring it: see cpp_load (the C++ consumer).
        dset.start(leader)
        # Whichever member leads now, the restarted one must hold everything too.
        await _lead(admin, dset, member, 15)
        handed_over_ms = time.time() * 1000
        read_member = await final_read(namesrv, TOPIC, [dset.name], QUEUES)
        cpp_result, cpp_report = await cpp.finish(handed_over_ms, [dset.name], QUEUES)
        print(
            f"\ntorn tail: entry {torn} onwards cut on {member.self_id}, caught up in "
            f"{took:.2f} s; new leader {new.self_id}; {len(history.ok)} ok sends; {cpp_report}"
        )
    finally:
        cpp.close()
        await producer.shutdown()
        await admin.shutdown()
        await client.aclose()
        dset.stop_all()
    assert len(history.ok) == 500
    _assert_clean(history, read_new)
    _assert_clean(history, read_member)
    cpp.assert_clean(cpp_result)
