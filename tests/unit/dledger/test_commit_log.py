"""The commit log as the Raft state machine (orbitmq/dledger/commit_log.py).

Records are laid out at the projected end of the log, as a leader does, and the
resulting entries are applied to stores of their own: every store that applies the
same entries must hold the same bytes at the same offsets, across segment ends (where
the blank marker the layout assumed is written), whatever it held before.
"""

from __future__ import annotations

import random
from pathlib import Path

from orbitmq.dledger.commit_log import DLedgerCommitLog, find_applied_index, first_record_offset
from orbitmq.dledger.config import DLedgerConfig
from orbitmq.dledger.log import DLedgerLog
from orbitmq.dledger.messages import Entry
from orbitmq.dledger.node import DLedgerNode
from orbitmq.protocol.message import decode_records, encode_properties
from orbitmq.store import MessageStore

from ..store.conftest import make_msg, small_config

SEGMENT = 4096


def _node(root: Path) -> DLedgerNode:
    config = DLedgerConfig(
        group="g",
        self_id="n0",
        peers={"n0": ("127.0.0.1", 1), "n1": ("127.0.0.1", 2), "n2": ("127.0.0.1", 3)},
        preferred_leader_ids=(),
        data_dir=str(root / "dledger-n0"),
        heartbeat_interval_ms=200,
        election_timeout_ms=1000,
        sync_flush=False,
        data_file_size=SEGMENT * 4,
    )
    return DLedgerNode(
        config,
        apply=lambda body: None,
        on_role_change=lambda c: None,
        broker_addr=lambda: "127.0.0.1:10911",
    )


def _laid_out_entries(store: MessageStore, count: int, seed: int) -> list[Entry]:
    """`count` proposals (single messages and batches, some no-ops) laid out at the
    projected end, as a leader lays them out before any of them is applied."""
    rng = random.Random(seed)
    commit_log = store.commit_log
    end = commit_log.max_offset
    entries: list[Entry] = []
    for index in range(count):
        if rng.random() < 0.1:
            entries.append(Entry(index, 1, b""))
            continue
        queue_id = rng.randrange(2)
        msgs = [
            make_msg(queue_id=queue_id, body=bytes(rng.randrange(50, 400)), KEYS=f"k{index}-{i}")
            for i in range(rng.choice((1, 1, 3)))
        ]
        laid = commit_log.lay_out(msgs, [encode_properties(m.properties) for m in msgs], end)
        commit_log.commit_laid_out(msgs, laid)
        end = laid.physical + len(laid.data)
        entries.append(Entry(index, 1, bytes(laid.data)))
    return entries


def _commit_log_bytes(store: MessageStore) -> bytes:
    out = bytearray()
    offset = store.commit_log.min_offset
    while offset < store.commit_log.max_offset:
        data = store.commit_log.read_data(offset, SEGMENT)
        assert data is not None and len(data) > 0
        out += data
        offset += len(data)
    return bytes(out)


async def test_members_applying_the_same_entries_hold_the_same_log(tmp_path: Path) -> None:
    leader = MessageStore(small_config(tmp_path / "leader"))
    follower = MessageStore(small_config(tmp_path / "follower"))
    await leader.start()
    await follower.start()
    try:
        entries = _laid_out_entries(leader, 60, seed=7)
        for store, root in ((leader, "leader"), (follower, "follower")):
            state_machine = DLedgerCommitLog(store, _node(tmp_path / root))
            for entry in entries:
                state_machine.apply(memoryview(entry.body))
            await store.wait_dispatched(store.commit_log.max_offset)
        assert leader.commit_log.max_offset > 3 * SEGMENT  # crossed segment ends
        assert _commit_log_bytes(leader) == _commit_log_bytes(follower)
        for entry in entries:
            if entry.body:
                msg = follower.look_message_by_offset(first_record_offset(entry.body))
                assert msg is not None
                assert msg.keys and msg.keys[0].startswith(f"k{entry.index}-")
        # Queue offsets are contiguous per queue, as the leader assigned them.
        for queue_id in range(2):
            count = follower.get_max_offset_in_queue("TopicTest", queue_id)
            offsets: list[int] = []
            while len(offsets) < count:
                got = follower.get_message("TopicTest", queue_id, len(offsets), 32)
                assert got.message_count > 0
                offsets += [m.queue_offset for m in decode_records(got.body())]
                got.release()
            assert offsets == list(range(count))
    finally:
        await leader.aclose()
        await follower.aclose()


async def test_applying_again_skips_what_the_commit_log_already_holds(tmp_path: Path) -> None:
    leader = MessageStore(small_config(tmp_path / "leader"))
    restarted = MessageStore(small_config(tmp_path / "restarted"))
    await leader.start()
    await restarted.start()
    try:
        entries = _laid_out_entries(leader, 40, seed=3)
        state_machine = DLedgerCommitLog(restarted, _node(tmp_path / "restarted"))
        for entry in entries[:25]:
            state_machine.apply(memoryview(entry.body))
        # A restart resumes from an older index (a stale checkpoint): nothing doubles.
        for entry in entries:
            state_machine.apply(memoryview(entry.body))
        reference = DLedgerCommitLog(leader, _node(tmp_path / "leader"))
        for entry in entries:
            reference.apply(memoryview(entry.body))
        assert _commit_log_bytes(restarted) == _commit_log_bytes(leader)
    finally:
        await leader.aclose()
        await restarted.aclose()


async def test_find_applied_index_is_the_last_entry_the_commit_log_holds(tmp_path: Path) -> None:
    leader = MessageStore(small_config(tmp_path / "leader"))
    await leader.start()
    raft_log = DLedgerLog(str(tmp_path / "raft"), SEGMENT * 4)
    raft_log.load()
    try:
        entries = _laid_out_entries(leader, 30, seed=11)
        raft_log.append(entries)
        assert find_applied_index(raft_log, 0) == -1
        bodies = [e for e in entries if e.body]
        for entry in bodies:
            end = first_record_offset(entry.body) + len(entry.body)
            assert find_applied_index(raft_log, end) == entry.index
        # A commit log ending inside an entry's records: that entry is not applied.
        middle = bodies[5]
        start = first_record_offset(middle.body)
        assert find_applied_index(raft_log, start + 10) == bodies[4].index
    finally:
        raft_log.close()
        await leader.aclose()
