"""The broker's commit log as the state machine of a DLedger group.

Theory of operation: every send is laid out as commit-log records at the end the log
will have once all earlier entries are applied (the *projected end*), and those record
bytes become one Raft entry. Each member applies committed entries, in index order, by
writing their records into its own commit log at the physical offsets they carry; reput
then builds consume queues and the index from them as always. So the commit log, the
consume queues and every read hold committed messages only, and physical offsets,
queue offsets and offset message ids are the same on every member.

The leader's projected end and queue-offset table are only valid while it leads: they
are taken from the commit log when the broker becomes master, after the leader's no-op
entry (and so everything before it) is committed and applied (see orbitmq/broker/
dledger_role.py), and dropped when leadership is lost.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass

from orbitmq.dledger.log import DLedgerLog
from orbitmq.dledger.node import CommitOutcome, DLedgerNode, PendingFullError
from orbitmq.dledger.raft import NotLeaderError, TransferInProgressError
from orbitmq.protocol.message import PHYSICAL_OFFSET_POSITION, MessageExt
from orbitmq.store.errors import NotWritableError
from orbitmq.store.layout import DispatchRequest, dispatch_request_for
from orbitmq.store.message_store import CommittedCallback, MessageStore, SendsOutcome
from orbitmq.store.results import AppendMessageResult, PutMessageStatus
from orbitmq.store.send_batch import (
    AppendedSends,
    SendEntry,
    dispatch_requests,
    give_back_queue_offsets,
    lay_out_sends,
)

log = logging.getLogger(__name__)

_I64 = struct.Struct(">q")


@dataclass(slots=True, eq=False)
class _Proposal:
    offset: int  # of its first record
    data: bytes  # the entry body
    # What reput needs of its records, handed over when the entry is applied here.
    hints: Callable[[], list[DispatchRequest]]
    callback: CommittedCallback | None = None


def first_record_offset(body: bytes | bytearray | memoryview) -> int:
    """PHYSICALOFFSET of the first record in an entry's body."""
    return int(_I64.unpack_from(body, PHYSICAL_OFFSET_POSITION)[0])


def find_applied_index(raft_log: DLedgerLog, commit_log_end: int) -> int:
    """The last entry whose records the commit log already holds (-1: none).

    Scans back from the log's end: only the tail that was not yet committed, or not
    yet applied when the broker stopped, is passed over.
    """
    index = raft_log.last_index
    while index >= raft_log.first_index:
        with raft_log.read_body(index) as body:
            if len(body) and first_record_offset(body) + len(body) <= commit_log_end:
                return index
        index -= 1
    return -1 if commit_log_end == 0 or raft_log.last_index < 0 else raft_log.first_index - 1


class DLedgerCommitLog:
    """The store's ReplicatedLog in DLedger mode (see MessageStore.replicated_log)."""

    def __init__(self, store: MessageStore, node: DLedgerNode) -> None:
        self._store = store
        self._node = node
        self.writable = False
        self._projected_end = 0
        # First record offset of each proposal of this leadership -> the proposal. An
        # offset can come again after a leadership change (uncommitted entries are cut),
        # so outcomes and apply check that it is the same proposal.
        self._proposed: dict[int, _Proposal] = {}

    def not_leader_remark(self) -> str:
        node = self._node
        group = node.config.group
        if node.is_leader:
            return (
                f"DLedger group {group}: {node.config.self_id} was just elected leader and is "
                "catching up; retry in a moment"
            )
        leader = node.leader_id
        if not leader:
            return f"DLedger group {group} has no leader now (election under way); retry soon"
        addr = node.leader_broker_addr()
        where = f" at {addr}" if addr else ""
        return (
            f"this broker is a DLedger follower ({node.config.self_id}) of group {group}; "
            f"the leader is {leader}{where}: send there (refresh the topic route)"
        )

    def become_writable(self) -> None:
        """Take the projected end and queue offsets from the applied commit log."""
        commit_log = self._store.commit_log
        self._projected_end = commit_log.max_offset
        commit_log.topic_queue_table.clear()
        commit_log.topic_queue_table.update(self._store.queue_max_offsets())
        self.writable = True

    def become_read_only(self) -> None:
        self.writable = False

    # ------------------------------------------------------------------ ReplicatedLog

    def append(self, msgs: list[MessageExt], properties: list[str]) -> AppendMessageResult:
        if not self.writable or not self._node.is_leader:
            raise NotWritableError(self.not_leader_remark())
        commit_log = self._store.commit_log
        laid = commit_log.lay_out(msgs, properties, self._projected_end)
        proposal = _Proposal(
            laid.physical, bytes(laid.data), lambda: list(map(dispatch_request_for, msgs))
        )
        self._propose(proposal)
        commit_log.commit_laid_out(msgs, laid)
        self._projected_end = laid.physical + len(laid.data)
        return laid.result

    def append_sends(
        self,
        entries: list[SendEntry],
        store_host: bytes,
        on_outcome: SendsOutcome,
    ) -> AppendedSends:
        """The send lane's batch: its records proposed as one entry per segment run.

        `on_outcome(layout, first, stop, status, remark)` follows for entries[first:stop]
        once their entry is committed, lost or timed out. A refusal (not leader, busy) of a
        later run leaves the earlier ones proposed: `count` says how many entries were.
        """
        if not self.writable or not self._node.is_leader:
            raise NotWritableError(self.not_leader_remark())
        commit_log = self._store.commit_log
        layout = lay_out_sends(commit_log, entries, store_host, self._projected_end)
        proposed = 0
        refusal = None
        for run_start, parts, count in layout.runs:
            first = proposed

            def hints(first: int = first, stop: int = first + count) -> list[DispatchRequest]:
                return dispatch_requests(entries, layout, first, stop)

            def settled(
                status: PutMessageStatus, remark: str, first: int = first, stop: int = first + count
            ) -> None:
                on_outcome(layout, first, stop, status, remark)

            proposal = _Proposal(run_start, b"".join(parts), hints, settled)
            try:
                self._propose(proposal)
            except NotWritableError as exc:
                refusal = str(exc)
                break
            proposed += count
            self._projected_end = run_start + len(proposal.data)
        if proposed < len(entries):
            give_back_queue_offsets(commit_log, entries[proposed:])
        if proposed:
            commit_log.last_store_timestamp = layout.store_timestamp
        return layout.appended(proposed, refusal)

    def _propose(self, proposal: _Proposal) -> None:
        try:
            self._node.propose(proposal.data, lambda outcome: self._settle(proposal, outcome))
        except PendingFullError as exc:
            raise NotWritableError(
                f"DLedger leader {self._node.config.self_id} has too many sends awaiting a "
                "quorum; the broker is busy, retry"
            ) from exc
        except TransferInProgressError as exc:
            raise NotWritableError(
                f"DLedger group {self._node.config.group} is handing leadership over; retry"
            ) from exc
        except NotLeaderError as exc:
            self.writable = False
            raise NotWritableError(self.not_leader_remark()) from exc
        self._proposed[proposal.offset] = proposal

    def on_committed(self, appended: AppendMessageResult, callback: CommittedCallback) -> None:
        proposal = self._proposed.get(appended.wrote_offset)
        if proposal is not None:
            proposal.callback = callback

    def _settle(self, proposal: _Proposal, outcome: CommitOutcome) -> None:
        if self._proposed.get(proposal.offset) is proposal:
            del self._proposed[proposal.offset]
        if proposal.callback is not None:
            proposal.callback(*_STATUS[outcome])

    # ------------------------------------------------------------------ state machine

    def apply(self, body: memoryview) -> None:
        """Write a committed entry's records into the commit log (skipping what is there).

        Raises:
            StoreError / DiskFullError: the commit log cannot take them (retried later).
        """
        if not body:
            return  # a leader's no-op
        offset = first_record_offset(body)
        end = offset + len(body)
        have = self._store.commit_log.max_offset
        if end <= have:
            return  # applied before a restart (entries at an index never change)
        if offset < have:
            self._store.append_committed(have, body[have - offset :])
            return
        proposal = self._proposed.get(offset)
        if proposal is not None and body == proposal.data:
            # Our own proposal: reput takes what it needs from it instead of parsing the
            # records back (as for a classic master's appends).
            self._store.commit_log.add_dispatch_requests(proposal.hints())
        self._store.append_committed(offset, body)


_STATUS: dict[CommitOutcome, tuple[PutMessageStatus, str]] = {
    CommitOutcome.COMMITTED: (PutMessageStatus.PUT_OK, ""),
    CommitOutcome.LOST: (
        PutMessageStatus.SERVICE_NOT_AVAILABLE,
        "leadership changed before a majority stored the message; it was not stored, resend",
    ),
    CommitOutcome.TIMEOUT: (
        PutMessageStatus.OS_PAGECACHE_BUSY,
        "[DLedger] no quorum acknowledged the message in time (broker busy); it may still "
        "be stored",
    ),
}
