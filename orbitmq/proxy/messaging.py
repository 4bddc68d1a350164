"""`apache.rocketmq.v2.MessagingService` over broker sets (RocketMQ's proxy activities).

Every answer carries a `Status` with RocketMQ's Code; the gRPC call stays OK, except
a Telemetry stream that uploads unusable settings (INVALID_ARGUMENT), as RocketMQ's
proxy does. PullMessage, UpdateOffset, GetOffset, QueryOffset and
SyncLiteSubscription are not served (UNIMPLEMENTED, as in RocketMQ's proxy).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from orbitmq.acl.permission import ANY, PUB
from orbitmq.broker.errors import MessageIllegalError
from orbitmq.broker.pop.receipt import InvalidReceiptHandleError, ReceiptHandle
from orbitmq.broker.timer.recall import RecallHandle
from orbitmq.client.heartbeat import CONSUME_ACTIVELY, CONSUME_PASSIVELY, ConsumerData
from orbitmq.client.route import TopicRouteData
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import (
    MessageConst,
    SysFlag,
    create_offset_msg_id,
    decode_offset_msg_id,
    decode_record,
)
from orbitmq.protocol.perm import PERM_READ, PERM_WRITE
from orbitmq.protocol.subscription import parse_subscription
from orbitmq.proxy import convert
from orbitmq.proxy.apis import definition_pb2 as pb
from orbitmq.proxy.apis import service_pb2 as spb
from orbitmq.proxy.apis import service_pb2_grpc as sgrpc
from orbitmq.proxy.auth import GrpcAuthenticator, needs
from orbitmq.proxy.backend import BrokerBackend
from orbitmq.proxy.config import ProxyConfig
from orbitmq.proxy.convert import check_name, duration_ms, now_ms
from orbitmq.proxy.errors import ProxyError
from orbitmq.proxy.renewal import HandleRenewals
from orbitmq.proxy.sessions import ClientSession, SessionTable
from orbitmq.proxy.settings import SettingsError, merged_settings

log = logging.getLogger(__name__)

CLIENT_ID = "x-mq-client-id"
NAMESPACE = "x-mq-namespace"
LANGUAGE = "x-mq-language"
HEARTBEAT_FORWARD_SECONDS = 10.0
# A client silent this long without a Telemetry stream is gone (the broker's
# channelExpiredTimeout).
CLIENT_IDLE_SECONDS = 120.0
MIN_INVISIBLE_MS = 10_000
MAX_INVISIBLE_MS = 12 * 3600 * 1000
_OK = pb.Status(code=pb.OK, message="OK")
_RESOLUTIONS = {
    pb.COMMIT: SysFlag.TRANSACTION_COMMIT,
    pb.ROLLBACK: SysFlag.TRANSACTION_ROLLBACK,
}
Response = TypeVar("Response")


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}


def _client_id(context: grpc.aio.ServicerContext) -> str:
    client_id = _metadata(context).get(CLIENT_ID, "")
    if not client_id:
        raise ProxyError(pb.CLIENT_ID_REQUIRED, f"the {CLIENT_ID} header is missing")
    return client_id


async def _answer(
    response_type: Callable[..., Response], work: Awaitable[Response], what: str
) -> Response:
    """Run an RPC's work; a ProxyError becomes the response's status."""
    try:
        return await work
    except ProxyError as exc:
        log.debug("%s: %s (%d)", what, exc, exc.code)
        return response_type(status=exc.status)
    except Exception as exc:
        log.exception("%s failed", what)
        return response_type(
            status=pb.Status(code=pb.INTERNAL_SERVER_ERROR, message=f"{what} failed: {exc!r}")
        )


def _rpc(
    response_type: Callable[..., Any],
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """An RPC whose ProxyError (or any failure) becomes the answer's status."""

    def wrap(work: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(work)
        async def rpc(self: Any, request: Any, context: Any) -> Any:
            return await _answer(response_type, work(self, request, context), work.__name__)

        return rpc

    return wrap


def _transaction_id(offset_msg_id: str, queue_offset: int) -> str:
    """Everything EndTransaction needs to find the half message, in the opaque id the
    client sends back: its broker, commit-log offset and queue offset."""
    return f"{offset_msg_id}-{queue_offset}"


def _parse_transaction_id(transaction_id: str) -> tuple[str, int, int]:
    """(broker address, commit-log offset, queue offset).

    Raises:
        ProxyError: INVALID_TRANSACTION_ID.
    """
    offset_msg_id, _, queue_offset = transaction_id.partition("-")
    try:
        ip, port, commit_log_offset = decode_offset_msg_id(offset_msg_id)
        return f"{ip}:{port}", commit_log_offset, int(queue_offset)
    except ValueError:
        raise ProxyError(
            pb.INVALID_TRANSACTION_ID, f"transaction id {transaction_id!r} is not one of ours"
        ) from None


class MessagingService(sgrpc.MessagingServiceServicer):
    def __init__(
        self, config: ProxyConfig, backend: BrokerBackend, auth: GrpcAuthenticator | None = None
    ) -> None:
        self.config = config
        self.backend = backend
        self.auth = auth  # None: ACL off
        self.sessions = SessionTable()
        self._round_robin = itertools.count()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.renewals = HandleRenewals(backend.change_invisible)
        backend.on_check_transaction = self._check_transaction

    def _authorize(self, context: Any, needed: dict[str, int] | None = None) -> None:
        """Check the call's credentials (ACL on) and the permissions it needs.

        Raises:
            ProxyError: UNAUTHORIZED or FORBIDDEN.
        """
        if self.auth is not None:
            self.auth.check(_metadata(context), context.peer(), needed or {})

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ routes

    @_rpc(spb.QueryRouteResponse)
    async def QueryRoute(
        self, request: spb.QueryRouteRequest, context: Any
    ) -> spb.QueryRouteResponse:
        _client_id(context)
        topic = check_name(request.topic.name, "topic", pb.ILLEGAL_TOPIC)
        self._authorize(context, needs(topic, perm=ANY))
        if not request.endpoints.addresses:
            raise ProxyError(pb.ILLEGAL_ACCESS_POINT, "endpoints of the request are empty")
        route = await self._route(topic)
        queues = []
        masters = {b.broker_name: b.master_addr for b in route.broker_datas if b.master_addr}
        for data in sorted(route.queue_datas, key=lambda q: q.broker_name):
            addr = masters.get(data.broker_name)
            if addr is None:
                continue
            types = await self.backend.topic_message_types(topic, addr)
            broker = pb.Broker(name=data.broker_name, id=0, endpoints=request.endpoints)
            for queue_id, permission in _queue_permissions(
                data.read_queue_nums, data.write_queue_nums, data.perm
            ):
                queues.append(
                    pb.MessageQueue(
                        topic=request.topic,
                        id=queue_id,
                        permission=permission,  # type: ignore[arg-type]
                        broker=broker,
                        accept_message_types=types,  # type: ignore[arg-type]
                    )
                )
        return spb.QueryRouteResponse(status=_OK, message_queues=queues)

    async def _route(self, topic: str, max_age: float = 0.0) -> TopicRouteData:
        route = await self.backend.route(topic, max_age)
        if route is None or not route.queue_datas:
            raise ProxyError(
                pb.TOPIC_NOT_FOUND,
                f"topic {topic} is not found; create it with mqadmin updateTopic",
            )
        return route

    @_rpc(spb.QueryAssignmentResponse)
    async def QueryAssignment(
        self, request: spb.QueryAssignmentRequest, context: Any
    ) -> spb.QueryAssignmentResponse:
        """Every consumer of a group gets the same list: POP shares the queues. A FIFO
        group gets a queue each, so each is polled by its own loop (ordered)."""
        _client_id(context)
        topic = check_name(request.topic.name, "topic", pb.ILLEGAL_TOPIC)
        group = check_name(request.group.name, "consumer group", pb.ILLEGAL_CONSUMER_GROUP)
        self._authorize(context, needs(topic, group))
        route = await self._route(topic, 5.0)
        masters = {b.broker_name: b.master_addr for b in route.broker_datas if b.master_addr}
        assignments = []
        for data in sorted(route.queue_datas, key=lambda q: q.broker_name):
            addr = masters.get(data.broker_name)
            if addr is None or not data.perm & PERM_READ or data.read_queue_nums <= 0:
                continue
            broker = pb.Broker(name=data.broker_name, id=0, endpoints=request.endpoints)
            fifo = (await self.backend.group_settings(group, addr)).fifo
            ids = range(data.read_queue_nums) if fifo else (-1,)
            for queue_id in ids:
                queue = pb.MessageQueue(
                    topic=request.topic, id=queue_id, permission=pb.READ_WRITE, broker=broker
                )
                assignments.append(pb.Assignment(message_queue=queue))
        if not assignments:
            raise ProxyError(pb.FORBIDDEN, f"topic {topic} has no readable queue")
        return spb.QueryAssignmentResponse(status=_OK, assignments=assignments)

    # ------------------------------------------------------------------ clients

    @_rpc(spb.HeartbeatResponse)
    async def Heartbeat(self, request: spb.HeartbeatRequest, context: Any) -> spb.HeartbeatResponse:
        session = self.sessions.get_or_create(_client_id(context))
        self._authorize(context)
        if session.client_type == pb.CLIENT_TYPE_UNSPECIFIED:
            session.client_type = request.client_type
        if request.HasField("group") and request.group.name:
            session.group = request.group.name
        if session.heartbeat_due(HEARTBEAT_FORWARD_SECONDS):
            self._spawn(self._register(session), f"register {session.client_id}")
        for gone in self.sessions.prune(CLIENT_IDLE_SECONDS):
            self.renewals.forget_client(gone.client_id)
        return spb.HeartbeatResponse(status=_OK)

    async def _register(self, session: ClientSession) -> None:
        """A 4.x heartbeat for the client to the masters of its topics: mqadmin
        consumerConnection / producerConnection and the console list it."""
        topics = set(session.topics) | set(session.subscriptions)
        addrs = await self.backend.master_addrs(topics)
        if not addrs:
            return
        producers = sorted(session.topics) if session.client_type == pb.PRODUCER else []
        consumers = []
        if session.is_consumer and session.group:
            subscriptions = []
            for topic, expression in session.subscriptions.items():
                kind = "SQL92" if expression.type == pb.SQL else "TAG"
                try:
                    subscriptions.append(
                        parse_subscription(topic, expression.expression or "*", None, kind)
                    )
                except ValueError as exc:
                    log.warning(
                        "client %s subscribes %s with %s: %s",
                        session.client_id,
                        topic,
                        expression.expression,
                        exc,
                    )
            consume_type = (
                CONSUME_PASSIVELY if session.client_type == pb.PUSH_CONSUMER else CONSUME_ACTIVELY
            )
            consumers.append(ConsumerData(session.group, consume_type, subscriptions=subscriptions))
        await self.backend.heartbeat(addrs, session.client_id, producers, consumers)

    @_rpc(spb.NotifyClientTerminationResponse)
    async def NotifyClientTermination(
        self, request: spb.NotifyClientTerminationRequest, context: Any
    ) -> spb.NotifyClientTerminationResponse:
        client_id = _client_id(context)
        self._authorize(context)
        session = self.sessions.remove(client_id)
        if session is not None:
            log.info(
                "5.x %s %s (group %s) terminated",
                pb.ClientType.Name(session.client_type), session.client_id, session.group,
            )  # fmt: skip
            self.renewals.forget_client(session.client_id)
            topics = set(session.topics) | set(session.subscriptions)
            addrs = await self.backend.master_addrs(topics)
            producers = sorted(session.topics) if session.client_type == pb.PRODUCER else []
            group = request.group.name if request.HasField("group") else session.group
            await self.backend.unregister(addrs, session.client_id, producers, group)
            if session.outbox is not None:
                session.outbox.put_nowait(None)
        return spb.NotifyClientTerminationResponse(status=_OK)

    async def Telemetry(
        self, request_iterator: AsyncIterator[spb.TelemetryCommand], context: Any
    ) -> AsyncIterator[spb.TelemetryCommand]:
        try:
            client_id = _client_id(context)
        except ProxyError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            return
        try:
            self._authorize(context)
        except ProxyError as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            return
        metadata = _metadata(context)
        session = self.sessions.get_or_create(client_id)
        session.namespace = metadata.get(NAMESPACE, "")
        session.language = metadata.get(LANGUAGE, "")
        outbox: asyncio.Queue[spb.TelemetryCommand | None] = asyncio.Queue()
        session.outbox = outbox
        reader = asyncio.ensure_future(self._read_telemetry(session, request_iterator, outbox))
        try:
            while (command := await outbox.get()) is not None:
                if command.HasField("status") and command.status.code == pb.BAD_REQUEST:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, command.status.message)
                    return
                yield command
        finally:
            reader.cancel()
            if session.outbox is outbox:
                session.outbox = None
                # Gone: its messages come back when their invisible time passes.
                self.renewals.forget_client(client_id)

    async def _read_telemetry(
        self,
        session: ClientSession,
        commands: AsyncIterator[spb.TelemetryCommand],
        outbox: asyncio.Queue[spb.TelemetryCommand | None],
    ) -> None:
        try:
            async for command in commands:
                if command.HasField("settings"):
                    outbox.put_nowait(await self._settings_answer(session, command.settings))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("Telemetry of %s ended: %r", session.client_id, exc)
        finally:
            outbox.put_nowait(None)

    async def _settings_answer(
        self, session: ClientSession, uploaded: pb.Settings
    ) -> spb.TelemetryCommand:
        session.client_type = uploaded.client_type
        fifo, max_attempts = False, 17
        if uploaded.HasField("publishing"):
            session.topics = {t.name for t in uploaded.publishing.topics}
        if uploaded.HasField("subscription"):
            subscription = uploaded.subscription
            session.group = subscription.group.name
            session.subscriptions = {e.topic.name: e.expression for e in subscription.subscriptions}
            try:
                addrs = sorted(await self.backend.master_addrs(set(session.subscriptions)))
                if addrs:
                    group = await self.backend.group_settings(session.group, addrs[0])
                    fifo, max_attempts = group.fifo, group.max_attempts
            except ProxyError as exc:
                log.warning("settings of group %s: %s", session.group, exc)
        try:
            settings = merged_settings(
                uploaded,
                max_body_size=self.config.max_message_size,
                fifo=fifo,
                max_attempts=max_attempts,
            )
        except SettingsError as exc:
            return spb.TelemetryCommand(status=pb.Status(code=pb.BAD_REQUEST, message=str(exc)))
        session.settings = settings
        session.last_heartbeat = 0.0
        if session.heartbeat_due(HEARTBEAT_FORWARD_SECONDS):
            self._spawn(self._register(session), f"register {session.client_id}")
        return spb.TelemetryCommand(status=_OK, settings=settings)

    # ------------------------------------------------------------------ producing

    @_rpc(spb.SendMessageResponse)
    async def SendMessage(
        self, request: spb.SendMessageRequest, context: Any
    ) -> spb.SendMessageResponse:
        _client_id(context)
        if not request.messages:
            raise ProxyError(pb.BAD_REQUEST, "the request holds no message")
        topic = check_name(request.messages[0].topic.name, "topic", pb.ILLEGAL_TOPIC)
        self._authorize(context, needs(topic, perm=PUB))
        if any(m.topic.name != topic for m in request.messages):
            raise ProxyError(pb.MESSAGE_CORRUPTED, "messages of one request must share a topic")
        route = await self._route(topic, 5.0)
        queues = route.publish_queues(topic)
        if not queues:
            raise ProxyError(pb.FORBIDDEN, f"topic {topic} has no writable queue")
        entries = []
        for message in request.messages:
            try:
                entries.append(await self._send_one(topic, queues, message))
            except ProxyError as exc:
                if len(request.messages) == 1:
                    raise
                entries.append(
                    spb.SendResultEntry(
                        status=exc.status, message_id=message.system_properties.message_id
                    )
                )
        codes = {e.status.code for e in entries}
        status = (
            entries[0].status
            if len(codes) == 1
            else pb.Status(code=pb.MULTIPLE_RESULTS, message="results differ")
        )
        return spb.SendMessageResponse(status=status, entries=entries)

    async def _send_one(
        self, topic: str, queues: list[Any], message: pb.Message
    ) -> spb.SendResultEntry:
        config = self.config
        body, properties, sys_flag = convert.to_send_fields(
            message, config.max_message_size, config.max_delay_time_mills
        )
        kind = convert.message_type_of(message)
        if kind == pb.FIFO:
            queue = queues[
                convert.queue_for_group(message.system_properties.message_group, len(queues))
            ]
        else:
            queue = queues[next(self._round_robin) % len(queues)]
        addr = await self.backend.master_addr(topic, queue.broker_name)
        accepted = await self.backend.topic_message_types(topic, addr)
        if kind not in accepted:
            raise ProxyError(
                pb.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE,
                f"topic {topic} takes {_type_names(accepted)} messages, not "
                f"{pb.MessageType.Name(kind)} (set its type with mqadmin updateTopic -a "
                "+message.type=...)",
            )
        if kind == pb.TRANSACTION:
            properties[MessageConst.PRODUCER_GROUP] = topic
        outcome = await self.backend.send(
            addr, topic, queue.queue_id, body, properties, sys_flag, topic
        )
        message_id = message.system_properties.message_id
        transaction_id = (
            _transaction_id(outcome.offset_msg_id, outcome.queue_offset)
            if kind == pb.TRANSACTION
            else ""
        )
        recall_handle = ""
        if convert.TIMER_DELIVER_MS in properties:
            recall_handle = RecallHandle(
                topic, queue.broker_name, int(properties[convert.TIMER_DELIVER_MS]), message_id
            ).encode()
        return spb.SendResultEntry(
            status=_OK,
            message_id=message_id,
            transaction_id=transaction_id,
            offset=outcome.queue_offset,
            recall_handle=recall_handle,
        )

    @_rpc(spb.EndTransactionResponse)
    async def EndTransaction(
        self, request: spb.EndTransactionRequest, context: Any
    ) -> spb.EndTransactionResponse:
        _client_id(context)
        topic = check_name(request.topic.name, "topic", pb.ILLEGAL_TOPIC)
        self._authorize(context, needs(topic, perm=PUB))
        if not request.transaction_id.strip():
            raise ProxyError(pb.INVALID_TRANSACTION_ID, "transaction id is blank")
        addr, commit_log_offset, queue_offset = _parse_transaction_id(request.transaction_id)
        resolution = _RESOLUTIONS.get(request.resolution)
        if resolution is None:  # UNSPECIFIED: left to the broker's check-back
            return spb.EndTransactionResponse(status=_OK)
        header = {
            "producerGroup": topic,
            "tranStateTableOffset": str(queue_offset),
            "commitLogOffset": str(commit_log_offset),
            "commitOrRollback": str(resolution),
            "fromTransactionCheck": "true" if request.source == pb.SOURCE_SERVER_CHECK else "false",
            "msgId": request.message_id,
            "transactionId": request.message_id,
        }
        await self.backend.end_transaction(addr, header)
        return spb.EndTransactionResponse(status=_OK)

    def _check_transaction(self, broker_addr: str, request: RemotingCommand) -> None:
        """A broker asks about a half message: ask a producer of its topic, over its
        Telemetry stream (RocketMQ's proxy uses the topic as the producer group)."""
        try:
            half = decode_record(request.body)
        except Exception as exc:
            log.warning("CHECK_TRANSACTION_STATE from %s with a bad body: %s", broker_addr, exc)
            return
        producers = self.sessions.producers_of(half.topic)
        if not producers:
            log.info(
                "no 5.x producer of %s is connected to check transaction %s",
                half.topic,
                half.msg_id,
            )
            return
        ext = request.ext_fields
        offset_msg_id = ext.get("offsetMsgId") or create_offset_msg_id(
            _host_port(broker_addr), int(ext.get("commitLogOffset", half.commit_log_offset))
        )
        transaction_id = _transaction_id(
            offset_msg_id, int(ext.get("tranStateTableOffset", half.queue_offset))
        )
        producer = producers[next(self._round_robin) % len(producers)]
        message = convert.to_grpc_message(half, producer.namespace)
        producer.push(
            spb.TelemetryCommand(
                recover_orphaned_transaction_command=spb.RecoverOrphanedTransactionCommand(
                    message=message, transaction_id=transaction_id
                )
            )
        )

    @_rpc(spb.RecallMessageResponse)
    async def RecallMessage(
        self, request: spb.RecallMessageRequest, context: Any
    ) -> spb.RecallMessageResponse:
        _client_id(context)
        topic = check_name(request.topic.name, "topic", pb.ILLEGAL_TOPIC)
        self._authorize(context, needs(topic, perm=PUB))
        try:
            handle = RecallHandle.decode(request.recall_handle)
        except MessageIllegalError as exc:
            raise ProxyError(pb.BAD_REQUEST, str(exc)) from exc
        addr = await self.backend.master_addr(topic, handle.broker_name)
        message_id = await self.backend.recall(addr, topic, request.recall_handle)
        return spb.RecallMessageResponse(status=_OK, message_id=message_id)

    # ------------------------------------------------------------------ consuming

    async def ReceiveMessage(
        self, request: spb.ReceiveMessageRequest, context: Any
    ) -> AsyncIterator[spb.ReceiveMessageResponse]:
        try:
            client_id = _client_id(context)
            messages, invisible_ms, namespace, addr = await self._receive(request, context)
        except ProxyError as exc:
            yield spb.ReceiveMessageResponse(status=exc.status)
            return
        except Exception as exc:
            log.exception("ReceiveMessage failed")
            yield spb.ReceiveMessageResponse(
                status=pb.Status(code=pb.INTERNAL_SERVER_ERROR, message=f"receive failed: {exc!r}")
            )
            return
        if not messages:
            yield spb.ReceiveMessageResponse(
                status=pb.Status(code=pb.MESSAGE_NOT_FOUND, message="no new message")
            )
            return
        yield spb.ReceiveMessageResponse(status=_OK)
        for message in messages:
            handle = f"{message.properties.pop(convert.POP_CK, '')} {message.commit_log_offset}"
            if request.auto_renew:
                self.renewals.track(
                    client_id,
                    addr,
                    request.group.name,
                    request.message_queue.topic.name,
                    ReceiptHandle.decode(handle),
                )
            yield spb.ReceiveMessageResponse(
                message=convert.to_grpc_message(
                    message, namespace, receipt_handle=handle, invisible_ms=invisible_ms
                )
            )
        yield spb.ReceiveMessageResponse(delivery_timestamp=convert.timestamp(now_ms()))

    async def _receive(
        self, request: spb.ReceiveMessageRequest, context: Any
    ) -> tuple[list[Any], int, str, str]:
        _client_id(context)
        config = self.config
        group = check_name(request.group.name, "consumer group", pb.ILLEGAL_CONSUMER_GROUP)
        topic = check_name(request.message_queue.topic.name, "topic", pb.ILLEGAL_TOPIC)
        self._authorize(context, needs(topic, group))
        if request.auto_renew or not request.HasField("invisible_duration"):
            invisible_ms = config.default_invisible_time_mills
        else:
            invisible_ms = duration_ms(request.invisible_duration)
            if not MIN_INVISIBLE_MS <= invisible_ms <= MAX_INVISIBLE_MS:
                raise ProxyError(
                    pb.ILLEGAL_INVISIBLE_TIME,
                    f"invisible duration {invisible_ms} ms is not between "
                    f"{MIN_INVISIBLE_MS} ms and 12 h",
                )
        remaining_ms = context.time_remaining()
        remaining_ms = 3_600_000 if remaining_ms is None else int(remaining_ms * 1000)
        reserve = config.long_polling_reserve_time_mills
        if request.HasField("long_polling_timeout"):
            poll_ms = duration_ms(request.long_polling_timeout)
        else:
            poll_ms = remaining_ms - reserve
        poll_ms = max(
            config.min_long_polling_time_mills, min(poll_ms, config.max_long_polling_time_mills)
        )
        if remaining_ms - reserve < config.min_long_polling_time_mills:
            raise ProxyError(
                pb.ILLEGAL_POLLING_TIME,
                f"the call's deadline leaves {remaining_ms} ms; a receive needs at least "
                f"{config.min_long_polling_time_mills + reserve} ms",
            )
        poll_ms = min(poll_ms, remaining_ms - reserve)
        expression = request.filter_expression
        expression_type = "SQL92" if expression.type == pb.SQL else "TAG"
        text = expression.expression or "*"
        try:
            parse_subscription(topic, text, 0, expression_type)
        except ValueError as exc:
            raise ProxyError(pb.ILLEGAL_FILTER_EXPRESSION, f"filter {text!r}: {exc}") from exc
        batch = max(1, min(request.batch_size or 32, 32))
        addr = await self.backend.master_addr(topic, request.message_queue.broker.name)
        fifo = (await self.backend.group_settings(group, addr)).fifo
        messages = await self.backend.pop(
            addr, group, topic, batch, invisible_ms, poll_ms, expression_type, text, fifo,
            request.attempt_id if request.HasField("attempt_id") else "",
        )  # fmt: skip
        return messages, invisible_ms, request.message_queue.topic.resource_namespace, addr

    def _handle(self, text: str) -> ReceiptHandle:
        """The handle to use for `text`: the latest renewal of an auto-renewed one."""
        try:
            handle = ReceiptHandle.decode(self.renewals.take(text))
        except InvalidReceiptHandleError as exc:
            raise ProxyError(pb.INVALID_RECEIPT_HANDLE, str(exc)) from exc
        if handle.expired(now_ms()):
            raise ProxyError(pb.INVALID_RECEIPT_HANDLE, "receipt handle is expired")
        return handle

    @_rpc(spb.AckMessageResponse)
    async def AckMessage(
        self, request: spb.AckMessageRequest, context: Any
    ) -> spb.AckMessageResponse:
        _client_id(context)
        group = check_name(request.group.name, "consumer group", pb.ILLEGAL_CONSUMER_GROUP)
        topic = check_name(request.topic.name, "topic", pb.ILLEGAL_TOPIC)
        self._authorize(context, needs(topic, group))
        if not request.entries:
            raise ProxyError(pb.BAD_REQUEST, "the request holds no entry")
        results = []
        for entry in request.entries:
            try:
                handle = self._handle(entry.receipt_handle)
                addr = await self.backend.master_addr(topic, handle.broker_name)
                await self.backend.ack(addr, group, topic, handle)
                status = _OK
            except ProxyError as exc:
                status = exc.status
            results.append(
                spb.AckMessageResultEntry(
                    message_id=entry.message_id, receipt_handle=entry.receipt_handle, status=status
                )
            )
        codes = {r.status.code for r in results}
        status = (
            results[0].status
            if len(codes) == 1
            else pb.Status(code=pb.MULTIPLE_RESULTS, message="results differ")
        )
        return spb.AckMessageResponse(status=status, entries=results)

    @_rpc(spb.ChangeInvisibleDurationResponse)
    async def ChangeInvisibleDuration(
        self, request: spb.ChangeInvisibleDurationRequest, context: Any
    ) -> spb.ChangeInvisibleDurationResponse:
        _client_id(context)
        group = check_name(request.group.name, "consumer group", pb.ILLEGAL_CONSUMER_GROUP)
        topic = check_name(request.topic.name, "topic", pb.ILLEGAL_TOPIC)
        self._authorize(context, needs(topic, group))
        invisible_ms = duration_ms(request.invisible_duration)
        if not 0 <= invisible_ms <= MAX_INVISIBLE_MS:
            raise ProxyError(
                pb.ILLEGAL_INVISIBLE_TIME, f"invisible duration {invisible_ms} ms is over 12 h"
            )
        handle = self._handle(request.receipt_handle)
        addr = await self.backend.master_addr(topic, handle.broker_name)
        renewed = await self.backend.change_invisible(addr, group, topic, handle, invisible_ms)
        return spb.ChangeInvisibleDurationResponse(status=_OK, receipt_handle=renewed.encode())

    @_rpc(spb.ForwardMessageToDeadLetterQueueResponse)
    async def ForwardMessageToDeadLetterQueue(
        self, request: spb.ForwardMessageToDeadLetterQueueRequest, context: Any
    ) -> spb.ForwardMessageToDeadLetterQueueResponse:
        _client_id(context)
        group = check_name(request.group.name, "consumer group", pb.ILLEGAL_CONSUMER_GROUP)
        topic = check_name(request.topic.name, "topic", pb.ILLEGAL_TOPIC)
        self._authorize(context, needs(topic, group))
        handle = self._handle(request.receipt_handle)
        if handle.commit_log_offset < 0:
            raise ProxyError(pb.INVALID_RECEIPT_HANDLE, "receipt handle has no commit-log offset")
        addr = await self.backend.master_addr(topic, handle.broker_name)
        await self.backend.send_to_dlq(
            addr,
            group,
            handle,
            topic,
            request.message_id,
            max(0, request.max_delivery_attempts - 1),
        )
        await self.backend.ack(addr, group, topic, handle)
        return spb.ForwardMessageToDeadLetterQueueResponse(status=_OK)

    async def aclose(self) -> None:
        self.sessions.close_streams()
        await self.renewals.aclose()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _queue_permissions(read: int, write: int, perm: int) -> list[tuple[int, int]]:
    """4.x queue counts as 5.x queues (RouteActivity.genMessageQueueFromQueueData): ids
    from 0, read-only ones first, then write-only, then read-write."""
    readable, writable = bool(perm & PERM_READ), bool(perm & PERM_WRITE)
    both = min(read, write)
    kinds = [pb.READ] * (read - both) + [pb.WRITE] * (write - both) + [pb.READ_WRITE] * both
    out = []
    for queue_id, kind in enumerate(kinds or [pb.NONE]):
        if kind == pb.READ_WRITE:
            kind = (
                pb.READ_WRITE
                if readable and writable
                else pb.READ
                if readable
                else pb.WRITE
                if writable
                else pb.NONE
            )
        elif (kind == pb.READ and not readable) or (kind == pb.WRITE and not writable):
            kind = pb.NONE
        out.append((queue_id, kind))
    return out


def _type_names(types: tuple[int, ...]) -> str:
    return "/".join(pb.MessageType.Name(t) for t in types)


def _host_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)
