"""`currterm` and `checkpoint` (orbitmq/dledger/state_files.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orbitmq.dledger import state_files
from orbitmq.dledger.messages import HardState
from orbitmq.dledger.state_files import (
    LogCheckpoint,
    load_checkpoint,
    load_hard_state,
    save_checkpoint,
    save_hard_state,
)
from orbitmq.store.errors import StoreError


def test_hard_state_text_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "currterm"
    save_hard_state(str(path), HardState(term=7, voted_for="n1"))
    assert path.read_text() == "currTerm=7\nvoteLeader=n1\n"
    assert load_hard_state(str(path)) == HardState(7, "n1")
    assert os.listdir(tmp_path) == ["currterm"]  # no temporary file left


def test_no_vote_writes_no_vote_key(tmp_path: Path) -> None:
    """As MemberState.persistTerm: voteLeader only when there is a vote."""
    path = tmp_path / "currterm"
    save_hard_state(str(path), HardState(term=3))
    assert path.read_text() == "currTerm=3\n"
    assert load_hard_state(str(path)) == HardState(3, "")


def test_missing_term_file_is_term_zero(tmp_path: Path) -> None:
    assert load_hard_state(str(tmp_path / "currterm")) == HardState()


def test_reads_what_java_writes(tmp_path: Path) -> None:
    """java.util.Properties.store: a date comment, any key order, escapes."""
    path = tmp_path / "currterm"
    path.write_text("#Sat Dec 06 12:00:00 UTC 2025\nvoteLeader=n\\u00e9 2\ncurrTerm = 12\n")
    assert load_hard_state(str(path)) == HardState(12, "né 2")
    save_hard_state(str(path), HardState(12, "né 2"))
    assert "voteLeader=n\\u00e9 2" in path.read_text()  # ASCII with \u escapes, as Java


def test_unreadable_term_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "currterm"
    path.write_text("currTerm=seven\n")
    with pytest.raises(StoreError, match="not a number"):
        load_hard_state(str(path))


def test_save_replaces_atomically_and_durably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New content reaches the disk under the temporary name before the rename, and the
    directory is synced after it."""
    path = tmp_path / "currterm"
    save_hard_state(str(path), HardState(1, "n0"))
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("rename")
        assert load_hard_state(str(path)) == HardState(1, "n0")  # old content until here
        assert Path(src).read_text() == "currTerm=2\nvoteLeader=n2\n"
        real_replace(src, dst)

    monkeypatch.setattr(state_files.os, "fsync", fsync)
    monkeypatch.setattr(state_files.os, "replace", replace)
    save_hard_state(str(path), HardState(2, "n2"))
    assert events == ["fsync-file", "rename", "fsync-dir"]
    assert load_hard_state(str(path)) == HardState(2, "n2")


def test_leftover_temporary_file_is_ignored(tmp_path: Path) -> None:
    """A crash between writing `.tmp` and the rename leaves the old state in force."""
    path = tmp_path / "currterm"
    save_hard_state(str(path), HardState(4, "n1"))
    (tmp_path / "currterm.tmp").write_text("currTerm=5\nvoteLe")
    assert load_hard_state(str(path)) == HardState(4, "n1")
    save_hard_state(str(path), HardState(5))
    assert load_hard_state(str(path)) == HardState(5)
    assert os.listdir(tmp_path) == ["currterm"]


def test_checkpoint_text_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    save_checkpoint(str(path), 120, 118)
    assert path.read_text() == "endIndex=120\ncommittedIndex=118\n"
    assert load_checkpoint(str(path)) == LogCheckpoint(end_index=120, committed_index=118)


@pytest.mark.parametrize("content", [None, "", "endIndex=12\ncommittedIndex=x\n", b"\xff\xfe"])
def test_missing_or_damaged_checkpoint_gives_defaults(
    tmp_path: Path, content: str | bytes | None
) -> None:
    path = tmp_path / "checkpoint"
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    assert load_checkpoint(str(path)) == LogCheckpoint(-1, -1)
