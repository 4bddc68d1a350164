"""DLedgerLog.delete_files_before (orbitmq/dledger/log.py) and Raft replication from a
log whose prefix retention removed (orbitmq/dledger/raft.py).

Small segments as in test_log.py: 4 KiB data files holding 20 entries of 150 bytes
each (file k: entries 20k..20k+19), 16-unit index files, so data and index files end
at different entries. A crash between two deletions is played by deleting some of the
files by hand between a close and a load.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from orbitmq.dledger.log import DataFileSpan, DLedgerLog, destroy_files
from orbitmq.dledger.messages import AppendRequest, AppendResponse, Entry, HardState, Role
from orbitmq.dledger.raft import RaftConfig, RaftCore

from .test_log import DATA, INDEX, open_log, segment
from .test_raft_core import CONFIG, Cluster

PER_FILE = 20  # 150-byte bodies: 198-byte entries, 20 in a 4096-byte file


def body(index: int, size: int = 150) -> bytes:
    return random.Random(index).randbytes(size)


def term_of(index: int) -> int:
    return 1 + index // 50


def fill(raft_log: DLedgerLog, count: int) -> list[Entry]:
    entries = [Entry(i, term_of(i), body(i)) for i in range(count)]
    raft_log.append(entries)
    return entries


def readable(raft_log: DLedgerLog) -> list[Entry]:
    return raft_log.entries(raft_log.first_index, 1 << 30, 1 << 40)


def files_in(path: Path, kind: str) -> list[int]:
    return sorted(int(name) for name in os.listdir(path / kind))


def check_start(raft_log: DLedgerLog, entries: list[Entry], first: int) -> None:
    """The log reads as `entries` from `first` on and knows only the term before it."""
    assert raft_log.first_index == first
    assert readable(raft_log) == entries[first:]
    assert raft_log.term_at(first - 1) == entries[first - 1].term
    assert raft_log.term_at(first - 2) == -1
    for below in (first - 1, first - 2):
        with pytest.raises(IndexError):
            raft_log.entries(below, 1, 1 << 20)
        with pytest.raises(IndexError):
            raft_log.read_body(below)


# ---------------------------------------------------------------------- the files


def test_files_wholly_below_the_index_go_and_the_log_starts_after_the_first_kept(
    tmp_path: Path,
) -> None:
    raft_log = open_log(tmp_path)
    entries = fill(raft_log, 10 * PER_FILE)
    assert raft_log.data_files()[:2] == [
        DataFileSpan(str(segment(tmp_path, "data", 0)), 0, 19),
        DataFileSpan(str(segment(tmp_path, "data", DATA)), 20, 39),
    ]
    assert raft_log.delete_files_before(65) == 3  # entries 0..59; 65 is in the 4th file
    check_start(raft_log, entries, 61)  # entry 60 opens the first file left
    assert files_in(tmp_path, "data")[0] == 3 * DATA
    # Units of 60 on are kept (60 * 32 = 1920 lies in the index file from 1536).
    assert files_in(tmp_path, "index")[0] == 3 * INDEX
    assert raft_log.term_at(raft_log.last_index) == entries[-1].term
    raft_log.close()

    reopened = open_log(tmp_path)
    check_start(reopened, entries, 61)
    assert (reopened.last_index, reopened.last_term) == (199, term_of(199))
    reopened.close()


def test_never_the_file_holding_the_index_nor_the_last_one(tmp_path: Path) -> None:
    raft_log = open_log(tmp_path)
    entries = fill(raft_log, 10 * PER_FILE + 1)  # entry 200 alone in the 11th file
    assert raft_log.delete_files_before(0) == 0
    assert raft_log.delete_files_before(40) == 2  # entry 40 opens the third file
    check_start(raft_log, entries, 41)
    assert raft_log.delete_files_before(1 << 40, max_files=1) == 1
    check_start(raft_log, entries, 61)
    assert raft_log.delete_files_before(1 << 40) == 7
    # Only the last file is left, and it holds nothing but the last entry: no entry
    # can be read, but its term is known, so entries can follow it.
    assert (raft_log.first_index, raft_log.last_index) == (201, 200)
    assert raft_log.entries(201, 10, 1 << 20) == []
    assert raft_log.term_at(200) == raft_log.last_term == entries[200].term
    assert files_in(tmp_path, "data") == [10 * DATA]
    more = [Entry(i, 9, body(i)) for i in range(201, 230)]
    raft_log.append(more)
    raft_log.close()

    reopened = open_log(tmp_path)
    check_start(reopened, entries + more, 201)
    assert reopened.last_index == 229
    reopened.close()


def test_truncation_down_to_the_entry_before_the_first_keeps_its_term(tmp_path: Path) -> None:
    raft_log = open_log(tmp_path)
    entries = fill(raft_log, 5 * PER_FILE)
    raft_log.delete_files_before(60)
    with pytest.raises(ValueError, match="starts at 61"):
        raft_log.truncate_after(59)
    raft_log.truncate_after(60)
    assert (raft_log.last_index, raft_log.last_term) == (60, entries[60].term)
    raft_log.append([Entry(61, 7, b"new")])
    raft_log.close()
    reopened = open_log(tmp_path)
    assert (reopened.first_index, reopened.last_index) == (61, 61)
    assert reopened.term_at(60) == entries[60].term
    assert reopened.entries(61, 10, 100) == [Entry(61, 7, b"new")]
    reopened.close()


# ---------------------------------------------------------------------- crashes


def test_a_crash_after_some_data_files_went_leaves_a_loadable_log(tmp_path: Path) -> None:
    raft_log = open_log(tmp_path)
    entries = fill(raft_log, 8 * PER_FILE)
    raft_log.sync()
    raft_log.close()
    # The first unlink of delete_files_before(65) reached the disk, the others did not.
    segment(tmp_path, "data", 0).unlink()
    raft_log = open_log(tmp_path)
    check_start(raft_log, entries, 21)
    assert files_in(tmp_path, "index")[0] == 0  # the units of 0..19 are still there
    # A later round finishes the job, index files included.
    assert raft_log.delete_files_before(65) == 2
    check_start(raft_log, entries, 61)
    assert files_in(tmp_path, "index")[0] == 3 * INDEX
    raft_log.close()


def test_detached_files_stay_part_of_the_log_on_disk_until_destroyed(tmp_path: Path) -> None:
    """The event loop detaches, a thread destroys: a crash in between loses nothing."""
    raft_log = open_log(tmp_path)
    entries = fill(raft_log, 8 * PER_FILE)
    doomed = raft_log.detach_files_before(65)
    kinds = [os.path.basename(os.path.dirname(f.path)) for f in doomed]
    assert kinds == ["data", "data", "data", "index", "index", "index"]
    check_start(raft_log, entries, 61)
    raft_log.close()
    reopened = open_log(tmp_path)  # the process died before destroy_files
    assert reopened.first_index == 0 and readable(reopened) == entries
    destroy_files(reopened.detach_files_before(65))
    reopened.close()
    reopened = open_log(tmp_path)
    check_start(reopened, entries, 61)
    assert files_in(tmp_path, "data")[0] == 3 * DATA
    reopened.close()
    for mapped in doomed:
        mapped.close()


def test_index_files_left_behind_go_with_the_next_round(tmp_path: Path) -> None:
    raft_log = open_log(tmp_path)
    entries = fill(raft_log, 8 * PER_FILE)
    raft_log.close()
    for k in range(3):  # the data files went, the crash came before the index files
        segment(tmp_path, "data", k * DATA).unlink()
    raft_log = open_log(tmp_path)
    check_start(raft_log, entries, 61)
    assert raft_log.delete_files_before(61) == 0
    assert files_in(tmp_path, "index")[0] == 3 * INDEX
    raft_log.append([Entry(160, 9, b"after")])
    assert raft_log.entries(160, 1, 100) == [Entry(160, 9, b"after")]
    raft_log.close()


def test_index_files_deleted_before_their_data_are_rebuilt(tmp_path: Path) -> None:
    """The wrong order (never done, but a disk may lose the data unlink): the index no
    longer reaches the first data entry, so recovery rebuilds it from the data."""
    raft_log = open_log(tmp_path)
    entries = fill(raft_log, 8 * PER_FILE)
    raft_log.close()
    for k in range(3):
        segment(tmp_path, "index", k * INDEX).unlink()
    raft_log = open_log(tmp_path)
    assert raft_log.first_index == 0
    assert readable(raft_log) == entries
    raft_log.close()


def test_random_appends_truncations_deletions_and_reopens_match_a_model(
    tmp_path: Path,
) -> None:
    for seed in range(6):
        rng = random.Random(seed)
        path = tmp_path / str(seed)
        raft_log = open_log(path)
        model: list[Entry] = []
        for _ in range(60):
            op = rng.random()
            if op < 0.5 or not model:
                start, term = len(model), (model[-1].term if model else 1) + rng.randrange(2)
                batch = [
                    Entry(i, term, body(i, rng.randrange(400)))
                    for i in range(start, start + rng.randrange(1, 30))
                ]
                raft_log.append(batch)
                model += batch
            elif op < 0.65:
                cut = rng.randrange(max(0, raft_log.first_index - 1), len(model))
                raft_log.truncate_after(cut)
                del model[cut + 1 :]
            elif op < 0.9:
                before = raft_log.first_index
                raft_log.delete_files_before(rng.randrange(len(model) + 5))
                assert raft_log.first_index >= before
            else:
                raft_log.close()
                raft_log = open_log(path)
            first = raft_log.first_index
            assert (raft_log.last_index, raft_log.last_term) == (len(model) - 1, model[-1].term)
            assert first <= len(model)
            assert readable(raft_log) == model[first:]
            if first:
                assert raft_log.term_at(first - 1) == model[first - 1].term
        raft_log.close()


# ---------------------------------------------------------------------- replication


def dledger_cluster(tmp_path: Path, config: RaftConfig = CONFIG) -> Cluster:
    cluster = Cluster(3, config)
    for node_id in cluster.ids:
        cluster.logs[node_id] = open_log(tmp_path / node_id)
        cluster.restart(node_id)
    return cluster


def close_all(cluster: Cluster) -> None:
    for raft_log in cluster.logs.values():
        raft_log.close()


def log_of(cluster: Cluster, node_id: str) -> DLedgerLog:
    raft_log = cluster.logs[node_id]
    assert isinstance(raft_log, DLedgerLog)
    return raft_log


def appends_to(cluster: Cluster, node_id: str) -> list[AppendRequest]:
    return [m for m in cluster.sent if isinstance(m, AppendRequest) and m.dst == node_id]


def propose_many(cluster: Cluster, count: int) -> None:
    for i in range(count):
        cluster.propose("n0", body(1000 + i))
        if i % 10 == 9:
            cluster.stabilize()
    cluster.stabilize()


def test_a_follower_at_the_entry_before_the_first_catches_up_from_the_first(
    tmp_path: Path,
) -> None:
    c = dledger_cluster(tmp_path)
    try:
        c.elect("n0")
        propose_many(c, 150)
        leader = log_of(c, "n0")
        c.crash("n2")
        propose_many(c, 100)
        # The leader keeps entries from a file start m on; n2 stopped at exactly m and
        # restarts with an old commit hint, so the prev_term of what it gets is checked.
        m = leader.data_files()[3].first_index
        n2_log = log_of(c, "n2")
        n2_log.truncate_after(m)
        assert leader.delete_files_before(m) == 3
        assert leader.first_index == m + 1
        c.restart("n2", committed_index=m - 10)
        c.sent.clear()
        c.run_for(500)
        catch_up = [a for a in appends_to(c, "n2") if a.entries]
        assert catch_up[0].prev_index == m and catch_up[0].prev_term == leader.term_at(m)
        assert catch_up[0].entries[0].index == m + 1
        assert n2_log.last_index == leader.last_index
        assert n2_log.entries(m + 1, 1 << 30, 1 << 40) == readable(leader)
        assert c["n2"].committed_index == c["n0"].committed_index == leader.last_index
        replies = [r for r in c.sent if isinstance(r, AppendResponse) and r.src == "n2"]
        assert replies[-1].success
    finally:
        close_all(c)


def test_a_follower_that_needs_deleted_entries_is_probed_once_per_heartbeat(
    tmp_path: Path,
) -> None:
    """An empty store behind a leader that deleted its prefix: the leader cannot send
    what it lacks (no snapshots), must not fail, and keeps the member following; once
    the store is copied from the leader, replication resumes by itself."""
    c = dledger_cluster(tmp_path)
    try:
        c.elect("n0")
        propose_many(c, 120)
        leader = log_of(c, "n0")
        c.crash("n2")
        leader.delete_files_before(leader.data_files()[4].first_index)
        first = leader.first_index
        log_of(c, "n2").close()
        c.logs["n2"] = open_log(tmp_path / "n2-empty")
        c.hard["n2"] = HardState()
        c.restart("n2")
        c.sent.clear()
        # The leader notices the loss from the reject of a request past n2's old match.
        late = c.propose("n0", b"late")
        c.run_for(1000)  # ten heartbeats
        assert c["n0"].role is Role.LEADER and c["n0"].committed_index == late  # with n1
        assert (c["n2"].role, c["n2"].leader_id) == (Role.FOLLOWER, "n0")
        to_n2 = appends_to(c, "n2")
        probe = (first - 1, leader.term_at(first - 1), ())
        since = [(a.prev_index, a.prev_term, a.entries) for a in to_n2].index(probe)
        assert since <= 3  # from then on only the probe, once per heartbeat
        assert {(a.prev_index, a.prev_term, a.entries) for a in to_n2[since:]} == {probe}
        assert 8 <= len(to_n2[since:]) <= 11
        assert log_of(c, "n2").last_index == -1

        # An operator copies the leader's store to n2 (log and term) and restarts it.
        leader.sync()
        c.crash("n2")
        log_of(c, "n2").close()
        shutil.copytree(tmp_path / "n0", tmp_path / "n2-copy")
        c.logs["n2"] = open_log(tmp_path / "n2-copy")
        c.hard["n2"] = HardState(c["n0"].term)
        c.restart("n2")
        c.propose("n0", b"after the copy")
        c.run_for(300)
        n2_log = log_of(c, "n2")
        assert (n2_log.first_index, n2_log.last_index) == (first, leader.last_index)
        assert readable(n2_log) == readable(leader)
        assert c["n0"].status()["peers"]["n2"]["match_index"] == leader.last_index
    finally:
        close_all(c)


def test_a_follower_skips_entries_below_its_own_first_index(tmp_path: Path) -> None:
    raft_log = open_log(tmp_path)
    entries = fill(raft_log, 6 * PER_FILE)
    raft_log.delete_files_before(60)
    term = entries[-1].term
    core = RaftCore(
        "n1",
        ["n0", "n1", "n2"],
        raft_log,
        HardState(term),
        CONFIG,
        random.Random(1),
        0,
        committed_index=100,
    )
    # A new leader walking back sends from below what n1 still stores.
    sent = entries[50:] + [Entry(i, term, body(i)) for i in range(120, 124)]
    core.step(AppendRequest(term, "n0", "n1", 49, entries[49].term, tuple(sent), 110), 0)
    (reply,) = core.ready().messages
    assert isinstance(reply, AppendResponse) and reply.success and reply.match_index == 123
    assert raft_log.first_index == 61
    assert readable(raft_log) == sent[11:]
    assert core.committed_index == 110
    raft_log.close()
