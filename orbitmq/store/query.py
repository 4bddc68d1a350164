"""Key queries over the index (DefaultMessageStore.queryMessage).

The index yields commit-log offsets whose key hash matches; each is read back as the
stored record (zero copy). As upstream, up to three rounds are tried, each narrowing the
end of the time range to the store time of the first hit, until something is found.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orbitmq.store.commit_log import CommitLog
from orbitmq.store.index_service import IndexService

_ROUNDS = 3


@dataclass(slots=True)
class QueryMessageResult:
    # Each buffer is one whole stored record, a slice of the mapped commit log.
    buffers: list[memoryview] = field(default_factory=list)
    index_last_update_timestamp: int = 0
    index_last_update_phyoffset: int = 0
    buffer_total_size: int = 0

    def body(self) -> bytes:
        """The QUERY_MESSAGE response body: the records back to back."""
        return b"".join(self.buffers)

    def release(self) -> None:
        for buf in self.buffers:
            buf.release()
        self.buffers = []


def query_message(
    index: IndexService | None,
    commit_log: CommitLog,
    topic: str,
    key: str,
    max_num: int,
    begin: int,
    end: int,
) -> QueryMessageResult:
    result = QueryMessageResult()
    if index is None:
        return result
    last_end = end
    for _ in range(_ROUNDS):
        found = index.query_offsets(topic, key, max_num, begin, last_end)
        if not found.phy_offsets:
            break
        result.index_last_update_timestamp = found.index_last_update_timestamp
        result.index_last_update_phyoffset = found.index_last_update_phyoffset
        for i, offset in enumerate(sorted(found.phy_offsets)):
            if offset < commit_log.min_offset:
                continue  # deleted by retention; its index entry outlived it
            record = commit_log.record_at(offset)
            if record is None:
                continue
            if i == 0:
                stamp = commit_log.pickup_store_timestamp(offset, len(record))
                if stamp > 0:
                    last_end = stamp
            result.buffers.append(record)
            result.buffer_total_size += len(record)
        if result.buffer_total_size > 0 or last_end < begin:
            break
    return result
