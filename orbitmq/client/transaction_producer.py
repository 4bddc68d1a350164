"""TransactionProducer: half messages, local transactions and check-backs
(TransactionMQProducer / DefaultMQProducerImpl.sendMessageInTransaction).

Theory of operation. `send_message_in_transaction(msg, arg)`:
  1. sends `msg` as a half message (properties TRAN_MSG=true and PGROUP=<group>, sysFlag
     PREPARED) through the ordinary Producer send path; the broker keeps it invisible;
  2. runs the listener's `execute_local_transaction(msg, arg)`;
  3. sends END_TRANSACTION (37, one-way) with the outcome: COMMIT_MESSAGE makes the
     message visible, ROLLBACK_MESSAGE drops it, UNKNOW leaves it to a check-back.
When the outcome is UNKNOW or END_TRANSACTION is lost, the broker later sends
CHECK_TRANSACTION_STATE (39, one-way) on this producer's connection; the producer runs
`check_local_transaction(msg)` and answers with END_TRANSACTION (fromTransactionCheck).

The transaction id is the message's UNIQ_KEY: `TransactionSendResult.msg_id`, the
`UNIQ_KEY` property of the message given to `execute_local_transaction`, and `msg_id` of
the MessageExt given to `check_local_transaction`. A listener method may be a plain
function (run on a worker thread) or a coroutine function.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from orbitmq.client.errors import MQClientError
from orbitmq.client.message import Message, SendResult, SendStatus
from orbitmq.client.producer import Producer
from orbitmq.client.transport import ClientConnection
from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import (
    MessageConst,
    MessageExt,
    SysFlag,
    decode_offset_msg_id,
    decode_record,
)
from orbitmq.remoting.dispatch import RequestDispatcher

__all__ = [
    "LocalTransactionState",
    "TransactionListener",
    "TransactionProducer",
    "TransactionSendResult",
]

log = logging.getLogger(__name__)


class LocalTransactionState(enum.StrEnum):
    """What a local transaction came to (Java's names, `UNKNOW` included); prints as its name."""

    COMMIT_MESSAGE = "COMMIT_MESSAGE"
    ROLLBACK_MESSAGE = "ROLLBACK_MESSAGE"
    UNKNOW = "UNKNOW"

    @property
    def commit_or_rollback(self) -> int:
        """The END_TRANSACTION `commitOrRollback` value (MessageSysFlag)."""
        if self is LocalTransactionState.COMMIT_MESSAGE:
            return SysFlag.TRANSACTION_COMMIT
        if self is LocalTransactionState.ROLLBACK_MESSAGE:
            return SysFlag.TRANSACTION_ROLLBACK
        return 0


StateOrAwaitable = LocalTransactionState | Awaitable[LocalTransactionState]


class TransactionListener(Protocol):
    """The application's side of a transaction; methods may be `def` or `async def`."""

    def execute_local_transaction(self, msg: Message, arg: Any) -> StateOrAwaitable:
        """Run the local transaction after the half message was stored."""
        ...

    def check_local_transaction(self, msg: MessageExt) -> StateOrAwaitable:
        """Tell the broker what became of the transaction of `msg` (`msg.msg_id`)."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class TransactionSendResult(SendResult):
    """A SendResult plus what the local transaction came to.

    Attributes:
        local_transaction_state: the listener's answer (ROLLBACK_MESSAGE if the half
            message was not stored with SEND_OK; UNKNOW if the listener raised).
        transaction_id: the message's UNIQ_KEY (equal to `msg_id`).
    """

    local_transaction_state: LocalTransactionState = LocalTransactionState.UNKNOW
    transaction_id: str = ""


async def _call_listener(fn: Callable[..., StateOrAwaitable], *args: Any) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    result = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(result):
        result = await result
    return result


def _as_state(value: Any, what: str) -> LocalTransactionState:
    if isinstance(value, LocalTransactionState):
        return value
    log.warning("%s returned %r; treated as UNKNOW", what, value)
    return LocalTransactionState.UNKNOW


class TransactionProducer(Producer):
    """A Producer that also sends transactional messages.

    Args:
        group: producer group; the broker checks open transactions with a producer of
            this group, so every member must be able to answer for the others.
        namesrv_addr: NameServer addresses separated by ';'.
        listener: runs and checks local transactions (see TransactionListener).
        **options: as for Producer (send_timeout, compress_over, …).
    """

    def __init__(
        self, group: str, namesrv_addr: str, listener: TransactionListener, **options: Any
    ) -> None:
        self.listener = listener
        super().__init__(group, namesrv_addr, **options)

    def _request_dispatcher(self) -> RequestDispatcher:
        dispatcher = RequestDispatcher(f"transaction producer {self.group}")
        dispatcher.register(RequestCode.CHECK_TRANSACTION_STATE, self._on_check_transaction)
        return dispatcher

    async def send_message_in_transaction(
        self, msg: Message, arg: Any = None, timeout: float | None = None
    ) -> TransactionSendResult:
        """Send `msg` as a half message, run the local transaction, end it.

        A delay level on `msg` is ignored, as Java does.

        Returns:
            TransactionSendResult with the listener's LocalTransactionState.

        Raises:
            IllegalMessageError, MQBrokerError, RemotingError: the half message could
                not be sent (the local transaction did not run).
        """
        properties = {
            **msg.properties,
            MessageConst.TRANSACTION_PREPARED: "true",
            MessageConst.PRODUCER_GROUP: self.group,
        }
        half = dataclasses.replace(msg, properties=properties, delay_time_level=0)
        result = await self.send(half, timeout)
        local_error: BaseException | None = None
        if result.status is SendStatus.SEND_OK:
            executed = dataclasses.replace(
                half, properties={**properties, MessageConst.UNIQ_KEY: result.msg_id}
            )
            try:
                state = _as_state(
                    await _call_listener(self.listener.execute_local_transaction, executed, arg),
                    "execute_local_transaction",
                )
            except Exception as exc:
                log.exception("local transaction of %s raised; state UNKNOW", result.msg_id)
                state, local_error = LocalTransactionState.UNKNOW, exc
        else:
            state = LocalTransactionState.ROLLBACK_MESSAGE
        try:
            await self._end_transaction(result, state, local_error)
        except Exception as exc:
            log.warning(
                "END_TRANSACTION (%s) of %s failed: %s; the broker will check back",
                state.name,
                result.msg_id,
                exc,
            )
        fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(SendResult)}
        return TransactionSendResult(
            **fields, local_transaction_state=state, transaction_id=result.msg_id
        )

    async def _end_transaction(
        self,
        result: SendResult,
        state: LocalTransactionState,
        local_error: BaseException | None,
    ) -> None:
        try:
            _, _, commit_log_offset = decode_offset_msg_id(result.offset_msg_id)
        except ValueError as exc:
            raise MQClientError(f"bad offset message id in send result: {exc}") from exc
        broker_name = result.message_queue.broker_name
        addr = self._routes.master_addr(broker_name)
        if addr is None:
            addr = await self._routes.find_master(broker_name, result.message_queue.topic)
        command = RemotingCommand.request(
            RequestCode.END_TRANSACTION,
            {
                "producerGroup": self.group,
                "tranStateTableOffset": str(result.queue_offset),
                "commitLogOffset": str(commit_log_offset),
                "commitOrRollback": str(state.commit_or_rollback),
                "fromTransactionCheck": "false",
                "msgId": result.msg_id,
                "transactionId": result.msg_id,
            },
            oneway=True,
        )
        if local_error is not None:
            command.remark = f"executeLocalTransactionBranch exception: {local_error!r}"
        await self._instance.invoke_oneway(addr, command)

    # Check-back --------------------------------------------------------------------------
    def _on_check_transaction(self, connection: ClientConnection, request: RemotingCommand) -> None:
        """CHECK_TRANSACTION_STATE: answer in the background (the request is one-way)."""
        if self._instance.closed:
            return
        self._instance.spawn(self._check(connection, request), "_check_transaction")

    async def _check(self, connection: ClientConnection, request: RemotingCommand) -> None:
        ext = request.ext_fields
        try:
            msg = decode_record(request.body)
        except RemoteProtocolError as exc:
            log.warning("CHECK_TRANSACTION_STATE with a bad body from %s: %s", connection, exc)
            return
        group = msg.properties.get(MessageConst.PRODUCER_GROUP)
        if group is not None and group != self.group:
            log.warning("asked to check a transaction of group %s, not %s", group, self.group)
            return
        try:
            state = _as_state(
                await _call_listener(self.listener.check_local_transaction, msg),
                "check_local_transaction",
            )
        except Exception:
            log.exception("check_local_transaction of %s raised; state UNKNOW", msg.msg_id)
            state = LocalTransactionState.UNKNOW
        unique = msg.properties.get(MessageConst.UNIQ_KEY) or ext.get("msgId", "")
        header = {
            "producerGroup": self.group,
            "tranStateTableOffset": ext.get("tranStateTableOffset", str(msg.queue_offset)),
            "commitLogOffset": ext.get("commitLogOffset", str(msg.commit_log_offset)),
            "commitOrRollback": str(state.commit_or_rollback),
            "fromTransactionCheck": "true",
            "msgId": unique,
            "transactionId": ext.get("transactionId") or unique,
        }
        log.debug("transaction %s checked: %s", unique, state.name)
        connection.invoke_oneway(RemotingCommand.request(RequestCode.END_TRANSACTION, header))
