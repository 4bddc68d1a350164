"""Transactional messages on the broker (TransactionalMessageServiceImpl,
EndTransactionProcessor, TransactionalMessageCheckService).

  prepare          a SEND with TRAN_MSG=true is parked in the half topic (bridge.py)
  end_transaction  END_TRANSACTION (37): COMMIT stores the real message and an op
                   message; ROLLBACK only the op message; UNKNOWN (0) nothing
  check_service    every transactionCheckInterval: each open half message older than
                   transactionTimeOut (or its CHECK_IMMUNITY_TIME_IN_SECONDS) is asked
                   about with CHECK_TRANSACTION_STATE (39, one-way) on a channel of its
                   PGROUP producer group; after transactionCheckMax checks it is copied
                   to TRANS_CHECK_MAX_TIME_TOPIC and closed

What is resolved is tracked by TransactionState (state.py); its progress offsets are
kept as the consumer offsets of group CID_RMQ_SYS_TRANS, and the rest is rebuilt from the
op queue at start, so a restart between prepare and commit loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from orbitmq.broker.errors import BadHeaderFieldError, BrokerError, NoPermissionError
from orbitmq.broker.schedule import park_delayed
from orbitmq.broker.topic_config import (
    TRANS_CHECK_MAX_TIME_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
)
from orbitmq.broker.transaction.bridge import (
    CHECK_IMMUNITY_TIME_IN_SECONDS,
    HALF_QUEUE_ID,
    check_request,
    commit_message,
    discarded_message,
    op_message,
    parse_op_body,
    to_half_message,
)
from orbitmq.broker.transaction.state import TransactionState
from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.message import MessageConst, MessageExt, SysFlag, decode_record
from orbitmq.protocol.perm import PERM_READ, PERM_WRITE
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.store.message_store import GetMessageStatus

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

log = logging.getLogger(__name__)

CID_SYS_TRANS = "CID_RMQ_SYS_TRANS"
_BATCH = 32


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class TransactionalMessageService:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker
        self.state = TransactionState()
        self._round_robin = 0
        self.checks_sent = 0
        self.discarded = 0
        # For the metrics exporter, by real topic: COMMITs and ROLLBACKs applied, and
        # open half messages (kept only when the broker exports metrics; see load()).
        self.commits: dict[str, int] = {}
        self.rollbacks: dict[str, int] = {}
        self._open_halves: dict[str, int] | None = None

    # ------------------------------------------------------------------ prepare

    def prepare(self, msg: MessageExt) -> None:
        """Turn a prepared message into a half message before it is stored.

        Raises:
            NoPermissionError: `rejectTransactionMessage` is set.
        """
        config = self._broker.config
        if config.reject_transaction_message:
            raise NoPermissionError(
                f"the broker[{config.broker_addr}] sending transaction message is forbidden"
            )
        self._ensure_topic(TRANS_HALF_TOPIC)
        to_half_message(msg)

    def _ensure_topic(self, topic: str) -> None:
        topics = self._broker.topic_config_manager
        if topics.get(topic) is None:
            topics.create_system_topic(topic, 1, PERM_READ | PERM_WRITE)
            self._broker.schedule_register()

    # ------------------------------------------------------------------ state

    def load(self) -> None:
        """Rebuild the state from the progress offsets and the op queue (store started)."""
        store = self._broker.message_store
        offsets = self._broker.consumer_offset_manager
        half = offsets.query_offset(CID_SYS_TRANS, TRANS_HALF_TOPIC, HALF_QUEUE_ID)
        op = offsets.query_offset(CID_SYS_TRANS, TRANS_OP_HALF_TOPIC, HALF_QUEUE_ID)
        self.state = state = TransactionState(half_offset=max(half, 0), op_offset=max(op, 0))
        for op_msg in self._read_queue(TRANS_OP_HALF_TOPIC, state.op_offset):
            for half_offset in parse_op_body(op_msg.body):
                state.mark_resolved(half_offset, op_msg.queue_offset)
        self._advance()
        if self._broker.metrics is not None:
            self._count_open_halves()
        half_max = store.get_max_offset_in_queue(TRANS_HALF_TOPIC, HALF_QUEUE_ID)
        if half_max:
            log.info(
                "transactions: %d open of %d half messages (half progress %d, op progress %d)",
                state.open_count(half_max),
                half_max,
                state.half_offset,
                state.op_offset,
            )

    def _count_open_halves(self) -> dict[str, int]:
        """Read the open part of the half queue: open half messages per real topic."""
        counts: dict[str, int] = {}
        for half in self._read_queue(TRANS_HALF_TOPIC, self.state.half_offset):
            if not self.state.is_resolved(half.queue_offset):
                topic = half.properties.get(MessageConst.REAL_TOPIC, "")
                counts[topic] = counts.get(topic, 0) + 1
        self._open_halves = counts
        return counts

    def open_half_messages(self) -> dict[str, int]:
        """Open (prepared, unresolved) half messages per real topic; counted from the
        half queue after retention deleted some, else kept as they come and go."""
        counts = self._open_halves
        if counts is None:
            counts = self._count_open_halves()
        return {topic: n for topic, n in counts.items() if n > 0}

    def forget_open_halves(self) -> None:
        """This broker just became master: count open half messages again when asked."""
        if self._open_halves is not None:
            self._open_halves = None

    def on_half_stored(self, half: MessageExt) -> None:
        """A prepared message was stored in the half topic."""
        if self._open_halves is not None:
            topic = half.properties.get(MessageConst.REAL_TOPIC, "")
            self._open_halves[topic] = self._open_halves.get(topic, 0) + 1

    def _read_queue(self, topic: str, offset: int) -> Iterator[MessageExt]:
        """Every decodable record of `topic` queue 0 from `offset` to its end."""
        store = self._broker.message_store
        while True:
            result = store.get_message(topic, HALF_QUEUE_ID, offset, _BATCH)
            if result.status is not GetMessageStatus.FOUND:
                result.release()
                if result.next_begin_offset <= offset or result.status in (
                    GetMessageStatus.NO_MESSAGE_IN_QUEUE,
                    GetMessageStatus.OFFSET_OVERFLOW_ONE,
                    GetMessageStatus.OFFSET_OVERFLOW_BADLY,
                ):
                    return
                offset = result.next_begin_offset
                continue
            try:
                messages = []
                for buffer in result.buffers:
                    try:
                        messages.append(decode_record(buffer))
                    except RemoteProtocolError as exc:
                        log.error("skipping a bad record in %s: %s", topic, exc)
            finally:
                result.release()
            yield from messages
            offset = result.next_begin_offset

    def _advance(self) -> None:
        store = self._broker.message_store
        half_min = store.get_min_offset_in_queue(TRANS_HALF_TOPIC, HALF_QUEUE_ID)
        if half_min > self.state.half_offset and self._open_halves is not None:
            self._open_halves = None  # open ones were deleted: count again when asked
        moved = self.state.advance(
            half_min, store.get_min_offset_in_queue(TRANS_OP_HALF_TOPIC, HALF_QUEUE_ID)
        )
        if moved:
            commit = self._broker.consumer_offset_manager.commit_offset
            commit(CID_SYS_TRANS, TRANS_HALF_TOPIC, HALF_QUEUE_ID, self.state.half_offset)
            commit(CID_SYS_TRANS, TRANS_OP_HALF_TOPIC, HALF_QUEUE_ID, self.state.op_offset)

    # ------------------------------------------------------------------ end

    def end_transaction(
        self, producer_group: str, tran_state_table_offset: int, commit_log_offset: int, kind: int
    ) -> str:
        """Apply a producer's decision; return a remark for the (optional) answer.

        Raises:
            BadHeaderFieldError: `kind` is not 0, 8 or 12.
            BrokerError: no such half message, or it does not match the request (nothing
                is changed).
        """
        if kind == 0:
            return "transaction state unknown; the broker will check back"
        if kind not in (SysFlag.TRANSACTION_COMMIT, SysFlag.TRANSACTION_ROLLBACK):
            raise BadHeaderFieldError("commitOrRollback", str(kind), "0, 8 or 12")
        store = self._broker.message_store
        half = store.look_message_by_offset(commit_log_offset)
        if half is None or half.topic != TRANS_HALF_TOPIC:
            raise BrokerError(
                f"Find prepared transaction message failed: no half message at commit log "
                f"offset {commit_log_offset}"
            )
        if half.queue_offset != tran_state_table_offset:
            raise BrokerError(
                f"The transaction state table offset wrong: {tran_state_table_offset}, the "
                f"half message has {half.queue_offset}"
            )
        if half.properties.get(MessageConst.PRODUCER_GROUP) != producer_group:
            raise BrokerError(
                f"The producer group wrong: {producer_group!r}, the half message has "
                f"{half.properties.get(MessageConst.PRODUCER_GROUP)!r}"
            )
        if self.state.is_resolved(half.queue_offset):
            return f"transaction {half.msg_id} was already resolved; nothing done"
        if kind == SysFlag.TRANSACTION_COMMIT:
            final = commit_message(half)
            if final is None:
                raise BrokerError(f"half message {half.msg_id} has no REAL_TOPIC/REAL_QID")
            park_delayed(final, self._broker.schedule_service.max_level)
            result = store.append_messages([final])
            if not result.is_ok:
                raise BrokerError(
                    f"storing the committed message failed: {result.status.name} {result.remark}"
                )
        self._resolve(half)
        topic = half.properties.get(MessageConst.REAL_TOPIC, "")
        ended = self.commits if kind == SysFlag.TRANSACTION_COMMIT else self.rollbacks
        ended[topic] = ended.get(topic, 0) + 1
        return "committed" if kind == SysFlag.TRANSACTION_COMMIT else "rolled back"

    def _resolve(self, half: MessageExt) -> None:
        """Write the op message for a half message and mark it resolved."""
        self._ensure_topic(TRANS_OP_HALF_TOPIC)
        op = op_message(half.queue_offset, _now_ms(), self._broker.store_host)
        result = self._broker.message_store.append_messages([op])
        if result.append_result is None:
            # Resolved in memory anyway; a restart would check it again.
            log.error(
                "writing the op message of half message %d failed: %s %s",
                half.queue_offset,
                result.status.name,
                result.remark,
            )
            self.state.resolved.add(half.queue_offset)
        else:
            self.state.mark_resolved(half.queue_offset, result.append_result.queue_offset)
        if self._open_halves is not None:
            topic = half.properties.get(MessageConst.REAL_TOPIC, "")
            self._open_halves[topic] = self._open_halves.get(topic, 0) - 1
        self._advance()

    # ------------------------------------------------------------------ check

    async def check_service(self) -> None:
        """Background task: check open transactions every transactionCheckInterval."""
        while True:
            await asyncio.sleep(self._broker.config.transaction_check_interval / 1000)
            try:
                await self.check_once()
            except Exception:
                log.exception("transaction check failed")

    async def check_once(self) -> int:
        """One pass over the open half messages; return how many checks were sent."""
        config = self._broker.config
        store = self._broker.message_store
        state = self.state
        start = _now_ms()
        self._advance()
        half_max = store.get_max_offset_in_queue(TRANS_HALF_TOPIC, HALF_QUEUE_ID)
        reserved_ms = config.file_reserved_time * 3_600_000
        sent = 0
        offset = state.half_offset
        while offset < half_max:
            if state.is_resolved(offset):
                offset += 1
                continue
            batch = self._read_queue_once(offset)
            if not batch:
                break
            for half in batch:
                queue_offset = half.queue_offset
                offset = queue_offset + 1
                if state.is_resolved(queue_offset):
                    continue
                if half.store_timestamp >= start:
                    offset = half_max  # stored during this pass: next time
                    break
                age = start - half.store_timestamp
                if state.checks_of(queue_offset) >= config.transaction_check_max or (
                    age > reserved_ms
                ):
                    self._discard(half)
                    continue
                immunity, custom = _immunity_ms(half, config.transaction_timeout)
                if age < immunity:
                    if custom:
                        continue
                    offset = half_max  # every later half message is younger still
                    break
                state.record_check(queue_offset)
                if self._send_check(half):
                    sent += 1
            await asyncio.sleep(0)
        self._advance()
        self.checks_sent += sent
        return sent

    def _read_queue_once(self, offset: int) -> list[MessageExt]:
        """Up to one batch of half messages from `offset` (empty when none)."""
        messages: list[MessageExt] = []
        for msg in self._read_queue(TRANS_HALF_TOPIC, offset):
            messages.append(msg)
            if len(messages) >= _BATCH:
                break
        return messages

    def _send_check(self, half: MessageExt) -> bool:
        group = half.properties.get(MessageConst.PRODUCER_GROUP, "")
        connection = self._producer_channel(group)
        if connection is None:
            log.warning(
                "no producer of group %r online to check transaction %s (half offset %d)",
                group,
                half.msg_id,
                half.queue_offset,
            )
            return False
        request = check_request(half)
        if request is None:
            log.error("half message %d has no REAL_TOPIC/REAL_QID", half.queue_offset)
            return False
        connection.invoke_oneway(request)
        log.info(
            "checking transaction %s of group %s with %s",
            half.msg_id,
            group,
            connection.peer_address,
        )
        return True

    def _producer_channel(self, group: str) -> RemotingConnection | None:
        channels = self._broker.client_manager.producer_groups.get(group) or {}
        live = [c for c in channels if c.is_open]
        if not live:
            return None
        self._round_robin += 1
        return live[self._round_robin % len(live)]

    def _discard(self, half: MessageExt) -> None:
        """Too many checks (or too old): copy to TRANS_CHECK_MAX_TIME_TOPIC and close it."""
        self._ensure_topic(TRANS_CHECK_MAX_TIME_TOPIC)
        copy = discarded_message(half, TRANS_CHECK_MAX_TIME_TOPIC)
        result = self._broker.message_store.append_messages([copy])
        if not result.is_ok:
            log.error("copying half message %d failed: %s", half.queue_offset, result.remark)
            return
        log.warning(
            "transaction %s of group %s discarded after %d checks",
            half.msg_id,
            half.properties.get(MessageConst.PRODUCER_GROUP),
            self.state.checks_of(half.queue_offset),
        )
        self.discarded += 1
        self._resolve(half)

    def commit_progress(self) -> None:
        """Hand the progress offsets to the consumer offset manager (before it persists)."""
        self._advance()


def _immunity_ms(half: MessageExt, transaction_timeout_ms: int) -> tuple[int, bool]:
    """(ms a half message is left alone after it was stored, whether the producer set it)."""
    text = half.properties.get(CHECK_IMMUNITY_TIME_IN_SECONDS, "")
    if text.isdigit():
        return int(text) * 1000, True
    return transaction_timeout_ms, False
