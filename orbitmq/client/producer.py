"""Producer: sends messages to the masters of a topic's broker sets (DefaultMQProducer).

Theory of operation: the first send to a topic fetches its route (or TBW102's); then
each send picks the next write queue round robin, builds one SEND_MESSAGE_V2 frame (from
the queue's SendFrameTemplate: only the varying header fields are encoded per send) and
awaits its answer on the broker's shared connection, so any number of sends are in
flight at once with no lock. A failed attempt (network error or a retriable code:
1, 14, 16, 17, 204, 205) is retried, up to `retry_times_when_send_failed` more times,
on a queue of another broker set, within one overall `send_timeout` budget.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from orbitmq.acl.signature import SessionCredentials
from orbitmq.client.errors import MQBrokerError, MQClientError, RequestTimeoutError
from orbitmq.client.heartbeat import heartbeat_body
from orbitmq.client.instance import ClientInstance
from orbitmq.client.message import Message, MessageQueue, SendResult, create_uniq_id
from orbitmq.client.route import TopicPublishInfo
from orbitmq.client.send_codec import (
    BATCH_PROPERTIES,
    SendFrameTemplate,
    check_batch,
    check_message,
    encode_batch_body,
    encode_single,
    parse_send_header,
    parse_send_response,
    send_ext,
)
from orbitmq.client.trace import TraceDispatcher
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import java_hash
from orbitmq.remoting.connection import next_opaque
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.errors import RemotingError
from orbitmq.remoting.tls import TlsConfig

log = logging.getLogger(__name__)

_SEND_MESSAGE_V2 = int(RequestCode.SEND_MESSAGE_V2)
MAX_CACHED_TEMPLATES = 4096  # send frame templates kept, one per queue written

SendCallback = Callable[[SendResult | None, BaseException | None], None]
QueueSelector = Callable[[list[MessageQueue], Message, Any], MessageQueue]


def select_by_hash(queues: list[MessageQueue], msg: Message, arg: Any) -> MessageQueue:
    """Queue selector for `send_orderly`: the same `arg` always maps to the same queue."""
    key = arg if isinstance(arg, int) else java_hash(str(arg))
    return queues[abs(key) % len(queues)]


class Producer:
    """An asyncio producer.

    Args:
        group: producer group name.
        namesrv_addr: NameServer addresses separated by ';'.
        send_timeout: total seconds a send may take, retries included.
        retry_times_when_send_failed: extra attempts for a synchronous send.
        compress_over: bodies of at least this many bytes are zlib-compressed.
        max_message_size: largest body (or batch of bodies) accepted, in bytes.
        instance_name: replaces `<pid>#<ns>` in the client id.
        enable_trace: record every sent message (a Pub record) in the trace topic.
        trace_topic: the trace topic (default RMQ_SYS_TRACE_TOPIC).
        credentials: an ACL account's keys; every request is signed with them.
        tls: dial with TLS: True (any server certificate), or a TlsConfig's `tls.client.*`.
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str,
        *,
        send_timeout: float = 3.0,
        retry_times_when_send_failed: int = 2,
        compress_over: int = 4096,
        max_message_size: int = 4 * 1024 * 1024,
        instance_name: str | None = None,
        enable_trace: bool = False,
        trace_topic: str | None = None,
        credentials: SessionCredentials | None = None,
        tls: bool | TlsConfig = False,
    ) -> None:
        self.group = group
        self.send_timeout = send_timeout
        self.retry_times_when_send_failed = retry_times_when_send_failed
        self.compress_over = compress_over
        self.max_message_size = max_message_size
        self._instance = ClientInstance(
            namesrv_addr,
            instance_name=instance_name,
            dispatcher=self._request_dispatcher(),
            credentials=credentials,
            tls=tls,
        )
        # Signed requests are built as commands; the prebuilt frames have no Signature.
        self._signed = credentials is not None
        self._routes = self._instance.routes
        self._templates: dict[MessageQueue, SendFrameTemplate] = {}
        self._async_sends: set[asyncio.Task[SendResult]] = set()
        self._route_refreshes: set[asyncio.Task[None]] = set()
        self._started = False
        # enable_trace: a Pub record per sent message in the trace topic (client/trace.py)
        self._trace = (
            TraceDispatcher(namesrv_addr, group, trace_topic, credentials=credentials, tls=tls)
            if enable_trace
            else None
        )

    @property
    def client_id(self) -> str:
        return self._instance.client_id

    async def start(self) -> None:
        """Start route refresh and heartbeats. No network I/O happens until the first send."""
        if self._started:
            return
        self._instance.heartbeat_body = lambda: heartbeat_body(self.client_id, [self.group])
        self._instance.heartbeat_masters_only = True
        self._instance.start_services()
        if self._trace is not None:
            await self._trace.start()
        self._started = True

    def _refresh_route_soon(self, topic: str) -> None:
        """A send failed: its broker set may have a new master (a DLedger failover), so
        learn the route now rather than at the next 30 s refresh (at most once a second).
        In the background: a NameServer that cannot be reached must not make sends late."""
        task = asyncio.get_running_loop().create_task(self._routes.refresh_after_failure(topic))
        self._route_refreshes.add(task)
        task.add_done_callback(self._route_refreshes.discard)

    async def shutdown(self) -> None:
        """Wait briefly for async sends, UNREGISTER_CLIENT from the brokers, close."""
        if not self._started or self._instance.closed:
            return
        for task in list(self._route_refreshes):
            task.cancel()
        await asyncio.gather(*self._route_refreshes, return_exceptions=True)
        if self._async_sends:
            await asyncio.wait(list(self._async_sends), timeout=self.send_timeout + 1)
        if self._trace is not None:
            await self._trace.aclose()
        await self._instance.unregister(producer_group=self.group)
        await self._instance.aclose()

    async def __aenter__(self) -> Producer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    # Sends -------------------------------------------------------------------------------
    async def send(self, msg: Message, timeout: float | None = None) -> SendResult:
        """Send one message, retrying on another broker set on failure.

        Returns:
            The SendResult (status SEND_OK unless flush/replication lagged).

        Raises:
            IllegalMessageError: rejected locally. MQBrokerError: the broker refused it.
            RemotingError: the network failed on every attempt. NoRouteError: no route.
        """
        check_message(msg, self.max_message_size)
        uniq = create_uniq_id()
        body, sys_flag, props = encode_single(msg, uniq, self.compress_over)
        if self._trace is None:
            return await self._send_retrying(
                msg.topic, _SEND_MESSAGE_V2, body, sys_flag, msg.flag, props, uniq, timeout
            )
        started = time.monotonic()
        result = await self._send_retrying(
            msg.topic, _SEND_MESSAGE_V2, body, sys_flag, msg.flag, props, uniq, timeout
        )
        self._trace.on_send(self.group, msg, result, started)
        return result

    async def send_batch(self, msgs: list[Message], timeout: float | None = None) -> SendResult:
        """Send messages of one topic as one SEND_BATCH_MESSAGE (same queue, consecutive offsets).

        Returns:
            One SendResult; `msg_id` is the comma-joined UNIQ_KEYs.
        """
        check_batch(msgs, self.max_message_size)
        keys = [create_uniq_id() for _ in msgs]
        body = encode_batch_body(msgs, keys)
        return await self._send_retrying(
            msgs[0].topic,
            RequestCode.SEND_BATCH_MESSAGE,
            body,
            0,
            0,
            BATCH_PROPERTIES,
            ",".join(keys),
            timeout,
        )

    async def send_oneway(self, msg: Message) -> None:
        """Send without waiting for an answer (one attempt, no result)."""
        check_message(msg, self.max_message_size)
        info = await self._publish_info(msg.topic)
        mq = info.select_queue()
        addr = await self._routes.find_master(mq.broker_name, msg.topic)
        command, _ = self._single_command(mq, msg)
        await self._instance.invoke_oneway(addr, command)

    def send_async(
        self, msg: Message, callback: SendCallback | None = None, timeout: float | None = None
    ) -> asyncio.Task[SendResult]:
        """Start a send in the background; must be called from the producer's event loop.

        Args:
            callback: called as `callback(result, None)` or `callback(None, exc)` when done.

        Returns:
            A task (a Future) resolving to the SendResult.
        """
        task = asyncio.get_running_loop().create_task(self.send(msg, timeout))
        self._async_sends.add(task)
        task.add_done_callback(lambda t: self._async_done(t, callback))
        return task

    def _async_done(self, task: asyncio.Task[SendResult], callback: SendCallback | None) -> None:
        self._async_sends.discard(task)
        if callback is None:
            return
        if task.cancelled():
            callback(None, asyncio.CancelledError())
            return
        exc = task.exception()
        try:
            callback(task.result() if exc is None else None, exc)
        except Exception:
            log.exception("send callback raised")

    async def send_to_queue(
        self, msg: Message, mq: MessageQueue, timeout: float | None = None
    ) -> SendResult:
        """Send to one given queue (a single attempt)."""
        check_message(msg, self.max_message_size)
        self._check_started()
        if msg.topic != mq.topic:
            raise MQClientError(f"message topic {msg.topic!r} differs from queue {mq}")
        addr = await self._routes.find_master(mq.broker_name, mq.topic)
        command, uniq = self._single_command(mq, msg)
        started = time.monotonic()
        response = await self._instance.invoke(addr, command, timeout or self.send_timeout)
        result = parse_send_response(response, mq, uniq)
        if self._trace is not None:
            self._trace.on_send(self.group, msg, result, started)
        return result

    async def send_orderly(
        self, msg: Message, selector: QueueSelector, arg: Any, timeout: float | None = None
    ) -> SendResult:
        """Send to the queue `selector(queues, msg, arg)` picks (e.g. `select_by_hash`)."""
        info = await self._publish_info(msg.topic)
        mq = selector(list(info.queues), msg, arg)
        return await self.send_to_queue(msg, mq, timeout)

    async def fetch_publish_queues(self, topic: str) -> list[MessageQueue]:
        """The write queues of `topic` a send may choose from."""
        return list((await self._publish_info(topic)).queues)

    # Internals ---------------------------------------------------------------------------
    def _request_dispatcher(self) -> RequestDispatcher | None:
        """Handlers for requests brokers push to this producer; none for a plain one
        (TransactionProducer answers CHECK_TRANSACTION_STATE)."""
        return None

    def _check_started(self) -> None:
        if not self._started or self._instance.closed:
            raise MQClientError(f"producer {self.group} is not running; call start()")

    async def _publish_info(self, topic: str) -> TopicPublishInfo:
        self._check_started()
        return await self._routes.publish_info(topic)

    def _template(self, mq: MessageQueue) -> SendFrameTemplate:
        template = self._templates.get(mq)
        if template is None:
            if len(self._templates) >= MAX_CACHED_TEMPLATES:
                self._templates.clear()
            template = self._templates[mq] = SendFrameTemplate(self.group, mq)
        return template

    def _single_command(self, mq: MessageQueue, msg: Message) -> tuple[RemotingCommand, str]:
        uniq = create_uniq_id()
        body, sys_flag, props = encode_single(msg, uniq, self.compress_over)
        ext = send_ext(self.group, mq, sys_flag, msg.flag, props)
        return RemotingCommand(code=RequestCode.SEND_MESSAGE_V2, ext_fields=ext, body=body), uniq

    async def _send_retrying(
        self,
        topic: str,
        code: int,
        body: bytes,
        sys_flag: int,
        flag: int,
        props: str,
        msg_id: str,
        timeout: float | None,
    ) -> SendResult:
        self._check_started()
        # The route is known after the first send to a topic: no await to look it up.
        info = self._routes.cached_publish_info(topic) or await self._routes.publish_info(topic)
        deadline = time.monotonic() + (timeout or self.send_timeout)
        batch = code == RequestCode.SEND_BATCH_MESSAGE
        props_json = orjson.dumps(props)
        avoid: str | None = None
        last_error: Exception | None = None
        for _ in range(1 + self.retry_times_when_send_failed):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            mq = info.select_queue(avoid)
            try:
                addr = self._routes.master_addr(mq.broker_name)
                if addr is None:
                    addr = await self._routes.find_master(mq.broker_name, topic)
                transport = self._instance.transport
                connection = transport.ready_connection(addr) or await transport.get_connection(
                    addr
                )
                if self._signed:
                    ext = send_ext(self.group, mq, sys_flag, flag, props, batch=batch)
                    command = RemotingCommand(code=code, ext_fields=ext, body=body)
                    response = await connection.invoke(command, remaining)
                else:
                    opaque = next_opaque()
                    frame = self._template(mq).frame(
                        code, opaque, sys_flag, flag, props_json, body, batch=batch
                    )
                    response = await connection.invoke_frame(
                        opaque, frame, remaining, code, raw=True
                    )
                if isinstance(response, tuple):  # a JSON answer: its header, unconverted
                    return parse_send_header(response[0], mq, msg_id)
                return parse_send_response(response, mq, msg_id)
            except MQBrokerError as exc:
                if not exc.retriable:
                    raise
                last_error = exc
            except (RemotingError, MQClientError) as exc:
                last_error = exc
            log.debug("send to %s failed (%s); retrying elsewhere", mq, last_error)
            avoid = mq.broker_name
            self._refresh_route_soon(topic)
        if last_error is None:
            raise RequestTimeoutError(f"send to {topic} timed out before an attempt was made")
        raise last_error
