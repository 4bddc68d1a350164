"""DLedger sets under faults, with real processes and real signals: the leader killed
again and again under load, the leader paused past the election timeout, a member
restarted with an empty store. Every acknowledged send must stay readable at the
queue offset it was acknowledged with (send_history.verdict).

Each scenario also runs the official C++ client (cpp_load.CppLoad: a paced producer and a
PushConsumer) through its fault and on until the producer works again and the consumer
has everything: its acknowledged sends must be read where acknowledged and all be
consumed. librocketmq takes up to 30 s for either after a failover (see cpp_load).
Runtime: about 90 s for the file (the two SIGKILL scenarios 35 s each).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orbitmq.client import MQAdmin, Producer
from orbitmq.remoting.client import RemotingClient
from tests.integration.cpp_load import CppLoad, without_cpp
from tests.integration.dledger_set import (
    DLedgerSet,
    max_offsets,
    member_status,
    registered_ids,
    running_set,
    wait_master,
)
from tests.integration.send_history import SendHistory, final_read, send_load, verdict
from tests.processes import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.compat]

TOPIC = "RaftFaults"
QUEUES = 4
KILLS = int(os.environ.get("ORBITMQ_DLEDGER_KILLS", "4"))


@pytest.fixture
def raft_set(tmp_path: Path) -> Iterator[tuple[ServerProcess, str, DLedgerSet]]:
    with running_set(tmp_path) as started:
        yield started


async def _ready(admin: MQAdmin, dset: DLedgerSet) -> Producer:
    master = await wait_master(admin, dset, 30)
    await admin.create_topic(
        master.broker_addr, TOPIC, read_queue_nums=QUEUES, write_queue_nums=QUEUES
    )
    # One attempt per send, so that a "fail" outcome is that attempt's own.
    producer = Producer(
        "PG_FAULTS", dset.namesrv_addr, send_timeout=3.0, retry_times_when_send_failed=0
    )
    await producer.start()
    return producer


def _holds(got: list[int], want: list[int]) -> bool:
    """Every queue of `got` reaches `want`'s offset (the C++ load keeps writing, so a
    member that caught up may already hold more)."""
    return all(g >= w for g, w in zip(got, want, strict=True))


def _assert_clean(history: SendHistory, read: dict[tuple[str, int, int], str]) -> None:
    bad = {row: keys for row, keys in verdict(history, without_cpp(read)).items() if keys}
    assert not bad, {row: keys[:10] for row, keys in bad.items()}


async def test_leader_killed_repeatedly_under_load_loses_nothing(
    raft_set: tuple[ServerProcess, str, DLedgerSet], tmp_path: Path
) -> None:
    _namesrv, namesrv_addr, dset = raft_set
    admin = MQAdmin(namesrv_addr)
    history = SendHistory(TOPIC)
    producer = await _ready(admin, dset)
    cpp = CppLoad(tmp_path, namesrv_addr, TOPIC)
    failovers: list[float] = []
    failed_over_ms = 0.0
    try:
        await cpp.start()
        load = asyncio.create_task(
            send_load(producer, history, "kill", count=100_000, seconds=30 + KILLS * 12)
        )
        for _ in range(KILLS):
            await asyncio.sleep(2)
            master = await wait_master(admin, dset, 15)
            killed_at = time.monotonic()
            dset.kill(master)
            await wait_master(admin, dset, 15, exclude=master.self_id)
            failovers.append(time.monotonic() - killed_at)
            failed_over_ms = time.time() * 1000
            dset.start(master)
        await asyncio.sleep(2)
        load.cancel()
        await asyncio.gather(load, return_exceptions=True)
        await wait_master(admin, dset, 15)
        read = await final_read(namesrv_addr, TOPIC, [dset.name], QUEUES)
        cpp_result, cpp_report = await cpp.finish(failed_over_ms, [dset.name], QUEUES)
    finally:
        cpp.close()
        await producer.shutdown()
        await admin.shutdown()
    assert len(history.ok) > 100, dset.logs()
    _assert_clean(history, read)
    cpp.assert_clean(cpp_result)
    print(
        f"failover after SIGKILL of the leader, {len(failovers)} kills: "
        f"median {statistics.median(failovers):.2f} s, max {max(failovers):.2f} s; "
        f"{len(history.ok)} ok, {len(history.records) - len(history.ok)} not ok sends; "
        f"{cpp_report}"
    )
    assert max(failovers) < 10, failovers


async def test_paused_leader_acknowledges_nothing_and_rejoins_as_follower(
    raft_set: tuple[ServerProcess, str, DLedgerSet], tmp_path: Path
) -> None:
    _namesrv, namesrv_addr, dset = raft_set
    admin = MQAdmin(namesrv_addr)
    client = RemotingClient()
    history = SendHistory(TOPIC)
    producer = await _ready(admin, dset)
    cpp = CppLoad(tmp_path, namesrv_addr, TOPIC)
    try:
        await cpp.start()
        old = await wait_master(admin, dset, 30)
        await send_load(producer, history, "before", count=100, seconds=10)
        dset.pause(old)
        new = await wait_master(admin, dset, 15, exclude=old.self_id)
        failed_over_ms = time.time() * 1000
        await send_load(producer, history, "during", count=100, seconds=10)
        dset.resume(old)
        # The old leader steps down, truncates anything uncommitted, and follows.
        deadline = time.monotonic() + 15
        while True:
            status = await member_status(client, old)
            if status and status["role"] == "FOLLOWER" and status["leader_id"] == new.self_id:
                break
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.1)
        follower_id = int(old.self_id[1:]) + 1
        while (await registered_ids(admin, dset.name)).get(follower_id) != old.broker_addr:
            assert time.monotonic() < deadline + 10, dset.logs()
            await asyncio.sleep(0.1)
        await send_load(producer, history, "after", count=100, seconds=10)
        want = await max_offsets(client, new.broker_addr, TOPIC, QUEUES)
        deadline = time.monotonic() + 5
        while not _holds(await max_offsets(client, old.broker_addr, TOPIC, QUEUES), want):
            assert time.monotonic() < deadline, "the resumed member did not catch up"
            await asyncio.sleep(0.1)
        read = await final_read(namesrv_addr, TOPIC, [dset.name], QUEUES)
        cpp_result, cpp_report = await cpp.finish(failed_over_ms, [dset.name], QUEUES)
    finally:
        cpp.close()
        await producer.shutdown()
        await admin.shutdown()
        await client.aclose()
    _assert_clean(history, read)
    assert len([r for r in history.ok if r.key.startswith("during")]) > 50
    cpp.assert_clean(cpp_result)
    print(f"\nleader paused: {cpp_report}")


async def test_member_restarted_with_empty_store_catches_up(
    raft_set: tuple[ServerProcess, str, DLedgerSet], tmp_path: Path
) -> None:
    _namesrv, namesrv_addr, dset = raft_set
    admin = MQAdmin(namesrv_addr)
    client = RemotingClient()
    history = SendHistory(TOPIC)
    producer = await _ready(admin, dset)
    cpp = CppLoad(tmp_path, namesrv_addr, TOPIC)
    try:
        await cpp.start()
        master = await wait_master(admin, dset, 30)
        await send_load(producer, history, "first", count=300, seconds=20, interval=0)
        follower = next(m for m in dset.members if m is not master)
        dset.kill(follower)
        shutil.rmtree(follower.store_dir)
        await send_load(producer, history, "second", count=100, seconds=10, interval=0)
        dset.start(follower)
        want = await max_offsets(client, master.broker_addr, TOPIC, QUEUES)
        deadline = time.monotonic() + 20
        while not _holds(await max_offsets(client, follower.broker_addr, TOPIC, QUEUES), want):
            assert time.monotonic() < deadline, dset.logs()
            await asyncio.sleep(0.1)
        # With the emptied member caught up, losing the old leader loses nothing.
        dset.kill(master)
        await wait_master(admin, dset, 15, exclude=master.self_id)
        failed_over_ms = time.time() * 1000
        read = await final_read(namesrv_addr, TOPIC, [dset.name], QUEUES)
        # Back as a supervisor would bring it: see cpp_load (the C++ consumer).
        dset.start(master)
        cpp_result, cpp_report = await cpp.finish(failed_over_ms, [dset.name], QUEUES)
    finally:
        cpp.close()
        await producer.shutdown()
        await admin.shutdown()
        await client.aclose()
    _assert_clean(history, read)
    cpp.assert_clean(cpp_result)
    print(f"\nempty-store member, then the leader killed: {cpp_report}")
