"""Retention and disk-space protection (CleanCommitLogService, CleanConsumeQueueService;
store-and-replication.md §7).

Every `cleanResourceInterval` the clean service deletes commit-log segments, oldest
first, never the one being written, at most `deleteFileBatchMax` per run, when
  - the local hour is one of `deleteWhen` ("04", "04;16"), or
  - the partition is fuller than `diskMaxUsedSpaceRatio` %,
and the segment's mtime is older than `fileReservedTime` hours (above
`diskSpaceCleanForciblyRatio` %, with `cleanFileForciblyEnable`, regardless of age).
Then consume-queue segments whose last unit points below the new commit-log minimum and
index files that end below it are deleted, and queue min offsets corrected.

The disk check (every second) marks the store DISK_FULL at `diskSpaceWarningLevelRatio`
% (sends are refused, reads go on) and clears it once usage is back under the forced
clean ratio, as RocketMQ does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from orbitmq.store.commit_log import CommitLog
from orbitmq.store.config import MessageStoreConfig
from orbitmq.store.consume_queue import ConsumeQueue
from orbitmq.store.index_service import IndexService

log = logging.getLogger(__name__)

DISK_CHECK_INTERVAL_S = 1.0


def parse_delete_when(text: str) -> frozenset[int]:
    """Hours of the day from `deleteWhen` ("04", "04;16"); bad entries are ignored."""
    hours = set()
    for part in text.split(";"):
        part = part.strip()
        if part.isdigit() and 0 <= int(part) <= 23:
            hours.add(int(part))
    return frozenset(hours)


def disk_used_ratio(path: str) -> float:
    """Used fraction of the partition holding `path` (-1.0 if it cannot be read).

    RocketMQ's formula (UtilAll.getDiskPartitionSpaceUsedPercent): 1 - free/total with
    free counting blocks reserved for root. Where that reserve is large, the store can
    run out of blocks below 90 %; block reservation (MappedFile.reserve) then refuses
    the put, so the ratio never has to be exact for safety.
    """
    try:
        st = os.statvfs(path)
    except OSError:
        return -1.0
    if st.f_blocks == 0:
        return -1.0
    return (st.f_blocks - st.f_bfree) / st.f_blocks


@dataclass(frozen=True, slots=True)
class CleanResult:
    commit_log_files: int
    consume_queue_files: int
    index_files: int


class CleanService:
    def __init__(
        self,
        config: MessageStoreConfig,
        commit_log: CommitLog,
        queues: dict[tuple[str, int], ConsumeQueue],
        index: IndexService | None,
        *,
        clock: Callable[[], float] = time.time,
        used_ratio: Callable[[str], float] = disk_used_ratio,
    ) -> None:
        self.config = config
        self.commit_log = commit_log
        self.queues = queues
        self.index = index
        self.clock = clock
        self.used_ratio = used_ratio
        self.delete_hours = parse_delete_when(config.delete_when)
        self.disk_full = False
        self.disk_ratio = 0.0
        self.clean_immediately = False
        self.manual_delete_runs = 0  # DELETE_EXPIRED_COMMITLOG: the next runs delete
        self._last_min_offset = -1

    def full_remark(self) -> str:
        return (
            "service not available now: the broker's disk is full "
            f"({self.disk_ratio:.1%} of the commit log partition used, "
            f"diskSpaceWarningLevelRatio={self.config.disk_space_warning_level_ratio}%); "
            "sends are refused until space is freed, reads go on"
        )

    # ------------------------------------------------------------------ disk

    def check_disk(self) -> bool:
        """Update `disk_full` / `clean_immediately`; True if usage asks for deletion."""
        cfg = self.config
        paths = {str(cfg.store_path_commit_log), cfg.consume_queue_dir}
        ratio = max(self.used_ratio(p) for p in paths if os.path.isdir(p)) if paths else -1.0
        self.disk_ratio = ratio
        self.clean_immediately = False
        if ratio >= cfg.disk_space_warning_level_ratio / 100:
            if not self.disk_full:
                log.error("disk is %.1f%% used: marking the store DISK_FULL", ratio * 100)
            self.disk_full = True
            self.clean_immediately = True
        elif ratio > cfg.disk_space_clean_forcibly_ratio / 100:
            self.clean_immediately = True
        elif self.disk_full:
            log.info("disk is %.1f%% used: store writable again", ratio * 100)
            self.disk_full = False
        return ratio < 0 or ratio > cfg.disk_max_used_space_ratio / 100

    async def disk_check_service(self) -> None:
        while True:
            self.check_disk()
            await asyncio.sleep(
                min(DISK_CHECK_INTERVAL_S, self.config.clean_resource_interval_ms / 1000)
            )

    # ------------------------------------------------------------------ cleaning

    async def clean_resource_service(self) -> None:
        interval = self.config.clean_resource_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_once()
            except OSError:
                log.exception("cleaning expired files failed")

    async def run_once(self) -> CleanResult:
        """One round of CleanCommitLogService + CleanConsumeQueueService."""
        commit_log_files = await self.delete_expired_commit_log()
        cq_files, index_files = await self.delete_expired_queues()
        return CleanResult(commit_log_files, cq_files, index_files)

    def _time_to_delete(self) -> bool:
        return time.localtime(self.clock()).tm_hour in self.delete_hours

    async def delete_expired_commit_log(self) -> int:
        cfg = self.config
        space = self.check_disk()
        manual = self.manual_delete_runs > 0
        if not (self._time_to_delete() or space or manual):
            return 0
        if manual:
            self.manual_delete_runs -= 1
        force = cfg.clean_file_forcibly_enable and self.clean_immediately
        reserved_ms = cfg.file_reserved_time_hours * 3600 * 1000
        now_ms = self.clock() * 1000
        files = self.commit_log.queue.files
        deleted = 0
        while len(files) > 1 and deleted < cfg.delete_file_batch_max:
            oldest = files[0]
            try:
                mtime_ms = os.stat(oldest.path).st_mtime_ns / 1e6
            except FileNotFoundError:
                mtime_ms = 0.0
            if not force and now_ms < mtime_ms + reserved_ms:
                break  # never leave a hole: stop at the first file still kept
            self.commit_log.queue.delete_first_file()
            deleted += 1
            log.info(
                "deleted commit log segment %s (%s); commit log now starts at %d",
                oldest.path,
                "forced, disk nearly full" if force else "expired",
                self.commit_log.min_offset,
            )
            if cfg.delete_commit_log_files_interval_ms > 0 and len(files) > 1:
                await asyncio.sleep(cfg.delete_commit_log_files_interval_ms / 1000)
        return deleted

    async def delete_expired_queues(self) -> tuple[int, int]:
        """Consume-queue segments and index files entirely below the log's min offset."""
        min_offset = self.commit_log.min_offset
        if min_offset <= self._last_min_offset:
            return 0, 0
        self._last_min_offset = min_offset
        pause = self.config.delete_consume_queue_files_interval_ms / 1000
        cq_files = 0
        for cq in list(self.queues.values()):
            deleted = cq.delete_expired_files(min_offset)
            cq_files += deleted
            if deleted and pause > 0:
                await asyncio.sleep(pause)
        index_files = self.index.delete_expired_files(min_offset) if self.index else 0
        if cq_files or index_files:
            log.info(
                "deleted %d consume queue segment(s) and %d index file(s) below offset %d",
                cq_files,
                index_files,
                min_offset,
            )
        return cq_files, index_files
