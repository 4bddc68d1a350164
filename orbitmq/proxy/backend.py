"""The proxy's side of 4.x remoting: routes from the NameServers, and the requests it
makes of brokers on its clients' behalf (RocketMQ's proxy in cluster mode).

Broker answers become ProxyErrors with the 5.x Code RocketMQ's proxy uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from orbitmq.acl.signature import SessionCredentials
from orbitmq.broker.pop.receipt import ReceiptHandle
from orbitmq.client.heartbeat import ConsumerData, heartbeat_body
from orbitmq.client.instance import ClientInstance
from orbitmq.client.route import TopicRouteData
from orbitmq.client.transport import ClientConnection
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.fastjson import loads_tolerant
from orbitmq.protocol.message import MessageExt, decode_records, encode_properties
from orbitmq.proxy.apis import definition_pb2 as pb
from orbitmq.proxy.errors import ProxyError
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.errors import RemotingError, RequestTimeoutError
from orbitmq.remoting.tls import TlsConfig

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 3.0
ROUTE_TTL = 5.0
CONFIG_TTL = 10.0
GET_TOPIC_CONFIG = 351  # RocketMQ 5's RequestCode.GET_TOPIC_CONFIG
RECALL_MESSAGE = 370  # RocketMQ 5.3's RequestCode.RECALL_MESSAGE

_CODES = {
    ResponseCode.TOPIC_NOT_EXIST: pb.TOPIC_NOT_FOUND,
    ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST: pb.CONSUMER_GROUP_NOT_FOUND,
    ResponseCode.NO_PERMISSION: pb.FORBIDDEN,
    ResponseCode.MESSAGE_ILLEGAL: pb.BAD_REQUEST,
    ResponseCode.SUBSCRIPTION_PARSE_FAILED: pb.ILLEGAL_FILTER_EXPRESSION,
    ResponseCode.FLUSH_DISK_TIMEOUT: pb.MASTER_PERSISTENCE_TIMEOUT,
    ResponseCode.FLUSH_SLAVE_TIMEOUT: pb.SLAVE_PERSISTENCE_TIMEOUT,
    ResponseCode.SLAVE_NOT_AVAILABLE: pb.HA_NOT_AVAILABLE,
    ResponseCode.SYSTEM_BUSY: pb.TOO_MANY_REQUESTS,
    ResponseCode.FLOW_CONTROL: pb.TOO_MANY_REQUESTS,
    ResponseCode.POLLING_FULL: pb.TOO_MANY_REQUESTS,
}


def broker_error(response: RemotingCommand, what: str) -> ProxyError:
    code = _CODES.get(response.code, pb.INTERNAL_SERVER_ERROR)  # type: ignore[call-overload]
    return ProxyError(code, f"{what}: {response.remark or ResponseCode(response.code).name}")


@dataclass(slots=True)
class SendOutcome:
    offset_msg_id: str
    queue_id: int
    queue_offset: int


@dataclass(slots=True)
class GroupSettings:
    fifo: bool
    max_attempts: int  # retryMaxTimes + 1


class BrokerBackend:
    """One remoting client shared by every gRPC client of the proxy."""

    def __init__(
        self,
        namesrv_addr: str,
        credentials: SessionCredentials | None = None,
        tls: TlsConfig | None = None,
    ) -> None:
        """`tls`: dial with TLS when its `tls.enable` is set."""
        dispatcher = RequestDispatcher("proxy")
        self._instance = ClientInstance(
            namesrv_addr,
            instance_name="orbitmq-proxy",
            dispatcher=dispatcher,
            credentials=credentials,
            tls=tls if tls is not None and tls.client_enable else False,
        )
        self.on_check_transaction: Callable[[str, RemotingCommand], None] | None = None
        dispatcher.register(RequestCode.CHECK_TRANSACTION_STATE, self._check_transaction)
        self._fetched_at: dict[str, float] = {}
        self._topic_types: dict[tuple[str, str], tuple[float, tuple[int, ...]]] = {}
        self._groups: dict[str, tuple[float, dict[str, dict]]] = {}

    async def aclose(self) -> None:
        await self._instance.aclose()

    def _check_transaction(self, connection: ClientConnection, request: RemotingCommand) -> None:
        if self.on_check_transaction is not None:
            self.on_check_transaction(connection.peer_address, request)

    async def _invoke(
        self, addr: str, command: RemotingCommand, what: str, timeout: float = REQUEST_TIMEOUT
    ) -> RemotingCommand:
        try:
            return await self._instance.invoke(addr, command, timeout)
        except RequestTimeoutError as exc:
            raise ProxyError(
                pb.PROXY_TIMEOUT, f"{what}: broker {addr} did not answer: {exc}"
            ) from exc
        except (RemotingError, OSError) as exc:
            raise ProxyError(pb.INTERNAL_SERVER_ERROR, f"{what}: broker {addr}: {exc}") from exc

    async def _request(
        self,
        addr: str,
        code: int,
        header: dict[str, str],
        what: str,
        timeout: float = REQUEST_TIMEOUT,
        *,
        body: bytes = b"",
        stale_handle: bool = False,
    ) -> RemotingCommand:
        """A request that must answer SUCCESS. With `stale_handle`, MESSAGE_ILLEGAL is
        the broker saying the receipt handle is no longer current.

        Raises:
            ProxyError: the broker's answer as a 5.x Code.
        """
        command = RemotingCommand.request(code, header, body)
        response = await self._invoke(addr, command, what, timeout)
        if stale_handle and response.code == ResponseCode.MESSAGE_ILLEGAL:
            raise ProxyError(
                pb.INVALID_RECEIPT_HANDLE, response.remark or "receipt handle is stale"
            )
        if response.code != ResponseCode.SUCCESS:
            raise broker_error(response, what)
        return response

    # ------------------------------------------------------------------ routes

    async def route(self, topic: str, max_age: float = 0.0) -> TopicRouteData | None:
        """The topic's route; from the cache when younger than `max_age` seconds."""
        routes = self._instance.routes
        cached = routes.routes.get(topic)
        if cached is not None and time.monotonic() - self._fetched_at.get(topic, 0) < max_age:
            return cached
        try:
            route = await routes.refresh(topic)
        except (RemotingError, OSError) as exc:
            raise ProxyError(pb.INTERNAL_SERVER_ERROR, f"no NameServer answered: {exc}") from exc
        self._fetched_at[topic] = time.monotonic()
        return route

    async def master_addr(self, topic: str, broker_name: str) -> str:
        for max_age in (ROUTE_TTL, 0.0):
            route = await self.route(topic, max_age)
            if route is None:
                raise ProxyError(pb.TOPIC_NOT_FOUND, f"topic {topic} has no route")
            for broker in route.broker_datas:
                if broker.broker_name == broker_name and broker.master_addr:
                    return broker.master_addr
        raise ProxyError(
            pb.INTERNAL_SERVER_ERROR, f"broker set {broker_name} of topic {topic} has no master"
        )

    async def topic_message_types(self, topic: str, addr: str) -> tuple[int, ...]:
        """The 5.x message types `topic` accepts, from its `message.type` attribute
        (an untyped topic is NORMAL, MIXED is all)."""
        key = (topic, addr)
        cached = self._topic_types.get(key)
        if cached is not None and time.monotonic() - cached[0] < CONFIG_TTL:
            return cached[1]
        command = RemotingCommand.request(GET_TOPIC_CONFIG, {"topic": topic})
        response = await self._invoke(addr, command, f"topic config of {topic}")
        kind = "NORMAL"
        if response.code == ResponseCode.SUCCESS and response.body:
            data = loads_tolerant(response.body)
            config = data.get("topicConfig", data) if isinstance(data, dict) else {}
            kind = ((config or {}).get("attributes") or {}).get("message.type", "NORMAL")
        types = _MESSAGE_TYPES.get(str(kind).upper(), (pb.NORMAL,))
        self._topic_types[key] = (time.monotonic(), types)
        return types

    async def group_settings(self, group: str, addr: str) -> GroupSettings:
        cached = self._groups.get(addr)
        if cached is None or time.monotonic() - cached[0] >= CONFIG_TTL or group not in cached[1]:
            response = await self._request(
                addr, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, {}, "subscription groups"
            )
            table = (loads_tolerant(response.body) or {}).get("subscriptionGroupTable") or {}
            cached = self._groups[addr] = (time.monotonic(), table)
        config = cached[1].get(group) or {}
        return GroupSettings(
            bool(config.get("consumeMessageOrderly", False)),
            int(config.get("retryMaxTimes", 16)) + 1,
        )

    # ----------------------------------------------------------------- sending

    async def send(
        self,
        addr: str,
        topic: str,
        queue_id: int,
        body: bytes,
        properties: dict[str, str],
        sys_flag: int,
        producer_group: str,
    ) -> SendOutcome:
        header = {
            "a": producer_group,
            "b": topic,
            "c": "TBW102",
            "d": "4",
            "e": str(queue_id),
            "f": str(sys_flag),
            "g": str(int(time.time() * 1000)),
            "h": "0",
            "i": encode_properties(properties),
            "j": "0",
            "k": "false",
        }
        response = await self._request(
            addr, RequestCode.SEND_MESSAGE_V2, header, f"send to {topic}", body=body
        )
        ext = response.ext_fields
        return SendOutcome(
            ext.get("msgId", ""), int(ext.get("queueId", queue_id)), int(ext.get("queueOffset", 0))
        )

    async def end_transaction(self, addr: str, header: dict[str, str]) -> None:
        await self._request(addr, RequestCode.END_TRANSACTION, header, "end transaction")

    async def recall(self, addr: str, topic: str, recall_handle: str) -> str:
        """RECALL_MESSAGE (RocketMQ 5.3): cancel a timer message; its message id."""
        header = {"producerGroup": topic, "topic": topic, "recallHandle": recall_handle}
        response = await self._request(addr, RECALL_MESSAGE, header, f"recall in {topic}")
        return response.ext_fields.get("msgId", "")

    # ----------------------------------------------------------------- consuming

    async def pop(
        self,
        addr: str,
        group: str,
        topic: str,
        max_nums: int,
        invisible_ms: int,
        poll_ms: int,
        expression_type: str,
        expression: str,
        order: bool,
        attempt_id: str,
    ) -> list[MessageExt]:
        header = {
            "consumerGroup": group,
            "topic": topic,
            "queueId": "-1",
            "maxMsgNums": str(max_nums),
            "invisibleTime": str(invisible_ms),
            "pollTime": str(poll_ms),
            "bornTime": str(int(time.time() * 1000)),
            "initMode": "1",
            "expType": expression_type,
            "exp": expression,
            "order": "true" if order else "false",
            "attemptId": attempt_id,
        }
        command = RemotingCommand.request(RequestCode.POP_MESSAGE, header)
        response = await self._invoke(
            addr, command, f"receive from {topic}", poll_ms / 1000 + REQUEST_TIMEOUT
        )
        if response.code == ResponseCode.PULL_NOT_FOUND:
            return []
        if response.code != ResponseCode.SUCCESS:
            raise broker_error(response, f"receive from {topic}")
        return decode_records(response.body)

    async def ack(self, addr: str, group: str, topic: str, handle: ReceiptHandle) -> None:
        header = _handle_header(group, topic, handle)
        await self._request(addr, RequestCode.ACK_MESSAGE, header, "ack", stale_handle=True)

    async def change_invisible(
        self, addr: str, group: str, topic: str, handle: ReceiptHandle, invisible_ms: int
    ) -> ReceiptHandle:
        header = {**_handle_header(group, topic, handle), "invisibleTime": str(invisible_ms)}
        response = await self._request(
            addr, RequestCode.CHANGE_MESSAGE_INVISIBLETIME, header, "change invisible duration",
            stale_handle=True,
        )  # fmt: skip
        ext = response.ext_fields
        return handle.renewed(int(ext["popTime"]), int(ext["invisibleTime"]))

    async def send_to_dlq(
        self,
        addr: str,
        group: str,
        handle: ReceiptHandle,
        topic: str,
        message_id: str,
        max_times: int,
    ) -> None:
        header = {
            "offset": str(handle.commit_log_offset),
            "group": group,
            "delayLevel": "-1",
            "originMsgId": message_id,
            "originTopic": topic,
            "unitMode": "false",
            "maxReconsumeTimes": str(max_times),
        }
        await self._request(
            addr, RequestCode.CONSUMER_SEND_MSG_BACK, header, "forward to the dead-letter queue"
        )

    # ----------------------------------------------------------------- clients

    async def heartbeat(
        self,
        addrs: set[str],
        client_id: str,
        producer_groups: list[str],
        consumers: list[ConsumerData],
    ) -> None:
        """Register a 5.x client with the brokers, as a 4.x client would be, so that
        mqadmin and the console see it; failures are logged."""
        body = heartbeat_body(client_id, producer_groups, consumers)
        await self._each(addrs, RequestCode.HEART_BEAT, {}, body, f"heartbeat of {client_id}")

    async def unregister(
        self,
        addrs: set[str],
        client_id: str,
        producer_groups: list[str],
        consumer_group: str | None,
    ) -> None:
        for group in producer_groups:
            ext = {"clientID": client_id, "producerGroup": group}
            await self._each(
                addrs, RequestCode.UNREGISTER_CLIENT, ext, b"", f"unregister {client_id}"
            )
        if consumer_group:
            ext = {"clientID": client_id, "consumerGroup": consumer_group}
            await self._each(
                addrs, RequestCode.UNREGISTER_CLIENT, ext, b"", f"unregister {client_id}"
            )

    async def _each(
        self, addrs: set[str], code: int, ext: dict[str, str], body: bytes, what: str
    ) -> None:
        results = await asyncio.gather(
            *(self._request(a, code, dict(ext), what, body=body) for a in sorted(addrs)),
            return_exceptions=True,
        )
        for addr, result in zip(sorted(addrs), results, strict=True):
            if isinstance(result, BaseException):
                log.warning("%s to %s failed: %s", what, addr, result)

    async def master_addrs(self, topics: set[str]) -> set[str]:
        addrs: set[str] = set()
        for topic in topics:
            try:
                route = await self.route(topic, ROUTE_TTL)
            except ProxyError as exc:
                log.warning("route of %s: %s", topic, exc)
                continue
            if route is not None:
                addrs |= {b.master_addr for b in route.broker_datas if b.master_addr}
        return addrs


def _handle_header(group: str, topic: str, handle: ReceiptHandle) -> dict[str, str]:
    """What ACK_MESSAGE and CHANGE_MESSAGE_INVISIBLETIME say of the delivery."""
    return {
        "consumerGroup": group,
        "topic": topic,
        "queueId": str(handle.queue_id),
        "extraInfo": handle.extra_info(),
        "offset": str(handle.queue_offset),
    }


_MIXED = (pb.NORMAL, pb.FIFO, pb.DELAY, pb.TRANSACTION)
_MESSAGE_TYPES = {
    "NORMAL": (pb.NORMAL,),
    "FIFO": (pb.FIFO,),
    "DELAY": (pb.DELAY,),
    "TRANSACTION": (pb.TRANSACTION,),
    "MIXED": _MIXED,
    "UNSPECIFIED": (pb.NORMAL,),
}
