"""DLedgerLog (orbitmq/dledger/log.py): the file-backed Raft log.

Small segments (4 KiB data files, 16-unit index files) make every test cross file
boundaries. Damage is done to the real files between a close and a load, as a crash or
a bad disk would leave them.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from orbitmq.dledger.entry import encode_index_unit
from orbitmq.dledger.log import DLedgerLog
from orbitmq.dledger.messages import Entry
from orbitmq.store.errors import DiskFullError, StoreClosedError, StoreLayoutError
from orbitmq.store.mapped_file import MappedFile

DATA = 4096
UNITS = 16  # index units per index file
INDEX = 32 * UNITS


def make_entries(start: int, count: int, term: int = 1, size: int | None = None) -> list[Entry]:
    """Entries with pseudo-random bodies of 0..300 bytes (or `size`)."""
    out = []
    for i in range(start, start + count):
        rng = random.Random(i * 7919 + term)
        n = rng.randrange(301) if size is None else size
        out.append(Entry(i, term, rng.randbytes(n)))
    return out


def open_log(path: Path | str, data: int = DATA, index: int = INDEX) -> DLedgerLog:
    raft_log = DLedgerLog(str(path), data, index)
    raft_log.load()
    return raft_log


def segment(path: Path, kind: str, offset: int) -> Path:
    return path / kind / f"{offset:020d}"


def all_entries(raft_log: DLedgerLog) -> list[Entry]:
    if raft_log.last_index < raft_log.first_index:
        return []
    return raft_log.entries(raft_log.first_index, 1 << 30, 1 << 40)


def index_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((path / "index").iterdir()))


@pytest.fixture
def raft_log(tmp_path: Path) -> Iterator[DLedgerLog]:
    opened = open_log(tmp_path)
    yield opened
    opened.close()


# ---------------------------------------------------------------------- basics


def test_empty_log(raft_log: DLedgerLog) -> None:
    assert (raft_log.first_index, raft_log.last_index, raft_log.last_term) == (0, -1, -1)
    assert raft_log.term_at(-1) == -1
    assert raft_log.term_at(0) == -1
    assert raft_log.entries(0, 10, 1000) == []
    assert raft_log.synced_index == -1
    with pytest.raises(IndexError):
        raft_log.entry_position(0)


def test_bytes_on_disk(tmp_path: Path, raft_log: DLedgerLog) -> None:
    raft_log.append([Entry(0, 1, b"hello"), Entry(1, 3, b"")])
    data = segment(tmp_path, "data", 0).read_bytes()
    assert len(data) == DATA  # created at full size
    crc = 0x3610A686  # CRC-32 of b"hello"
    assert data[:53] == struct.pack(">iiqqqiiii", 1, 53, 0, 1, 0, 0, 0, crc, 5) + b"hello"
    assert data[53:101] == struct.pack(">iiqqqiiii", 1, 48, 1, 3, 53, 0, 0, 0, 0)  # no-op
    assert not any(data[101:])
    units = segment(tmp_path, "index", 0).read_bytes()
    assert len(units) == INDEX
    assert units[:32] == struct.pack(">iqiqq", 1, 0, 53, 0, 1)
    assert units[32:64] == struct.pack(">iqiqq", 1, 53, 48, 1, 3)
    assert raft_log.entry_position(1) == (53, 48)


def test_append_and_read_across_files(tmp_path: Path, raft_log: DLedgerLog) -> None:
    entries = make_entries(0, 40, term=1) + make_entries(40, 40, term=2)
    raft_log.append(entries[:1])
    raft_log.append(entries[1:50])
    for entry in entries[50:]:
        raft_log.append([entry])
    assert (raft_log.first_index, raft_log.last_index, raft_log.last_term) == (0, 79, 2)
    assert all_entries(raft_log) == entries
    for entry in entries:
        assert raft_log.term_at(entry.index) == entry.term
        assert bytes(raft_log.read_body(entry.index)) == entry.body
    assert raft_log.term_at(80) == -1
    assert len(os.listdir(tmp_path / "data")) > 3
    assert len(os.listdir(tmp_path / "index")) == 5  # 80 units, 16 per file


def test_entries_never_span_files_and_blank_markers_fill_the_rest(
    tmp_path: Path, raft_log: DLedgerLog
) -> None:
    raft_log.append(make_entries(0, 80))
    ends_of_files: dict[int, int] = {}
    for i in range(80):
        pos, size = raft_log.entry_position(i)
        assert pos // DATA == (pos + size - 1) // DATA
        assert pos % DATA + size + 8 <= DATA  # room for the marker is always left
        ends_of_files[pos // DATA] = pos + size
    for file_no, end in sorted(ends_of_files.items())[:-1]:
        raw = segment(tmp_path, "data", file_no * DATA).read_bytes()
        remaining = DATA - end % DATA
        assert raw[end % DATA : end % DATA + 8] == struct.pack(">ii", -1, remaining)
        assert not any(raw[end % DATA + 8 :])


def test_entries_limits(raft_log: DLedgerLog) -> None:
    entries = make_entries(0, 10, size=100)
    raft_log.append(entries)
    assert raft_log.entries(2, 3, 1 << 20) == entries[2:5]
    assert raft_log.entries(2, 100, 250) == entries[2:4]  # bodies within 250 bytes
    assert raft_log.entries(2, 100, 10) == entries[2:3]  # at least one
    assert raft_log.entries(9, 0, 0) == entries[9:]
    assert raft_log.entries(10, 5, 1000) == []
    with pytest.raises(IndexError):
        raft_log.entries(-1, 5, 1000)


def test_read_body_is_a_slice_of_the_mapping(raft_log: DLedgerLog) -> None:
    raft_log.append(make_entries(0, 3, size=64))
    body = raft_log.read_body(1)
    assert isinstance(body, memoryview) and type(body.obj).__name__ == "mmap"
    assert bytes(body) == make_entries(1, 1, size=64)[0].body
    body.release()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([Entry(1, 1, b"")], "append of index 1, expected 0"),
        ([Entry(0, 2, b""), Entry(2, 2, b"")], "append of index 2, expected 1"),
        ([Entry(0, 2, b""), Entry(1, 1, b"")], "term 1, below the previous 2"),
        ([Entry(0, 1, bytes(DATA - 55))], "does not fit"),
    ],
)
def test_bad_appends_write_nothing(
    raft_log: DLedgerLog, tmp_path: Path, entries: list[Entry], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        raft_log.append(entries)
    assert raft_log.last_index == -1
    assert not (tmp_path / "data").exists()
    raft_log.append([Entry(0, 1, bytes(DATA - 56))])  # the largest body that fits
    assert raft_log.last_index == 0


def test_closed_log_refuses_writes(tmp_path: Path) -> None:
    raft_log = DLedgerLog(str(tmp_path), DATA, INDEX)
    with pytest.raises(StoreClosedError):
        raft_log.append(make_entries(0, 1))
    raft_log.load()
    raft_log.close()
    with pytest.raises(StoreClosedError):
        raft_log.truncate_after(-1)


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        DLedgerLog(str(tmp_path), DATA, 100)
    with pytest.raises(ValueError, match="too small"):
        DLedgerLog(str(tmp_path), 40)


# ---------------------------------------------------------------------- truncation


def test_truncate_in_the_middle_of_a_file_then_append(tmp_path: Path) -> None:
    raft_log = open_log(tmp_path)
    entries = make_entries(0, 30)
    raft_log.append(entries)
    pos, size = raft_log.entry_position(21)
    assert raft_log.entry_position(22)[0] == pos + size  # same file: a cut mid-file
    raft_log.sync()
    raft_log.truncate_after(21)
    assert (raft_log.last_index, raft_log.last_term, raft_log.synced_index) == (21, 1, 21)
    assert raft_log.term_at(22) == -1
    raw = segment(tmp_path, "data", pos // DATA * DATA).read_bytes()
    assert not any(raw[(pos + size) % DATA :])  # the cut tail is zeroed
    replacement = make_entries(22, 15, term=2)
    raft_log.append(replacement)
    assert raft_log.entry_position(22)[0] == pos + size  # written where the old one was
    assert all_entries(raft_log) == entries[:22] + replacement
    raft_log.close()
    raft_log = open_log(tmp_path)
    assert all_entries(raft_log) == entries[:22] + replacement
    raft_log.close()


def test_truncate_across_files_deletes_later_segments(tmp_path: Path) -> None:
    raft_log = open_log(tmp_path)
    entries = make_entries(0, 100)
    raft_log.append(entries)
    data_files = len(os.listdir(tmp_path / "data"))
    raft_log.truncate_after(9)
    pos, size = raft_log.entry_position(9)
    assert sorted(os.listdir(tmp_path / "data")) == [
        f"{n * DATA:020d}" for n in range((pos + size) // DATA + 1)
    ]
    assert len(os.listdir(tmp_path / "data")) < data_files
    assert sorted(os.listdir(tmp_path / "index")) == [f"{0:020d}"]
    assert not any(index_bytes(tmp_path)[10 * 32 :])
    raft_log.append(make_entries(10, 50, term=3))
    assert all_entries(raft_log) == entries[:10] + make_entries(10, 50, term=3)
    raft_log.close()
    raft_log = open_log(tmp_path)
    assert all_entries(raft_log) == entries[:10] + make_entries(10, 50, term=3)
    raft_log.close()


def test_truncate_everything_and_no_ops(raft_log: DLedgerLog) -> None:
    raft_log.append(make_entries(0, 20))
    raft_log.truncate_after(19)
    raft_log.truncate_after(25)
    assert raft_log.last_index == 19
    raft_log.truncate_after(-1)
    assert (raft_log.last_index, raft_log.last_term) == (-1, -1)
    assert raft_log.entries(0, 10, 1000) == []
    with pytest.raises(ValueError, match="cannot truncate after -2"):
        raft_log.truncate_after(-2)
    raft_log.append(make_entries(0, 3, term=5))
    assert all_entries(raft_log) == make_entries(0, 3, term=5)
    assert raft_log.entry_position(0)[0] == 0


def test_truncate_at_a_file_boundary(tmp_path: Path) -> None:
    """Cut right after the last entry of a file: its blank marker goes too."""
    raft_log = open_log(tmp_path)
    raft_log.append(make_entries(0, 40))
    last_in_file0 = max(i for i in range(40) if raft_log.entry_position(i)[0] < DATA)
    raft_log.truncate_after(last_in_file0)
    pos, size = raft_log.entry_position(last_in_file0)
    assert not any(segment(tmp_path, "data", 0).read_bytes()[pos + size :])
    assert os.listdir(tmp_path / "data") == [f"{0:020d}"]
    raft_log.append(make_entries(last_in_file0 + 1, 10, term=2))
    raft_log.close()
    raft_log = open_log(tmp_path)
    expected = make_entries(0, last_in_file0 + 1) + make_entries(last_in_file0 + 1, 10, term=2)
    assert all_entries(raft_log) == expected
    raft_log.close()


# ---------------------------------------------------------------------- reopen, recovery


def test_reopen_after_close(tmp_path: Path) -> None:
    raft_log = open_log(tmp_path)
    entries = make_entries(0, 60, term=1) + make_entries(60, 5, term=4)
    raft_log.append(entries)
    before = index_bytes(tmp_path)
    raft_log.close()
    raft_log = open_log(tmp_path)
    assert (raft_log.first_index, raft_log.last_index, raft_log.last_term) == (0, 64, 4)
    assert raft_log.synced_index == 64  # load syncs what it found
    assert all_entries(raft_log) == entries
    assert index_bytes(tmp_path) == before  # nothing rewritten
    raft_log.append(make_entries(65, 5, term=4))
    assert raft_log.last_index == 69
    raft_log.close()
    raft_log.load()  # the same object opens again
    assert raft_log.last_index == 69
    with pytest.raises(RuntimeError, match="already loaded"):
        raft_log.load()
    raft_log.close()


def _damage(path: Path, pos: int, data: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(pos)
        fh.write(data)


def _closed_log_with(tmp_path: Path, entries: list[Entry]) -> list[tuple[int, int]]:
    """Write `entries`, close; returns each entry's (pos, size)."""
    raft_log = open_log(tmp_path)
    raft_log.append(entries)
    positions = [raft_log.entry_position(e.index) for e in entries]
    raft_log.close()
    return positions


@pytest.mark.parametrize("how", ["cut-file", "zero-tail", "zero-header"])
def test_recovery_cuts_a_torn_last_entry(tmp_path: Path, how: str) -> None:
    entries = make_entries(0, 30, size=200)
    positions = _closed_log_with(tmp_path, entries)
    pos, size = positions[-1]
    path = segment(tmp_path, "data", pos // DATA * DATA)
    if how == "cut-file":  # the file itself lost its end
        os.truncate(path, pos % DATA + 48 + 100)
    elif how == "zero-tail":  # the last pages never reached the disk
        _damage(path, pos % DATA + 120, bytes(DATA - pos % DATA - 120))
    else:
        _damage(path, pos % DATA, bytes(48))
    raft_log = open_log(tmp_path)
    assert (raft_log.last_index, raft_log.last_term) == (28, 1)
    assert all_entries(raft_log) == entries[:29]
    assert raft_log.term_at(29) == -1
    assert os.path.getsize(path) == DATA
    assert not any(path.read_bytes()[pos % DATA :])
    assert not any(index_bytes(tmp_path)[29 * 32 :])  # its index unit went too
    raft_log.append(make_entries(29, 1, term=2, size=200))
    assert raft_log.entry_position(29) == (pos, size)  # where the torn one was
    raft_log.close()


def test_recovery_detects_a_flipped_body_bit(tmp_path: Path) -> None:
    entries = make_entries(0, 30, size=200)
    positions = _closed_log_with(tmp_path, entries)
    pos, _ = positions[26]
    path = segment(tmp_path, "data", pos // DATA * DATA)
    raw = path.read_bytes()
    _damage(path, pos % DATA + 48 + 77, bytes([raw[pos % DATA + 48 + 77] ^ 0x10]))
    raft_log = open_log(tmp_path)
    assert raft_log.last_index == 25
    assert all_entries(raft_log) == entries[:26]
    raft_log.close()


def test_recovery_detects_a_misplaced_entry(tmp_path: Path) -> None:
    """An entry with the wrong index (stale bytes from another log) ends the log."""
    entries = make_entries(0, 20, size=100)
    positions = _closed_log_with(tmp_path, entries)
    pos, _ = positions[15]
    _damage(segment(tmp_path, "data", pos // DATA * DATA), pos % DATA + 8, struct.pack(">q", 99))
    raft_log = open_log(tmp_path)
    assert raft_log.last_index == 14
    raft_log.close()


def test_recovery_drops_index_units_beyond_the_data(tmp_path: Path) -> None:
    entries = make_entries(0, 20, size=100)
    positions = _closed_log_with(tmp_path, entries)
    end = positions[-1][0] + positions[-1][1]
    # Units for entries 20..24 whose data never reached the disk.
    for i in range(20, 25):
        unit = encode_index_unit(end + (i - 20) * 148, 148, i, 1)
        _damage(segment(tmp_path, "index", i * 32 // INDEX * INDEX), i * 32 % INDEX, unit)
    raft_log = open_log(tmp_path)
    assert raft_log.last_index == 19
    assert raft_log.term_at(20) == -1
    assert not any(index_bytes(tmp_path)[20 * 32 :])
    raft_log.append(make_entries(20, 2, term=2))
    assert raft_log.entry_position(20)[0] == end
    raft_log.close()


@pytest.mark.parametrize("how", ["zero-units", "delete-files", "delete-directory", "short-file"])
def test_recovery_rebuilds_missing_index_units(tmp_path: Path, how: str) -> None:
    entries = make_entries(0, 70)
    _closed_log_with(tmp_path, entries)
    before = index_bytes(tmp_path)
    first = segment(tmp_path, "index", 0)
    if how == "zero-units":  # units 3.. of the first file, and every later file
        _damage(first, 3 * 32, bytes(INDEX - 3 * 32))
        for path in sorted((tmp_path / "index").iterdir())[1:]:
            path.write_bytes(bytes(INDEX))
    elif how == "delete-files":
        for path in sorted((tmp_path / "index").iterdir())[1:]:
            path.unlink()
    elif how == "delete-directory":
        shutil.rmtree(tmp_path / "index")
    else:  # a unit file cut short: dropped with the files after it, then rebuilt
        os.truncate(segment(tmp_path, "index", INDEX), 100)
    raft_log = open_log(tmp_path)
    assert all_entries(raft_log) == entries
    assert index_bytes(tmp_path) == before
    raft_log.close()


def test_recovery_of_an_empty_new_data_file(tmp_path: Path) -> None:
    """A crash right after a new data file was created, before its first entry."""
    entries = make_entries(0, 12, size=200)
    positions = _closed_log_with(tmp_path, entries)
    last_file = positions[-1][0] // DATA * DATA
    segment(tmp_path, "data", last_file + DATA).write_bytes(bytes(DATA))
    raft_log = open_log(tmp_path)
    assert all_entries(raft_log) == entries
    raft_log.append(make_entries(12, 30, size=200))
    assert raft_log.last_index == 41
    raft_log.close()


def test_recovery_of_a_garbage_first_entry_empties_the_log(tmp_path: Path) -> None:
    _closed_log_with(tmp_path, make_entries(0, 5, size=100))
    _damage(segment(tmp_path, "data", 0), 0, b"\x00\x00\x00\x07")
    raft_log = open_log(tmp_path)
    assert (raft_log.first_index, raft_log.last_index) == (0, -1)
    assert not any(index_bytes(tmp_path))
    raft_log.append(make_entries(0, 2))
    assert raft_log.entry_position(0) == (0, 48 + len(make_entries(0, 1)[0].body))
    raft_log.close()


def test_data_file_of_another_size_is_refused(tmp_path: Path) -> None:
    _closed_log_with(tmp_path, make_entries(0, 40))
    with pytest.raises(StoreLayoutError):
        open_log(tmp_path, data=2 * DATA)  # files 0, 4096, ... do not fit 8 KiB segments
    with pytest.raises(StoreLayoutError):
        open_log(tmp_path, data=DATA // 2)


# ---------------------------------------------------------------------- sync


def test_sync_moves_synced_index(raft_log: DLedgerLog) -> None:
    raft_log.append(make_entries(0, 30))
    assert raft_log.synced_index == -1
    raft_log.sync()
    assert raft_log.synced_index == 29
    raft_log.append(make_entries(30, 5))
    assert raft_log.synced_index == 29
    raft_log.truncate_after(10)
    assert raft_log.synced_index == 10
    raft_log.append(make_entries(11, 40, term=2))
    raft_log.sync()
    assert raft_log.synced_index == 50


def test_sync_racing_a_truncation_does_not_publish(
    raft_log: DLedgerLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync that read the end before a truncation cannot vouch for what replaced it."""
    raft_log.append(make_entries(0, 30))
    raft_log.sync()
    raft_log.append(make_entries(30, 20))
    entered, release = threading.Event(), threading.Event()
    worker = threading.Thread(target=raft_log.sync)  # will cover 0..49
    real = MappedFile.fdatasync

    def fdatasync(self: MappedFile) -> None:
        if threading.current_thread() is worker and not entered.is_set():
            entered.set()
            assert release.wait(10)
        real(self)

    monkeypatch.setattr(MappedFile, "fdatasync", fdatasync)
    worker.start()
    assert entered.wait(10)
    raft_log.truncate_after(39)
    raft_log.append(make_entries(40, 20, term=2))  # new entries 40..59, never synced
    release.set()
    worker.join(10)
    assert raft_log.synced_index == 29  # not 49: entries 40..49 are not the ones it saw
    raft_log.sync()
    assert raft_log.synced_index == 59


def test_sync_in_a_thread_while_appending(raft_log: DLedgerLog) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def syncer() -> None:
        try:
            while not stop.is_set():
                raft_log.sync()
                raft_log.warm_ahead(DATA)
        except BaseException as exc:  # reported below
            errors.append(exc)

    worker = threading.Thread(target=syncer)
    worker.start()
    try:
        entries = make_entries(0, 600)
        for i in range(0, 600, 3):
            raft_log.append(entries[i : i + 3])
            if i == 300:
                raft_log.truncate_after(200)
                entries[201:] = make_entries(201, 399, term=2)
                raft_log.append(entries[201:303])
    finally:
        stop.set()
        worker.join(10)
    assert not errors
    assert raft_log.synced_index <= raft_log.last_index
    raft_log.sync()
    assert raft_log.synced_index == raft_log.last_index
    assert all_entries(raft_log) == entries[: raft_log.last_index + 1]


# ---------------------------------------------------------------------- disk full


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (needs root; skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        pytest.skip(f"cannot mount a tmpfs: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_raises_and_keeps_nothing_partial(tiny_disk: Path) -> None:
    data_size = 64 * 1024
    path = tiny_disk / "dledger"
    raft_log = open_log(path, data=data_size, index=32 * 64)
    entries = make_entries(0, 1000, size=1024)
    stored = 0
    with pytest.raises(DiskFullError):
        for entry in entries:
            raft_log.append([entry])
            stored += 1
    assert 100 < stored < 1000
    assert raft_log.last_index == stored - 1
    files = sorted(os.listdir(path / "data"))
    pos, size = raft_log.entry_position(stored - 1)
    room = data_size - (pos + size) % data_size
    assert room >= 56  # a 48-byte no-op still fits in the current file...
    # ...but the 1 KiB entry after it needs a new file.
    batch = [Entry(stored, 1, b""), Entry(stored + 1, 1, entries[stored].body)]
    with pytest.raises(DiskFullError):
        raft_log.append(batch)
    assert raft_log.last_index == stored - 1
    assert sorted(os.listdir(path / "data")) == files
    raw = (path / "data" / files[-1]).read_bytes()
    assert not any(raw[(pos + size) % data_size :])  # no entry, no blank marker left
    assert all_entries(raft_log) == entries[:stored]
    raft_log.close()
    raft_log = open_log(path, data=data_size, index=32 * 64)
    assert all_entries(raft_log) == entries[:stored]
    raft_log.append([Entry(stored, 1, b"")])  # what fits still goes in
    raft_log.close()


# ---------------------------------------------------------------------- state machine

SM_DATA = 1024
SM_INDEX = 32 * 8


class LogMachine(RuleBasedStateMachine):
    """DLedgerLog against a list: appends, truncations, reopens, torn tails, lost
    index units."""

    def __init__(self) -> None:
        super().__init__()
        # tmpfs where there is one: the machine reopens (and so fsyncs) a lot.
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.root = tempfile.mkdtemp(prefix="orbitmq-dledger-sm-", dir=shm)
        self.model: list[Entry] = []
        self.term = 1
        self.log = open_log(self.root, SM_DATA, SM_INDEX)

    def teardown(self) -> None:
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def _reopen(self) -> None:
        self.log.close()
        self.log = open_log(self.root, SM_DATA, SM_INDEX)
        assert self.log.synced_index == self.log.last_index

    @rule(
        sizes=st.lists(st.integers(0, 300), min_size=1, max_size=10),
        new_term=st.booleans(),
        seed=st.integers(0, 2**32),
    )
    def append(self, sizes: list[int], new_term: bool, seed: int) -> None:
        self.term += new_term
        rng = random.Random(seed)
        start = len(self.model)
        batch = [Entry(start + i, self.term, rng.randbytes(n)) for i, n in enumerate(sizes)]
        self.log.append(batch)
        self.model.extend(batch)

    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        # Mostly a short tail, as a follower drops a deposed leader's last entries.
        drop = data.draw(
            st.integers(0, len(self.model)) | st.integers(0, min(8, len(self.model))),
            label="entries dropped",
        )
        index = len(self.model) - 1 - drop
        self.log.truncate_after(index)
        del self.model[index + 1 :]

    @rule()
    def sync(self) -> None:
        self.log.sync()
        assert self.log.synced_index == self.log.last_index

    @rule()
    def reopen(self) -> None:
        self._reopen()

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def crash_with_a_torn_tail(self, data: st.DataObject) -> None:
        """Zero the newest data file from a point in one of its entries to its end."""
        last_file = self.log.entry_position(len(self.model) - 1)[0] // SM_DATA * SM_DATA
        in_file = [i for i in range(len(self.model)) if self.log.entry_position(i)[0] >= last_file]
        k = data.draw(st.sampled_from(in_file), label="torn entry")
        pos, size = self.log.entry_position(k)
        body = self.model[k].body
        at = data.draw(st.sampled_from([0, *range(48, size)]), label="torn at")
        self.log.close()
        path = os.path.join(self.root, "data", f"{last_file:020d}")
        _damage(Path(path), pos - last_file + at, bytes(SM_DATA - (pos - last_file + at)))
        # Zeroing bytes that were zero already changes nothing: the entry survives.
        survives = at >= 48 and not any(body[at - 48 :])
        del self.model[k + survives :]
        self.log = open_log(self.root, SM_DATA, SM_INDEX)

    @rule(data=st.data())
    def lose_index_units(self, data: st.DataObject) -> None:
        """Zero the index from some unit on (pages that never reached the disk)."""
        unit = data.draw(st.integers(0, len(self.model)), label="from unit")
        self.log.close()
        index_dir = os.path.join(self.root, "index")
        for name in sorted(os.listdir(index_dir) if os.path.isdir(index_dir) else []):
            start = int(name)
            if start + SM_INDEX > unit * 32:
                cut = max(0, unit * 32 - start)
                _damage(Path(self.root, "index", name), cut, bytes(SM_INDEX - cut))
        self.log = open_log(self.root, SM_DATA, SM_INDEX)

    @invariant()
    def matches_the_model(self) -> None:
        assert self.log.last_index == len(self.model) - 1
        assert self.log.last_term == (self.model[-1].term if self.model else -1)
        assert all_entries(self.log) == self.model
        assert self.log.term_at(len(self.model)) == -1
        if self.model:
            middle = len(self.model) // 2
            assert self.log.term_at(middle) == self.model[middle].term


LogMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("DLEDGER_LOG_SM_EXAMPLES", "40")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_log_state_machine = LogMachine.TestCase
