"""Store configuration (the store half of RocketMQ's MessageStoreConfig, 4.9.7 defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from orbitmq.store.layout import CQ_UNIT_SIZE

ASYNC_FLUSH = "ASYNC_FLUSH"
SYNC_FLUSH = "SYNC_FLUSH"


@dataclass
class MessageStoreConfig:
    store_path_root_dir: str
    store_path_commit_log: str | None = None  # default <root>/commitlog
    mapped_file_size_commit_log: int = 1024**3
    mapped_file_size_consume_queue: int = 300_000 * CQ_UNIT_SIZE  # bytes, multiple of 20
    flush_disk_type: str = ASYNC_FLUSH
    max_message_size: int = 4 * 1024 * 1024
    sync_flush_timeout_ms: int = 5000
    flush_interval_commit_log_ms: int = 500
    flush_commit_log_least_pages: int = 4
    flush_commit_log_thorough_interval_ms: int = 10_000
    flush_interval_consume_queue_ms: int = 1000
    flush_consume_queue_least_pages: int = 2
    flush_consume_queue_thorough_interval_ms: int = 60_000
    flush_index_interval_ms: int = 10_000  # OrbitMQ: index files are synced this often
    # A pull returns at most min(requested, this many) messages and stops before this
    # many bytes (RocketMQ's "in memory" limits; every record here is in the page cache).
    max_transfer_count_on_message_in_memory: int = 32
    max_transfer_bytes_on_message_in_memory: int = 256 * 1024
    check_crc_on_recover: bool = True
    # Index files (IndexService): keys and UNIQ_KEY -> commit-log offsets.
    message_index_enable: bool = True
    max_hash_slot_num: int = 5_000_000
    max_index_num: int = 20_000_000
    max_msgs_num_batch: int = 64  # most offsets one key query returns
    default_query_max_num: int = 32  # unique-key queries
    # Retention (CleanCommitLogService / CleanConsumeQueueService).
    file_reserved_time_hours: float = 72
    delete_when: str = "04"  # hours of the day, ';' separated
    disk_max_used_space_ratio: int = 75  # percent; clamped to 10..95
    disk_space_clean_forcibly_ratio: int = 85  # percent: delete regardless of age
    disk_space_warning_level_ratio: int = 90  # percent: refuse sends (disk full)
    clean_file_forcibly_enable: bool = True
    clean_resource_interval_ms: int = 10_000
    delete_commit_log_files_interval_ms: int = 100
    delete_consume_queue_files_interval_ms: int = 100
    delete_file_batch_max: int = 10
    # Disk blocks are allocated this far ahead of the commit-log writer (see
    # MappedFile.reserve); 0 picks 1/16 of a segment, between 1 and 64 MiB.
    commit_log_reserve_bytes: int = 0

    def __post_init__(self) -> None:
        if self.flush_disk_type not in (ASYNC_FLUSH, SYNC_FLUSH):
            raise ValueError(
                f"flush_disk_type must be {ASYNC_FLUSH} or {SYNC_FLUSH}, "
                f"not {self.flush_disk_type!r}"
            )
        if self.store_path_commit_log is None:
            self.store_path_commit_log = os.path.join(self.store_path_root_dir, "commitlog")
        # RocketMQ rounds the CQ file size up so that a unit never straddles two files.
        units = -(-self.mapped_file_size_consume_queue // CQ_UNIT_SIZE)
        self.mapped_file_size_consume_queue = max(units, 1) * CQ_UNIT_SIZE
        if self.mapped_file_size_commit_log < 4096:
            raise ValueError(
                f"mapped_file_size_commit_log is {self.mapped_file_size_commit_log}; "
                "the minimum is 4096"
            )

        if self.max_hash_slot_num <= 0 or self.max_index_num <= 1:
            raise ValueError("max_hash_slot_num must be > 0 and max_index_num > 1")
        self.disk_max_used_space_ratio = min(95, max(10, self.disk_max_used_space_ratio))
        if not self.commit_log_reserve_bytes:
            sixteenth = self.mapped_file_size_commit_log // 16
            self.commit_log_reserve_bytes = min(64 << 20, max(1 << 20, sixteenth))

    @property
    def index_dir(self) -> str:
        return os.path.join(self.store_path_root_dir, "index")

    @property
    def consume_queue_dir(self) -> str:
        return os.path.join(self.store_path_root_dir, "consumequeue")

    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.store_path_root_dir, "checkpoint")

    @property
    def abort_path(self) -> str:
        return os.path.join(self.store_path_root_dir, "abort")

    @property
    def lock_path(self) -> str:
        return os.path.join(self.store_path_root_dir, "lock")

    @property
    def sync_flush(self) -> bool:
        return self.flush_disk_type == SYNC_FLUSH
