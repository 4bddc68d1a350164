"""The asyncio driver of one DLedger member (DLedgerServer.java's job).

Theory of operation: the Raft rules live in the pure RaftCore (raft.py); this shell
owns the files, the sockets and the clock. Inputs (a peer's message, a proposal, a
timer tick) are fed to the core, and one `_process` pass per loop iteration takes the
core's Ready and carries it out in etcd's order: the term and vote are written and
fsynced first, then committed entries are applied to the state machine (the broker's
commit log), then messages go out. When the core asks for the log to be synced before
its messages leave (SYNC_FLUSH), those messages wait in an output queue while a worker
thread fsyncs; messages produced meanwhile wait for the next round, so nothing that
claims durability overtakes the sync that makes it true.

Every message is a oneway remoting frame (rpc.py) on a per-peer connection; a peer that
cannot be reached loses its messages, which Raft resends.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orbitmq.dledger.config import DLedgerConfig
from orbitmq.dledger.log import DLedgerLog
from orbitmq.dledger.messages import Message, Role
from orbitmq.dledger.peer_link import PeerLink
from orbitmq.dledger.raft import (
    NotLeaderError,
    RaftConfig,
    RaftCore,
    Ready,
    RoleChange,
)
from orbitmq.dledger.retention import FollowerProgress, LogRetention, RetentionConfig
from orbitmq.dledger.rpc import LEADERSHIP_TRANSFER, PUSH, VOTE, decode_message, encode_message
from orbitmq.dledger.state_files import (
    load_checkpoint,
    load_hard_state,
    save_checkpoint,
    save_hard_state,
)
from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.limits import RemotingLimits
from orbitmq.remoting.server import RemotingServer
from orbitmq.store.errors import StoreError

log = logging.getLogger(__name__)

TICK_S = 0.01  # DLedger's state machine runs every 10 ms too
CHECKPOINT_S = 3.0  # DLedger rewrites `checkpoint` every 3 s
ASYNC_FLUSH_S = 0.1
PREFERRED_LEADER_CHECK_S = 1.0
WAIT_QUORUM_ACK_S = 2.5  # DLedger's maxWaitAckTimeMs
MAX_PENDING = 10_000  # DLedger's maxPendingRequestsNum
PEER_CONNECT_TIMEOUT_S = 1.0
TRANSFER_LAG_LIMIT = 1000  # maxLeadershipTransferWaitIndex


class CommitOutcome(enum.Enum):
    COMMITTED = "COMMITTED"
    LOST = "LOST"  # another entry was committed at that index: not stored
    TIMEOUT = "TIMEOUT"  # not committed in time: it may still be


class PendingFullError(NotLeaderError):
    """Too many proposals await a quorum (DLedger's LEADER_PENDING_FULL)."""


CommitCallback = Callable[[CommitOutcome], object]
ApplyFunction = Callable[[memoryview], None]


class DLedgerNode:
    """One member of a DLedger group.

    Args:
        config: group, peers, self id, data directory and timing.
        apply: called with the body of every committed entry, in index order, once
            per start (entries after the applied index given to start()); the view is
            valid only during the call.
        on_role_change: called after a role or leader change.
        broker_addr: this member's broker address, sent with every message so that
            followers know the leader's.
        retention: when and how far old Raft log files are deleted (retention.py);
            None keeps every entry.
    """

    def __init__(
        self,
        config: DLedgerConfig,
        apply: ApplyFunction,
        on_role_change: Callable[[RoleChange], None],
        broker_addr: Callable[[], str],
        *,
        rng: random.Random | None = None,
        retention: RetentionConfig | None = None,
        limits: RemotingLimits | None = None,
    ) -> None:
        self.config = config
        self._limits = limits  # of the DLedger port: the broker's (docs/limits.md)
        self._apply = apply
        self._on_role_change = on_role_change
        self._broker_addr = broker_addr
        self._rng = rng or random.Random()
        self.log = DLedgerLog(config.data_dir, config.data_file_size)
        self._term_path = os.path.join(config.data_dir, "currterm")
        self._checkpoint_path = os.path.join(config.data_dir, "checkpoint")
        self.core: RaftCore | None = None
        self.applied_index = -1
        self.peer_broker_addrs: dict[str, str] = {}
        self._pending: dict[int, tuple[int, float, CommitCallback]] = {}
        self._out: list[tuple[list[Message], bool]] = []
        self._out_wake = asyncio.Event()
        self._kicked = False
        self._apply_failure: str | None = None
        self._store_failure: str | None = None  # why the last entries could not be stored
        self._dispatcher = RequestDispatcher(f"dledger {config.self_id}")
        for code in (VOTE, PUSH, LEADERSHIP_TRANSFER):
            self._dispatcher.register(code, self._on_message)
        self._server: RemotingServer | None = None
        self._client = RemotingClient(connect_timeout=PEER_CONNECT_TIMEOUT_S)
        self._links = {
            peer: PeerLink(f"{host}:{port}", self._client)
            for peer, (host, port) in config.peers.items()
            if peer != config.self_id
        }
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._synced_through = -1
        self._last_transfer_try = 0.0
        # (term, monotonic deadline): no new handover to the preferred leader before the
        # one started in that term has had time to finish.
        self._transfer_hold = (-1, 0.0)
        self._retention = (
            None
            if retention is None
            else LogRetention(
                self.log,
                retention,
                lambda: self.applied_index,
                self._retention_followers,
                f"dledger {config.self_id}",
            )
        )

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Load and recover the log (before start(), so the caller can find its applied index)."""
        os.makedirs(self.config.data_dir, exist_ok=True)
        self.log.load()

    async def start(self, applied_index: int) -> None:
        """Start the member: timers, the RPC port and peer links.

        `applied_index`: the last entry the state machine already holds.
        """
        self._loop = asyncio.get_running_loop()
        hard_state = load_hard_state(self._term_path)
        checkpoint = load_checkpoint(self._checkpoint_path)
        self.applied_index = min(applied_index, self.log.last_index)
        committed = min(max(checkpoint.committed_index, self.applied_index), self.log.last_index)
        self._synced_through = self.log.last_index
        self.core = RaftCore(
            self.config.self_id,
            list(self.config.peers),
            self.log,
            hard_state,
            RaftConfig(
                heartbeat_interval_ms=self.config.heartbeat_interval_ms,
                election_timeout_ms=self.config.election_timeout_ms,
                sync_before_ack=self.config.sync_flush,
            ),
            self._rng,
            _now_ms(),
            committed_index=committed,
        )
        host, port = self.config.self_address
        self._server = RemotingServer(self._dispatcher, host, [port], limits=self._limits)
        await self._server.start()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="orbitmq-dledger-sync")
        self._tasks = [
            asyncio.create_task(self._timer_service(), name="dledger_timer_service"),
            asyncio.create_task(self._output_service(), name="dledger_output_service"),
            asyncio.create_task(self._housekeeping_service(), name="dledger_housekeeping"),
        ]
        log.info(
            "dledger %s/%s started: term %d, log %d..%d, committed %d, applied %d",
            self.config.group,
            self.config.self_id,
            hard_state.term,
            self.log.first_index,
            self.log.last_index,
            committed,
            self.applied_index,
        )
        self._kick()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for link in self._links.values():
            await link.aclose()
        if self._server is not None:
            await self._server.aclose()
        await self._client.aclose()
        await self._dispatcher.aclose()
        for _term, _deadline, callback in self._pending.values():
            callback(CommitOutcome.TIMEOUT)
        self._pending.clear()
        if self.core is not None:
            self.log.sync()
            self._write_checkpoint()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.log.close()

    # ------------------------------------------------------------------ leader API

    @property
    def role(self) -> Role:
        assert self.core is not None
        return self.core.role

    @property
    def leader_id(self) -> str:
        assert self.core is not None
        return self.core.leader_id

    @property
    def is_leader(self) -> bool:
        return self.core is not None and self.core.role is Role.LEADER

    def propose(self, body: bytes, callback: CommitCallback) -> int:
        """Append `body` as one entry; `callback` gets its outcome. Returns its index.

        Raises:
            NotLeaderError: not the leader, or handing leadership over.
            PendingFullError: too many entries await a quorum.
        """
        core = self.core
        assert core is not None
        if len(self._pending) >= MAX_PENDING:
            raise PendingFullError(core.leader_id, core.term)
        index = core.propose((body,), _now_ms())
        self._pending[index] = (core.term, time.monotonic() + WAIT_QUORUM_ACK_S, callback)
        self._kick()
        return index

    def transfer_leadership(self, target: str) -> None:
        """Raises NotLeaderError, or ValueError for an unknown member."""
        assert self.core is not None
        if target not in self.config.peers:
            raise ValueError(f"{target} is not a member of {self.config.group}")
        self.core.transfer_leadership(target, _now_ms())
        self._kick()

    def leader_broker_addr(self) -> str | None:
        core = self.core
        if core is None or not core.leader_id:
            return None
        if core.leader_id == self.config.self_id:
            return self._broker_addr()
        return self.peer_broker_addrs.get(core.leader_id)

    def status(self) -> dict[str, Any]:
        assert self.core is not None
        status = dict(self.core.status())
        status.update(
            group=self.config.group,
            self_id=self.config.self_id,
            applied_index=self.applied_index,
            first_index=self.log.first_index,
            peer_addrs={p: f"{h}:{port}" for p, (h, port) in self.config.peers.items()},
            broker_addrs={**self.peer_broker_addrs, self.config.self_id: self._broker_addr()},
            pending=len(self._pending),
        )
        return status

    # ------------------------------------------------------------------ the loop

    def _on_message(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand | None:
        assert self.core is not None
        try:
            envelope = decode_message(request)
        except RemoteProtocolError as exc:
            log.warning(
                "dledger %s: bad message from %s: %s",
                self.config.self_id,
                connection.peer_address,
                exc,
            )
            return None
        message = envelope.message
        if envelope.group != self.config.group or message.dst != self.config.self_id:
            log.warning(
                "dledger %s/%s: dropping a message for %s/%s from %s",
                self.config.group,
                self.config.self_id,
                envelope.group,
                message.dst,
                connection.peer_address,
            )
            return None
        if envelope.broker_addr:
            self.peer_broker_addrs[message.src] = envelope.broker_addr
        link = self._links.get(message.src)
        if link is not None:
            link.last_heard = time.monotonic()
        last_index = self.log.last_index
        try:
            self.core.step(message, _now_ms())
        except StoreError as exc:
            # A full disk, most likely: the entries were not stored, so they are not
            # acknowledged and the leader sends them again. The dispatcher would drop
            # this error silently (a oneway frame); say it once per failing streak.
            if self._store_failure is None:
                log.error(
                    "dledger %s: cannot store entries from %s: %s",
                    self.config.self_id,
                    message.src,
                    exc,
                )
            self._store_failure = str(exc)
        else:
            if self._store_failure is not None and self.log.last_index > last_index:
                log.info("dledger %s: storing entries resumed", self.config.self_id)
                self._store_failure = None
        self._kick()
        return None

    def _kick(self) -> None:
        """Process the core's output once, at the end of this loop iteration."""
        if not self._kicked and self._loop is not None:
            self._kicked = True
            self._loop.call_soon(self._process)

    def _process(self) -> None:
        self._kicked = False
        core = self.core
        if core is None or not self._tasks:
            return
        core.tick(_now_ms())
        self._carry_out(core.ready())

    def _carry_out(self, ready: Ready) -> None:
        if ready.hard_state is not None:
            save_hard_state(self._term_path, ready.hard_state)  # before anything it allows
        for change in ready.role_changes:
            log.info(
                "dledger %s/%s: %s in term %d (leader %s)",
                self.config.group,
                self.config.self_id,
                change.role,
                change.term,
                change.leader_id or "unknown",
            )
            self._on_role_change(change)
        self._apply_committed()
        if ready.sync_log or (ready.messages and self._out):
            # Even without messages: a SYNC_FLUSH leader counts its own entries only
            # once they are synced.
            self._out.append((ready.messages, ready.sync_log))
            self._out_wake.set()
        elif ready.messages:
            self._send_all(ready.messages)

    def _send_all(self, messages: list[Message]) -> None:
        group, addr = self.config.group, self._broker_addr()
        for message in messages:
            link = self._links.get(message.dst)
            if link is not None:
                link.send(encode_message(group, addr, message))

    def _apply_committed(self) -> None:
        core = self.core
        assert core is not None
        target = core.committed_index
        try:
            while self.applied_index < target:
                index = self.applied_index + 1
                with self.log.read_body(index) as body:  # no copy: the mapping itself
                    self._apply(body)
                self.applied_index = index
                pending = self._pending.pop(index, None)
                if pending is not None:
                    term, _deadline, callback = pending
                    committed = self.log.term_at(index) == term
                    callback(CommitOutcome.COMMITTED if committed else CommitOutcome.LOST)
        except Exception as exc:
            # Committed entries stay in the Raft log; applying is retried every tick.
            if self._apply_failure is None:
                log.exception(
                    "dledger %s: applying entry %d failed",
                    self.config.self_id,
                    self.applied_index + 1,
                )
            self._apply_failure = str(exc)
            return
        if self._apply_failure is not None:
            log.info("dledger %s: applying resumed", self.config.self_id)
            self._apply_failure = None

    @property
    def apply_failure(self) -> str | None:
        return self._apply_failure

    def _expire_pending(self) -> None:
        now = time.monotonic()
        expired = []
        for index, (_term, deadline, _callback) in self._pending.items():
            if deadline > now:
                break  # proposals are in index order, and so in deadline order
            expired.append(index)
        for index in expired:
            _term, _deadline, callback = self._pending.pop(index)
            callback(CommitOutcome.TIMEOUT)

    async def _timer_service(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self._process()
            if self._pending:
                self._expire_pending()

    async def _output_service(self) -> None:
        """Sends messages that must wait for the log to be fsynced (SYNC_FLUSH)."""
        loop = asyncio.get_running_loop()
        while True:
            await self._out_wake.wait()
            self._out_wake.clear()
            while self._out:
                batch, self._out = self._out, []
                if any(sync for _messages, sync in batch):
                    through = self.log.last_index
                    await loop.run_in_executor(self._executor, self.log.sync)
                    self._synced_through = through
                    assert self.core is not None
                    self.core.log_synced(through)
                    self._kick()
                for messages, _sync in batch:
                    self._send_all(messages)

    async def _housekeeping_service(self) -> None:
        """Background fsync of the log (ASYNC_FLUSH), the checkpoint, preferred leader,
        retention."""
        loop = asyncio.get_running_loop()
        last_checkpoint = time.monotonic()
        while True:
            await asyncio.sleep(ASYNC_FLUSH_S)
            if not self.config.sync_flush and self.log.last_index > self._synced_through:
                through = self.log.last_index
                await loop.run_in_executor(self._executor, self.log.sync)
                self._synced_through = max(self._synced_through, through)
                assert self.core is not None
                self.core.log_synced(through)
            now = time.monotonic()
            if now - last_checkpoint >= CHECKPOINT_S:
                last_checkpoint = now
                self._write_checkpoint()
            if now - self._last_transfer_try >= PREFERRED_LEADER_CHECK_S:
                self._check_preferred_leader(now)
            silence = 2 * self.config.election_timeout_ms / 1000
            for link in self._links.values():
                link.redial_if_silent(now, silence)
            if self._retention is not None:
                await self._retention.step(now)

    def _retention_followers(self) -> dict[str, FollowerProgress] | None:
        """On the leader: each follower's match index and how long it has been silent."""
        core = self.core
        if core is None or core.role is not Role.LEADER:
            return None
        now = time.monotonic()
        return {
            peer: FollowerProgress(progress["match_index"], now - self._links[peer].last_heard)
            for peer, progress in core.status()["peers"].items()
        }

    def _write_checkpoint(self) -> None:
        assert self.core is not None
        try:
            save_checkpoint(
                self._checkpoint_path,
                self.log.last_index,
                min(self.applied_index, self.core.committed_index),
            )
        except OSError as exc:
            log.warning(
                "dledger %s: writing %s failed: %s", self.config.self_id, self._checkpoint_path, exc
            )

    def _check_preferred_leader(self, now: float) -> None:
        """A leader that is not the preferred one hands over to it once it has caught up."""
        core = self.core
        preferred = self.config.preferred_leader_ids
        if core is None or core.role is not Role.LEADER or not preferred:
            return
        if self.config.self_id in preferred:
            return
        # Look every second: a preferred member that just restarted is caught up a moment
        # later. A hold-off from an earlier term (this node led before, handed over, and
        # was elected again) does not delay the next handover.
        self._last_transfer_try = now
        term, until = self._transfer_hold
        if term == core.term and now < until:
            return
        peers = core.status().get("peers", {})
        for target in preferred:
            match = peers.get(target, {}).get("match_index", -1)
            if match >= 0 and self.log.last_index - match < TRANSFER_LAG_LIMIT:
                self._transfer_hold = (core.term, now + 5.0)
                log.info("dledger %s: handing leadership to preferred %s", core.node_id, target)
                with contextlib.suppress(NotLeaderError):
                    core.transfer_leadership(target, _now_ms())
                self._kick()
                return


def _now_ms() -> int:
    return time.monotonic_ns() // 1_000_000
