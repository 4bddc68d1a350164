"""Retention of the DLedger Raft log (store-and-replication.md §7, §9.1).

Theory of operation. Without retention the files under `dledger-<selfId>/` grow for
ever, while the commit log they feed is cleaned. Every `check_interval_ms`
(cleanResourceInterval) a member looks at its data files, oldest first, and deletes
those that both may and should go (`plan_retention`, a pure function of the files, the
progress, the wall clock and the disk usage), at most `delete_file_batch_max` per
round and one per `LogRetention.step` call (the node calls it every 100 ms; RocketMQ
also spaces deletions 100 ms apart).

May go: a file whose entries all lie below the bound B, where B is
  * the applied index: the commit log holds those entries (made durable first by the
    `state_machine_sync` hook, if given: an ASYNC_FLUSH commit log may still hold them
    only in the page cache, and a restart re-applies from the Raft log);
  * on the leader, and unless the disk is under pressure, also the lowest match index
    of the followers heard from within `file_reserved_hours`: a follower that is
    briefly down still catches up from the log. One silent for longer is taken for
    gone.
The file holding B stays, because the term of B is the prev_term of B + 1, the first
entry a follower at B (or the applier) can still need; the log keeps that term as the
one before its first_index (DLedgerLog's module docstring).

Should go (DLedger's CleanSpaceService with RocketMQ's values): at a `deleteWhen` hour,
or whenever the partition is fuller than diskMaxUsedSpaceRatio, files whose last write
is older than fileReservedTime + 1 hours (DLedgerCommitLog's fileReservedHours: the
Raft log outlives the commit log by an hour); above diskSpaceCleanForciblyRatio (85 %)
with cleanFileForciblyEnable, regardless of age. Deletion stops at the first file that
must stay, so the log never gets a hole.

Under disk pressure the followers no longer hold files back: one that needs a deleted
entry cannot catch up from the log (there are no snapshots) and needs its store copied
from another member; a warning names it. An unreadable disk usage counts as no
pressure, since deleting what a follower needs is the harm to avoid here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from orbitmq.dledger.log import DLedgerLog, destroy_files
from orbitmq.store.config import MessageStoreConfig
from orbitmq.store.retention import disk_used_ratio, parse_delete_when

__all__ = [
    "NOTHING",
    "DataFileAge",
    "FollowerProgress",
    "LogRetention",
    "RetentionConfig",
    "RetentionPlan",
    "plan_retention",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """Retention settings of one member; `from_store_config` takes the broker's.

    Attributes:
        delete_when: deleteWhen, hours of the day ("04", "04;16").
        file_reserved_hours: how long a data file is kept after its last write:
            fileReservedTime + 1 (DLedger's fileReservedHours).
        disk_max_used_space_ratio: diskMaxUsedSpaceRatio, percent: above it expired
            files go at once and followers no longer hold files back.
        disk_space_clean_forcibly_ratio: percent: above it files go regardless of age
            (with clean_file_forcibly_enable).
        check_interval_ms: cleanResourceInterval.
        delete_file_batch_max: deleteFileBatchMax, files per round.
        state_machine_sync: awaited before a round deletes anything; it must make every
            entry applied so far durable in the state machine (the commit log).
        clock: wall clock (seconds since the epoch), for deleteWhen and file ages.
        used_ratio: used fraction of the partition holding a path (-1.0: unknown).
    """

    delete_when: str = "04"
    file_reserved_hours: float = 73
    disk_max_used_space_ratio: int = 75
    disk_space_clean_forcibly_ratio: int = 85
    clean_file_forcibly_enable: bool = True
    check_interval_ms: int = 10_000
    delete_file_batch_max: int = 10
    state_machine_sync: Callable[[], Awaitable[object]] | None = None
    clock: Callable[[], float] = time.time
    used_ratio: Callable[[str], float] = disk_used_ratio

    @classmethod
    def from_store_config(
        cls,
        config: MessageStoreConfig,
        state_machine_sync: Callable[[], Awaitable[object]] | None = None,
    ) -> RetentionConfig:
        return cls(
            delete_when=config.delete_when,
            file_reserved_hours=config.file_reserved_time_hours + 1,
            disk_max_used_space_ratio=config.disk_max_used_space_ratio,
            disk_space_clean_forcibly_ratio=config.disk_space_clean_forcibly_ratio,
            clean_file_forcibly_enable=config.clean_file_forcibly_enable,
            check_interval_ms=config.clean_resource_interval_ms,
            delete_file_batch_max=config.delete_file_batch_max,
            state_machine_sync=state_machine_sync,
        )


@dataclass(frozen=True, slots=True)
class FollowerProgress:
    """What the leader knows of a follower."""

    match_index: int  # highest index known to be on it (-1: none yet in this term)
    silent_s: float  # seconds since its last message


@dataclass(frozen=True, slots=True)
class DataFileAge:
    last_index: int  # of the last entry in the file
    mtime: float  # last write, seconds since the epoch


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    """Delete the `files` oldest data files: DLedgerLog.delete_files_before(keep_from)."""

    keep_from: int  # first entry of the first file kept (-1: nothing to delete)
    files: int
    reason: str
    # Followers (id, match index) that need an entry below keep_from: they cannot
    # catch up from this log any more.
    cut_off: tuple[tuple[str, int], ...] = ()


NOTHING = RetentionPlan(-1, 0, "")


def plan_retention(
    files: Sequence[DataFileAge],
    applied_index: int,
    followers: Mapping[str, FollowerProgress] | None,
    now: float,
    disk_ratio: float,
    config: RetentionConfig,
) -> RetentionPlan:
    """Which of the oldest data files to delete now (see the module docstring).

    Args:
        files: every data file holding entries, oldest first, the one written last too.
        applied_index: the last entry the state machine holds durably.
        followers: on the leader, each follower's progress; None on other members.
        now: wall clock, seconds since the epoch.
        disk_ratio: used fraction of the log's partition (-1.0: unknown).
    """
    pressure = disk_ratio > config.disk_max_used_space_ratio / 100
    force = (
        config.clean_file_forcibly_enable
        and disk_ratio > config.disk_space_clean_forcibly_ratio / 100
    )
    time_up = time.localtime(now).tm_hour in parse_delete_when(config.delete_when)
    if not (time_up or pressure or force):
        return NOTHING
    reserved_s = config.file_reserved_hours * 3600
    bound = applied_index
    if followers is not None and not (pressure or force):
        for progress in followers.values():
            if progress.silent_s <= reserved_s:
                bound = min(bound, progress.match_index)
    count = 0
    keep_from = -1
    for data_file in files[:-1]:  # never the file being written
        if count >= config.delete_file_batch_max or data_file.last_index >= bound:
            break
        if not force and now < data_file.mtime + reserved_s:
            break
        count += 1
        keep_from = data_file.last_index + 1
    if not count:
        return NOTHING
    if force:
        reason = f"forced: disk {disk_ratio:.1%} used"
    elif pressure:
        reason = f"expired, disk {disk_ratio:.1%} used"
    else:
        reason = "expired"
    cut_off = tuple(
        (peer, progress.match_index)
        for peer, progress in sorted((followers or {}).items())
        if progress.match_index < keep_from
    )
    return RetentionPlan(keep_from, count, reason, cut_off)


class LogRetention:
    """Applies plan_retention to one member's DLedgerLog.

    Args:
        applied_index: the last entry the state machine holds.
        followers: the leader's view of its followers, None when not leading.
    """

    def __init__(
        self,
        raft_log: DLedgerLog,
        config: RetentionConfig,
        applied_index: Callable[[], int],
        followers: Callable[[], Mapping[str, FollowerProgress] | None],
        name: str = "",
    ) -> None:
        self._log = raft_log
        self.config = config
        self._applied_index = applied_index
        self._followers = followers
        self._name = name or raft_log.directory
        self._next_check: float | None = None
        self._plan = NOTHING
        self._left = 0  # files of the current plan not deleted yet

    def plan(self) -> RetentionPlan:
        """The plan for the log as it is now. Blocking (stats the data files)."""
        cfg = self.config
        files: list[DataFileAge] = []
        for span in self._log.data_files():
            try:
                mtime = os.stat(span.path).st_mtime
            except FileNotFoundError:
                break
            files.append(DataFileAge(span.last_index, mtime))
        return plan_retention(
            files,
            self._applied_index(),
            self._followers(),
            cfg.clock(),
            cfg.used_ratio(self._log.directory),
            cfg,
        )

    async def step(self, now: float) -> int:
        """Delete the next file of the round under way, or start a round when one is
        due (`now`: time.monotonic()). Returns the data files deleted (0 or 1)."""
        if not self._left:
            if self._next_check is None:
                self._next_check = now + self.config.check_interval_ms / 1000
            if now < self._next_check:
                return 0
            self._next_check = now + self.config.check_interval_ms / 1000
            if not await self._start_round():
                return 0
        first = self._log.first_index
        doomed = self._log.detach_files_before(self._plan.keep_from, max_files=1)
        deleted = int(self._log.first_index > first)  # each data file moves the start
        self._left = self._left - 1 if deleted else 0
        if doomed:
            # Off the event loop: dropping a large file's cached pages takes long.
            try:
                await asyncio.get_running_loop().run_in_executor(None, destroy_files, doomed)
            except OSError as exc:
                log.warning("%s: deleting an expired Raft log file failed: %s", self._name, exc)
        return deleted

    async def _start_round(self) -> bool:
        try:
            plan = self.plan()
        except OSError as exc:
            log.warning("%s: Raft log retention cannot read the log: %s", self._name, exc)
            return False
        if not plan.files:
            return False
        sync = self.config.state_machine_sync
        if sync is not None:
            # The plan's applied index was read before this: all it covers is durable.
            try:
                await sync()
            except Exception as exc:  # whatever the hook raises, keep the entries
                log.warning(
                    "%s: the state machine could not be synced (%s); Raft log files kept",
                    self._name,
                    exc,
                )
                return False
        log.info(
            "%s: Raft log retention (%s): deleting %d data file(s) before entry %d",
            self._name,
            plan.reason,
            plan.files,
            plan.keep_from,
        )
        for peer, match in plan.cut_off:
            log.warning(
                "%s: follower %s (at entry %d) needs Raft log entries below %d, which "
                "retention deletes (%s): it cannot catch up from this log and needs its "
                "store copied from a member that is up to date",
                self._name,
                peer,
                match,
                plan.keep_from,
                plan.reason,
            )
        self._plan, self._left = plan, plan.files
        return True
