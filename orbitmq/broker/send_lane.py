"""The send lane: plain single-message sends handled a read at a time.

Theory of operation: the broker's connections hand every whole frame a read brings to
`SendLane.receive`. A plain send (SEND_MESSAGE_V2 with a JSON header: one message for an
existing writable topic, no delay, transaction, batch, retry topic or IPv6 peer) is read
straight from the frame into a SendEntry, without a RemotingCommand or MessageExt.
Every other frame, and any send the lane is unsure of, goes the general way
(RequestDispatcher → SendMessageHandler), which also words every refusal. Before such a
frame is delivered, the sends read so far are appended (MessageStore.append_sends, one
write), so the log keeps the arrival order. Their answers leave in one write: at once
under ASYNC_FLUSH, after the group commit under SYNC_FLUSH, after a slave's ack for a
SYNC_MASTER; a DLedger leader proposes them to its group as one entry and answers once
it is committed. A slave, a DLedger follower (or a leader still catching up), or a broker
without write permission sends everything the general way.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import TYPE_CHECKING, Any

import orjson

from orbitmq.broker.handlers.send import STATUS_CODES, born_host_of
from orbitmq.broker.message_type import accepts, message_type_of, topic_message_type
from orbitmq.broker.topic_config import TopicConfig, check_send_allowed
from orbitmq.errors import OrbitMQError, RemoteProtocolError
from orbitmq.protocol.codes import ORBITMQ_VERSION_ORDINAL, RequestCode, ResponseCode
from orbitmq.protocol.command import FLAG_ONEWAY, FLAG_RESPONSE
from orbitmq.protocol.frame import FRAME_PREFIX, decode_header
from orbitmq.protocol.header_json import command_from_json, parse_json_header
from orbitmq.protocol.message import (
    MAX_PROPERTIES_BYTES,
    SysFlag,
    create_offset_msg_id,
    decode_properties,
    encode_host,
)
from orbitmq.protocol.perm import is_writeable
from orbitmq.protocol.topics import RETRY_GROUP_TOPIC_PREFIX
from orbitmq.store.layout import cached_tags_code
from orbitmq.store.results import PutMessageStatus
from orbitmq.store.send_batch import RECORD_OVERHEAD, AppendedSends, SendEntry, SendsLayout

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController
    from orbitmq.remoting.connection import RemotingConnection

log = logging.getLogger(__name__)

_SEND_V2 = int(RequestCode.SEND_MESSAGE_V2)
_NOT_PLAIN = SysFlag.TRANSACTION_MASK  # half, commit and rollback records go the general way
_HOST_FLAGS = SysFlag.BORNHOST_V6 | SysFlag.STOREHOST_V6
# Properties that make a send more than an append: delay, transaction, a cluster already
# set (the general path replaces it), 5.x timer properties.
_SPECIAL_PROPERTIES = ("DELAY\x01", "TRAN_MSG\x01", "CLUSTER\x01", "TIMER_", "__STARTDELIVERTIME")
_BATCH_TEXTS = frozenset({"true", "1", "True", "TRUE"})
_ANSWER = (
    '{"code":%d,"extFields":{"msgId":"%s%016X","queueId":"%d","queueOffset":"%d",'
    '"MSG_REGION":"DefaultRegion","TRACE_ON":"true"},"flag":1,"language":"JAVA",'
    '"opaque":%d,"remark":%s,"serializeTypeCurrentRPC":"JSON","version":'
    + str(ORBITMQ_VERSION_ORDINAL)
    + "}"
)
_REFUSAL = (
    '{"code":%d,"extFields":{},"flag":1,"language":"JAVA","opaque":%d,"remark":%s,'
    '"serializeTypeCurrentRPC":"JSON","version":' + str(ORBITMQ_VERSION_ORDINAL) + "}"
)
# Outcomes of the flush after which a SYNC_MASTER still waits for a slave.
_REPLICATED_CODES = (ResponseCode.SUCCESS, ResponseCode.FLUSH_DISK_TIMEOUT)
_MAX_CACHED_TOPICS = 100_000


class _Route:
    """What the lane needs of a topic it may send to, checked once per config object."""

    __slots__ = ("config", "field", "message_type", "queue_nums", "write_queue_nums")

    def __init__(self, config: TopicConfig) -> None:
        self.config = config
        encoded = config.topic_name.encode()
        self.field = bytes((len(encoded),)) + encoded
        self.queue_nums = max(config.write_queue_nums, config.read_queue_nums)
        self.write_queue_nums = config.write_queue_nums
        self.message_type = topic_message_type(config)


class _Batch:
    """Sends read from one connection's read, not yet appended, and what every send of
    the read is checked against (looked up once per read)."""

    __slots__ = (
        "born_host",
        "check_types",
        "cluster",
        "entries",
        "max_body",
        "max_payload",
        "oneway",
        "opaques",
        "started",
        "topics",
        "waits",
    )

    def __init__(self, broker: BrokerController, born_host: bytes) -> None:
        self.entries: list[SendEntry] = []
        self.opaques: list[int] = []
        self.oneway: list[bool] = []
        self.waits: list[bool] = []  # WAIT is not false: the send waits for the flush
        self.born_host = born_host
        self.cluster = "CLUSTER\x01" + broker.config.broker_cluster_name
        store = broker.message_store
        self.max_body = store.config.max_message_size
        # Body, topic field and properties of a record that fits in one segment.
        self.max_payload = store.commit_log.max_record_size() - RECORD_OVERHEAD
        self.topics = broker.topic_config_manager.get
        self.check_types = broker.config.enable_topic_message_type_check
        self.started = perf_counter()  # when its first send was read (RPC latency)


class SendLane:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker
        self._routes: dict[str, _Route] = {}
        self._store_host: tuple[tuple[str, int], bytes] | None = None
        self._msg_id_prefix = ""

    # ------------------------------------------------------------------ reading

    def receive(self, connection: RemotingConnection, frames: bytes) -> None:
        """FrameLane: every whole frame of one read (see the module docstring)."""
        open_ = self._is_open()
        born_host = _born_host(connection) if open_ else None
        if born_host is None:
            open_ = False
        batch: _Batch | None = None
        unpack_from = FRAME_PREFIX.unpack_from
        pos = 0
        end_all = len(frames)
        while pos < end_all:
            total, word = unpack_from(frames, pos)
            header_start = pos + 8
            body_start = header_start + (word & 0xFFFFFF)
            end = pos + 4 + total
            pos = end
            if word >> 24:  # not JSON
                command = decode_header(
                    (word >> 24) & 0xFF, frames[header_start:body_start], frames[body_start:end]
                )
            else:
                header = parse_json_header(frames[header_start:body_start])
                if open_ and header.__class__ is dict and header.get("code") == _SEND_V2:
                    if batch is None:
                        batch = _Batch(self._broker, born_host)  # type: ignore[arg-type]
                    if self._read_send(header, frames, body_start, end, batch):
                        continue
                command = command_from_json(header, frames[body_start:end])
            if batch is not None and batch.entries:
                self._append(connection, batch)
                batch = None
            connection.deliver(command)
        if batch is not None and batch.entries:
            self._append(connection, batch)

    def _is_open(self) -> bool:
        broker = self._broker
        config = broker.config
        replicated = broker.message_store.replicated_log
        return (
            config.is_master
            and (replicated is None or replicated.writable)
            and is_writeable(config.broker_permission)
        )

    def _read_send(
        self,
        header: dict[str, Any],
        frames: bytes,
        body_start: int,
        end: int,
        batch: _Batch,
    ) -> bool:
        """Add the send to `batch` if it is a plain one; False sends it the general way."""
        ext = header.get("extFields")
        try:
            command_flag = header.get("flag", 0)
            opaque = int(header.get("opaque", 0))
            if command_flag & FLAG_RESPONSE:
                return False
            topic = ext["b"]  # type: ignore[index]
            route = self._routes.get(topic)
            if route is None or batch.topics(topic) is not route.config:
                route = self._route(topic)
                if route is None:
                    return False
            queue_id = int(ext["e"])  # type: ignore[index]
            sys_flag = int(ext["f"])  # type: ignore[index]
            born_timestamp = int(ext["g"])  # type: ignore[index]
            flag = int(ext["h"])  # type: ignore[index]
            properties = ext.get("i") or ""  # type: ignore[union-attr]
            reconsume_times = int(ext.get("j") or 0)  # type: ignore[union-attr]
            if "a" not in ext or ext.get("m") in _BATCH_TEXTS:  # type: ignore[operator,union-attr]
                return False
        except (KeyError, TypeError, ValueError):
            return False
        if sys_flag & _NOT_PLAIN or properties.__class__ is not str:
            return False
        if queue_id < 0:
            queue_id = random.randrange(route.write_queue_nums)
        elif queue_id >= route.queue_nums:
            return False
        for special in _SPECIAL_PROPERTIES:
            if special in properties:
                return False
        body = frames[body_start:end]
        if len(body) > batch.max_body:
            return False
        values = decode_properties(properties)
        if batch.check_types and not accepts(route.message_type, message_type_of(values, sys_flag)):
            return False  # the general way refuses it, in RocketMQ's words
        if properties and properties[-1] != "\x02":
            properties += "\x02"
        encoded = (properties + batch.cluster).encode()
        if (
            len(encoded) > MAX_PROPERTIES_BYTES
            or len(body) + len(route.field) + len(encoded) > batch.max_payload
        ):
            return False
        batch.entries.append(
            (
                topic,
                route.field,
                queue_id,
                flag,
                sys_flag & ~_HOST_FLAGS,
                born_timestamp,
                batch.born_host,
                reconsume_times,
                body,
                encoded,
                cached_tags_code(values.get("TAGS")),
                values.get("UNIQ_KEY") or None,
                values.get("KEYS") or None,
            )
        )
        batch.opaques.append(opaque)
        batch.oneway.append(bool(command_flag & FLAG_ONEWAY))
        batch.waits.append(values.get("WAIT") != "false")
        return True

    def _route(self, topic: str) -> _Route | None:
        """The topic's route if the lane may send to it (it exists, is writable, is not
        a retry topic and is allowed to producers), else None (the general way)."""
        self._routes.pop(topic, None)
        config = self._broker.topic_config_manager.get(topic)
        if (
            config is None
            or not is_writeable(config.perm)
            or topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
            or config.write_queue_nums <= 0
        ):
            return None
        try:
            check_send_allowed(topic)
        except OrbitMQError:
            return None
        if len(self._routes) >= _MAX_CACHED_TOPICS:
            self._routes.clear()
        route = self._routes[topic] = _Route(config)
        return route

    # ------------------------------------------------------------------ storing

    def _append(self, connection: RemotingConnection, batch: _Batch) -> None:
        broker = self._broker
        store = broker.message_store
        if store.replicated_log is not None:
            self._propose(connection, batch)
            return
        appended = store.append_sends(batch.entries, self._store_host_bytes())
        broker.stats.put_count += appended.count
        stored = appended.count
        if stored and broker.metrics is not None:
            broker.metrics.record_sends(batch.entries, appended.sizes, 0, stored)
        if stored < len(batch.entries):
            connection.send_frames(self._refusals(batch, stored, appended.refusal))
        ha = broker.ha_service
        sync_master = ha is not None and ha.config.sync_master
        sync_flush = store.config.sync_flush
        if not stored or not (sync_master or sync_flush) or not any(batch.waits):
            connection.send_frames(self._answers(batch, appended, ResponseCode.SUCCESS, None))
            return
        end = appended.end

        def replicate(code: int, remark: str | None) -> None:
            if not sync_master or code not in _REPLICATED_CODES:
                connection.send_frames(self._answers(batch, appended, code, remark))
                return

            def replicated(ha_code: ResponseCode) -> None:
                if ha_code != ResponseCode.SUCCESS:
                    connection.send_frames(
                        self._answers(batch, appended, ha_code, f'"{ha_code.name}"')
                    )
                else:
                    connection.send_frames(self._answers(batch, appended, code, remark))

            assert ha is not None
            ha.on_replicated(end, replicated)

        if sync_flush:
            store.on_flushed_to(end, _flush_outcome(replicate, store.config.sync_flush_timeout_ms))
        else:
            replicate(ResponseCode.SUCCESS, None)

    def _propose(self, connection: RemotingConnection, batch: _Batch) -> None:
        """DLedger leader: the batch goes to the group as one entry (per segment run);
        each entry's sends are answered once it is committed, lost or timed out."""

        def settled(
            placed: SendsLayout, first: int, stop: int, status: PutMessageStatus, remark: str
        ) -> None:
            code = STATUS_CODES.get(status, ResponseCode.SYSTEM_ERROR)
            metrics = self._broker.metrics
            if status is PutMessageStatus.PUT_OK and metrics is not None:
                metrics.record_sends(batch.entries, placed.sizes, first, stop)
            remark_json = (
                "null"
                if code == ResponseCode.SUCCESS
                else orjson.dumps(remark or status.name).decode()
            )
            connection.send_frames(self._answers(batch, placed, code, remark_json, first, stop))

        store = self._broker.message_store
        proposed = store.propose_sends(batch.entries, self._store_host_bytes(), settled)
        self._broker.stats.put_count += proposed.count
        if proposed.count < len(batch.entries):
            connection.send_frames(self._refusals(batch, proposed.count, proposed.refusal))

    def _answers(
        self,
        batch: _Batch,
        placed: AppendedSends | SendsLayout,
        code: int,
        remark: str | None,
        first: int = 0,
        stop: int | None = None,
    ) -> bytes:
        """The answers to sends first..stop (default: every stored one), framed, back to
        back; `remark` is JSON text or None."""
        if stop is None:
            stop = placed.count if isinstance(placed, AppendedSends) else len(placed.sizes)
        prefix = self._msg_id_prefix
        entries = batch.entries
        opaques = batch.opaques
        oneway = batch.oneway
        physical_offsets = placed.physical_offsets
        queue_offsets = placed.queue_offsets
        remark_json = remark if remark is not None else "null"
        self._record_latency(batch, code, first, stop)
        return _framed(
            _ANSWER
            % (
                code,
                prefix,
                physical_offsets[i],
                entries[i][2],
                queue_offsets[i],
                opaques[i],
                remark_json,
            )
            for i in range(first, stop)
            if not oneway[i]
        )

    def _refusals(self, batch: _Batch, first: int, refusal: str | None) -> bytes:
        """SERVICE_NOT_AVAILABLE for sends first.. (nothing of them is stored)."""
        remark = orjson.dumps(refusal or "the store refused the write").decode()
        code = ResponseCode.SERVICE_NOT_AVAILABLE
        self._record_latency(batch, code, first, len(batch.entries))
        return _framed(
            _REFUSAL % (code, batch.opaques[i], remark)
            for i in range(first, len(batch.entries))
            if not batch.oneway[i]
        )

    def _record_latency(self, batch: _Batch, code: int, first: int, stop: int) -> None:
        """Sends first..stop are answered now with `code` (RPC latency, when exported)."""
        metrics = self._broker.metrics
        if metrics is None or stop <= first:
            return
        seconds = perf_counter() - batch.started
        oneway = sum(batch.oneway[first:stop])
        if oneway:
            metrics.rpc.record(_SEND_V2, code, False, True, seconds, oneway)
        if stop - first > oneway:
            metrics.rpc.record(_SEND_V2, code, False, False, seconds, stop - first - oneway)

    def _store_host_bytes(self) -> bytes:
        host = self._broker.store_host
        cached = self._store_host
        if cached is None or cached[0] != host:
            packed, v6 = encode_host(host)
            if v6:
                raise RemoteProtocolError(f"store host {host} is not an IPv4 address")
            cached = self._store_host = (host, packed)
            self._msg_id_prefix = create_offset_msg_id(host, 0)[:-16]
        return cached[1]


def _framed(headers: Iterable[str]) -> bytes:
    """Header-only response frames (JSON headers, ASCII), back to back."""
    out: list[bytes] = []
    pack = FRAME_PREFIX.pack
    for text in headers:
        header = text.encode()
        out.append(pack(4 + len(header), len(header)))
        out.append(header)
    return b"".join(out)


def _flush_outcome(
    replicate: Callable[[int, str | None], None], timeout_ms: int
) -> Callable[[bool], None]:
    def flushed(ok: bool) -> None:
        if ok:
            replicate(ResponseCode.SUCCESS, None)
        else:
            log.debug("group commit did not finish within %d ms", timeout_ms)
            replicate(ResponseCode.FLUSH_DISK_TIMEOUT, '"FLUSH_DISK_TIMEOUT"')

    return flushed


def _born_host(connection: RemotingConnection) -> bytes | None:
    """The peer as a record's born host field; None for IPv6 (the general way)."""
    attributes = connection.attributes
    packed = attributes.get("born_host_v4", False)
    if packed is False:
        raw, v6 = encode_host(born_host_of(connection))
        packed = attributes["born_host_v4"] = None if v6 else raw
    return packed
