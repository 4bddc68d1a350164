"""Message key index: builds index files from dispatched records, answers key queries
(IndexService.java; store-and-replication.md §4).

Every record whose transaction type is not ROLLBACK is indexed under `topic#UNIQ_KEY`
and `topic#key` for each space-separated word of KEYS. A message's keys always go into
one file (a file without room for all of them is closed and a new one started), and a
record at or below `last_indexed` is skipped, so re-dispatching after a crash never
indexes a message twice.

Recovery (`load` + `recover`): a file that fails its header checks is deleted with every
newer one; the torn tail of the newest file is unlinked; entries for records past the
recovered commit-log end are unlinked. `recover` returns the commit-log offset from
which reput must dispatch to make the index complete again: normally where it stopped,
after damage or loss the end of what survived (the commit log min when nothing did).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass

from orbitmq.protocol.message import SysFlag
from orbitmq.store.config import MessageStoreConfig
from orbitmq.store.index_file import (
    IndexFile,
    KeyHasher,
    index_file_name,
    index_file_size,
    index_key_hash,
)
from orbitmq.store.layout import DispatchRequest

log = logging.getLogger(__name__)

_ROLLBACK = SysFlag.TRANSACTION_ROLLBACK
_RESERVE_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class QueryOffsetResult:
    phy_offsets: list[int]
    index_last_update_timestamp: int
    index_last_update_phyoffset: int


class IndexService:
    def __init__(self, config: MessageStoreConfig) -> None:
        self.directory = config.index_dir
        self.hash_slot_num = config.max_hash_slot_num
        self.index_num = config.max_index_num
        self.max_msgs_num_batch = config.max_msgs_num_batch
        self.files: list[IndexFile] = []
        self._hash = KeyHasher()

    def __repr__(self) -> str:
        return f"IndexService({self.directory!r}, files={len(self.files)})"

    # ------------------------------------------------------------------ loading

    def load(self) -> bool:
        """Map the index files, oldest first; returns True if any had to be deleted."""
        if not os.path.isdir(self.directory):
            return False
        names = sorted(n for n in os.listdir(self.directory) if len(n) == 17 and n.isdigit())
        expected = index_file_size(self.hash_slot_num, self.index_num)
        for i, name in enumerate(names):
            path = os.path.join(self.directory, name)
            size = os.path.getsize(path)
            if size != expected:
                problem: str | None = f"is {size} bytes, not {expected}"
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            else:
                index_file = IndexFile(
                    self.directory,
                    name,
                    self.hash_slot_num,
                    self.index_num,
                    reserve_chunk=_RESERVE_CHUNK,
                )
                problem = index_file.check_header(size)
                if problem is None and self.files:
                    prev = self.files[-1].header
                    if index_file.header.index_count > 1 and (
                        index_file.header.begin_phy_offset < prev.end_phy_offset
                    ):
                        problem = "starts before the previous file ends"
                if problem is None:
                    self.files.append(index_file)
                    continue
                index_file.destroy()
            log.warning(
                "index file %s %s: deleting it and %d newer file(s); they are rebuilt "
                "from the commit log",
                path,
                problem,
                len(names) - i - 1,
            )
            for later in names[i + 1 :]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.directory, later))
            return True
        return False

    def recover(self, log_min: int, log_end: int, *, check_after: int | None = None) -> int:
        """Make the files agree with the commit log [log_min, log_end).

        `check_after` (abnormal exit): entries for records at or after this offset were
        not known to be on disk; if they look damaged the newest file is rebuilt.
        Returns where reput must start dispatching for the index to be complete.
        """
        if self.files:
            last = self.files[-1]
            torn = last.unlink_from(last.header.index_count)
            if torn:
                log.warning("%r: unlinked %d torn entries", last, torn)
            problem = last.check_entries_after(check_after, log_end) if check_after else None
            if problem is not None:
                log.warning("index file %s %s: rebuilding it", last.path, problem)
                self.files.pop().destroy()
        self._truncate(log_end)
        if not self.files:
            return log_min
        last = self.files[-1]
        if last.has_meta:
            resume = last.indexed_through
        else:  # written by Java RocketMQ: resume after the last indexed message
            resume = last.header.end_phy_offset if last.header.index_count > 1 else log_min
        last.last_indexed = self._last_indexed_offset()
        resume = min(max(resume, log_min), log_end)
        last.indexed_through = resume
        last.write_header()
        return resume

    def _truncate(self, log_end: int) -> None:
        """Unlink entries for records at or after `log_end` (a cut commit-log tail)."""
        while self.files:
            index_file = self.files[-1]
            first = index_file.first_entry_at_or_after(log_end)
            if first >= index_file.header.index_count:
                return
            if first == 1 and len(self.files) > 1:
                log.warning("index file %s only indexes the cut tail: deleted", index_file.path)
                self.files.pop().destroy()
                continue
            dropped = index_file.unlink_from(first)
            log.warning("%r: unlinked %d entries past the commit log end", index_file, dropped)
            index_file.indexed_through = min(index_file.indexed_through, log_end)
            return

    def _last_indexed_offset(self) -> int:
        """Offset of the newest indexed message over all files (-1 if none)."""
        for index_file in reversed(self.files):
            if index_file.header.index_count > 1:
                return index_file.entry(index_file.header.index_count - 1)[1]
        return -1

    # ------------------------------------------------------------------ building

    def index_record(
        self,
        topic: str,
        offset: int,
        size: int,
        store_timestamp: int,
        uniq_key: str | None,
        keys: str | None,
    ) -> None:
        """Index the record at `offset` under its UNIQ_KEY and each KEYS word."""
        index_file = self.files[-1] if self.files else self._new_file(None)
        if offset > index_file.last_indexed and (uniq_key or keys):
            words = [uniq_key] if uniq_key else []
            if keys:
                words.extend(k for k in keys.split(" ") if k)
            if words:
                if index_file.room < len(words):
                    index_file = self._new_file(index_file)
                index_file.reserve_for(len(words))  # DiskFullError: reput retries later
                key_hash = self._hash
                for key in words:
                    index_file.put_key(key_hash(topic, key), offset, store_timestamp)
                index_file.last_indexed = offset
        end = offset + size
        if end > index_file.indexed_through:
            index_file.indexed_through = end
            index_file.header_stale = True

    def dispatch_batch(self, requests: list[DispatchRequest]) -> None:
        """CommitLogDispatcher: index consecutive records (rollbacks only move the
        indexed-through mark, as in dispatch)."""
        self.index_batch(
            [
                (r.topic, r.commit_log_offset, r.msg_size, r.store_timestamp, r.uniq_key, r.keys)
                if (r.sys_flag & SysFlag.TRANSACTION_MASK) != _ROLLBACK
                else (r.topic, r.commit_log_offset, r.msg_size, r.store_timestamp, None, None)
                for r in requests
            ]
        )

    def index_batch(self, records: list[tuple[str, int, int, int, str | None, str | None]]) -> None:
        """index_record for consecutive records, in log order: (topic, offset, size,
        store timestamp, UNIQ_KEY, KEYS) each. One room check and one block reservation
        for the whole batch."""
        if not records:
            return
        words: list[tuple[str, int, int, str]] = []
        for topic, offset, _size, stamp, uniq_key, keys in records:
            if uniq_key:
                words.append((topic, offset, stamp, uniq_key))
            if keys:
                words.extend((topic, offset, stamp, k) for k in keys.split(" ") if k)
        index_file = self.files[-1] if self.files else self._new_file(None)
        if index_file.room < len(words):  # the file fills up within the batch
            for topic, offset, size, stamp, uniq_key, keys in records:
                self.index_record(topic, offset, size, stamp, uniq_key, keys)
            return
        index_file.reserve_for(len(words))  # DiskFullError: reput retries later
        key_hash = self._hash
        last = index_file.last_indexed
        index_file.put_keys(
            [
                (key_hash(topic, key), offset, stamp)
                for topic, offset, stamp, key in words
                if offset > last
            ]
        )
        if words and words[-1][1] > last:
            index_file.last_indexed = words[-1][1]
        _topic, offset, size, _stamp, _uniq, _keys = records[-1]
        end = offset + size
        if end > index_file.indexed_through:
            index_file.indexed_through = end
            index_file.header_stale = True

    def _new_file(self, previous: IndexFile | None) -> IndexFile:
        os.makedirs(self.directory, exist_ok=True)
        name = index_file_name(time.time_ns() // 1_000_000)
        if self.files and name <= self.files[-1].name:
            name = f"{int(self.files[-1].name) + 1:017d}"  # same millisecond: keep order
        index_file = IndexFile(
            self.directory,
            name,
            self.hash_slot_num,
            self.index_num,
            reserve_chunk=_RESERVE_CHUNK,
        )
        index_file.reserve_for(0)  # the slot table is written at random places
        if previous is not None:
            # A file after a full one starts where the previous one ended (IndexService).
            h, p = index_file.header, previous.header
            h.begin_timestamp = h.end_timestamp = p.end_timestamp
            h.begin_phy_offset = h.end_phy_offset = p.end_phy_offset
            index_file.last_indexed = previous.last_indexed
            index_file.indexed_through = previous.indexed_through
            previous.write_header()
            previous.dirty = True  # the flusher syncs it and advances indexMsgTimestamp
        index_file.write_header()
        index_file.dirty = True
        self.files.append(index_file)
        return index_file

    # ------------------------------------------------------------------ queries

    def query_offsets(
        self, topic: str, key: str, max_num: int, begin: int, end: int
    ) -> QueryOffsetResult:
        """Commit-log offsets of records indexed under topic#key, newest files first.

        Only the hash is compared (as RocketMQ does): callers filter by the real key.
        """
        max_num = max(0, min(max_num, self.max_msgs_num_batch))
        offsets: list[int] = []
        if not self.files:
            return QueryOffsetResult(offsets, 0, 0)
        key_hash = index_key_hash(f"{topic}#{key}")
        for index_file in reversed(self.files):
            if index_file.time_matched(begin, end):
                index_file.select_phy_offsets(offsets, key_hash, max_num, begin, end)
            if index_file.header.begin_timestamp < begin or len(offsets) >= max_num:
                break
        newest = self.files[-1].header
        return QueryOffsetResult(offsets, newest.end_timestamp, newest.end_phy_offset)

    # ------------------------------------------------------------------ retention

    def delete_expired_files(self, commit_log_min: int) -> int:
        """Delete files (never the newest) whose last record is below the log's min."""
        deleted = 0
        while len(self.files) > 1 and self.files[0].header.end_phy_offset < commit_log_min:
            self.files.pop(0).destroy()
            deleted += 1
        return deleted

    def mark_progress(self) -> None:
        """After each dispatch pass: put the newest file's header in its mapping, so a
        process crash loses at most the pass in progress (and no re-dispatch of more)."""
        if self.files and self.files[-1].header_stale:
            self.files[-1].write_header()

    def dirty_files(self) -> list[IndexFile]:
        return [f for f in self.files if f.dirty]

    def close(self) -> None:
        """Unmap. Headers are not written here: a clean stop has flushed them already,
        and a simulated crash must leave them as they were."""
        for index_file in self.files:
            index_file.close()
        self.files = []
