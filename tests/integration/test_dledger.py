"""DLedger mode with real broker processes: election and registration, replication
of committed entries only, follower refusals, and failover when the leader is killed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orbitmq.client import Message, MQAdmin, Producer, SendStatus
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from tests.integration.dledger_set import (
    DLedgerSet,
    max_offsets,
    member_status,
    registered_ids,
    running_set,
    wait_master,
)
from tests.integration.send_history import final_read
from tests.integration.test_replication import SEND_EXT
from tests.processes import ServerProcess

pytestmark = pytest.mark.slow

TOPIC = "RaftTopic"
QUEUES = 4


# SYNC_FLUSH: every member fsyncs an entry before it counts towards the quorum.
@pytest.fixture(params=["ASYNC_FLUSH", "SYNC_FLUSH"])
def raft_set(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[ServerProcess, str, DLedgerSet]]:
    with running_set(tmp_path, {"flushDiskType": request.param}) as started:
        yield started


async def _create_topic(admin: MQAdmin, master_addr: str) -> None:
    await admin.create_topic(master_addr, TOPIC, read_queue_nums=QUEUES, write_queue_nums=QUEUES)


async def _send_keys(producer: Producer, keys: list[str]) -> dict[str, tuple[int, int]]:
    """Send one message per key; return key -> (queueId, queueOffset) of each SEND_OK."""
    acked: dict[str, tuple[int, int]] = {}
    for key in keys:
        try:
            result = await producer.send(Message(TOPIC, key.encode(), keys=[key]))
        except Exception:
            continue
        if result.status is SendStatus.SEND_OK:
            acked[key] = (result.message_queue.queue_id, result.queue_offset)
    return acked


async def test_three_members_elect_replicate_and_fail_over(
    raft_set: tuple[ServerProcess, str, DLedgerSet],
) -> None:
    _namesrv, namesrv_addr, dset = raft_set
    client = RemotingClient()
    admin = MQAdmin(namesrv_addr)
    producer = Producer("PG_RAFT", namesrv_addr, send_timeout=3.0)
    try:
        master = await wait_master(admin, dset, 30)
        # Both followers registered too, with their member digits + 1.
        deadline = time.monotonic() + 30
        expected = {0} | {int(m.self_id[1:]) + 1 for m in dset.members if m is not master}
        while set(await registered_ids(admin, dset.name)) != expected:
            assert time.monotonic() < deadline, await registered_ids(admin, dset.name)
            await asyncio.sleep(0.1)
        await _create_topic(admin, master.broker_addr)
        await producer.start()
        acked = await _send_keys(producer, [f"k-{i}" for i in range(200)])
        assert len(acked) == 200

        # Every member serves the same committed queues once sends stop.
        want = await max_offsets(client, master.broker_addr, TOPIC, QUEUES)
        assert sum(want) == 200
        for member in dset.members:
            deadline = time.monotonic() + 3
            while await max_offsets(client, member.broker_addr, TOPIC, QUEUES) != want:
                assert time.monotonic() < deadline, member.self_id
                await asyncio.sleep(0.05)

        # A follower refuses sends and names the leader.
        follower = next(m for m in dset.members if m is not master)
        response = await client.invoke(
            follower.broker_addr,
            RemotingCommand.request(
                RequestCode.SEND_MESSAGE,
                {**SEND_EXT, "topic": TOPIC},
                b"refused",
            ),
            timeout=3.0,
        )
        assert response.code == ResponseCode.SERVICE_NOT_AVAILABLE
        leader_status = await member_status(client, master)
        assert leader_status is not None
        assert leader_status["self_id"] in (response.remark or "")

        # Kill the leader: another member becomes master and takes sends.
        killed_at = time.monotonic()
        dset.kill(master)
        new_master = await wait_master(admin, dset, 15, exclude=master.self_id)
        failover = time.monotonic() - killed_at
        assert failover < 10, failover
        acked.update(await _send_keys(producer, [f"after-{i}" for i in range(100)]))

        # The old leader comes back as a follower and catches up.
        dset.start(master)
        deadline = time.monotonic() + 20
        follower_id = int(master.self_id[1:]) + 1
        while (await registered_ids(admin, dset.name)).get(follower_id) != master.broker_addr:
            assert time.monotonic() < deadline, dset.logs()
            await asyncio.sleep(0.1)

        found = await final_read(namesrv_addr, TOPIC, [dset.name], QUEUES)
        by_key = {key: (queue_id, offset) for (_, queue_id, offset), key in found.items()}
        lost = [key for key in acked if key not in by_key]
        assert not lost, f"acknowledged but not readable: {lost[:10]}"
        moved = [key for key, where in acked.items() if by_key[key] != where]
        assert not moved, f"read at another queue offset than acknowledged: {moved[:10]}"
        want = await max_offsets(client, new_master.broker_addr, TOPIC, QUEUES)
        deadline = time.monotonic() + 5
        while await max_offsets(client, master.broker_addr, TOPIC, QUEUES) != want:
            assert time.monotonic() < deadline, "the restarted member did not catch up"
            await asyncio.sleep(0.1)
    finally:
        await producer.shutdown()
        await admin.shutdown()
        await client.aclose()
