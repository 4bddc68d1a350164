"""Admin requests that change the broker (AdminBrokerProcessor.java): UPDATE_BROKER_CONFIG
(25), CLEAN_EXPIRED_CONSUMEQUEUE (306), CLEAN_UNUSED_TOPIC (316), CLONE_GROUP_OFFSET (314),
and the GET_CONSUMER_RUNNING_INFO (307) relay to a consumer's own connection.

UPDATE_BROKER_CONFIG takes a properties text. Every key is checked first (a bad value or an
unknown key refuses the whole update); then the keys a Java broker reads while running
(brokerPermission, autoCreateTopicEnable, fileReservedTime, maxMessageSize, ...) change the
live config, and the keys it only reads at start-up (ports, names, paths, flushDiskType,
...) are left for the next start. All of them are written to the broker's `-c` file,
editing the lines in place so comments and order survive.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import TYPE_CHECKING

import javaproperties

from orbitmq.broker.config import IGNORED_KEYS
from orbitmq.broker.errors import BrokerError
from orbitmq.broker.headers import Header
from orbitmq.broker.topic_config import SCHEDULE_TOPIC
from orbitmq.config_file import ConfigError, apply_properties
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.remoting.errors import RemotingError, RequestTimeoutError

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

log = logging.getLogger(__name__)

CALL_CONSUMER_TIMEOUT = 10.0  # Broker2Client.callClient
MIN_RUNNING_INFO_VERSION = 62  # V3_1_8_SNAPSHOT

# Read once at start-up (by Java too, or by OrbitMQ's wiring): persisted, applied on restart.
RESTART_KEYS = frozenset(
    {
        "brokerClusterName",
        "brokerName",
        "brokerId",
        "brokerIP1",
        "brokerIP2",
        "listenPort",
        "haListenPort",
        "bindAddress",
        "namesrvAddr",
        "brokerRole",
        "flushDiskType",
        "storePathRootDir",
        "storePathCommitLog",
        "mappedFileSizeCommitLog",
        "mapedFileSizeCommitLog",
        "mappedFileSizeConsumeQueue",
        "mapedFileSizeConsumeQueue",
        "enableDLegerCommitLog",
        "metricsExporterType",
        "metricsPromExporterHost",
        "metricsPromExporterPort",
        "metricsLabel",
        "dLegerGroup",
        "dLegerPeers",
        "dLegerSelfId",
        "aclEnable",
        "messageDelayLevel",
        "defaultTopicQueueNums",
        "clusterTopicEnable",
        "brokerTopicEnable",
        "notifyConsumerIdsChangedEnable",
        "channelExpiredTimeout",
        "registerNameServerPeriod",
        "flushConsumerOffsetInterval",
    }
)
# BrokerConfig fields the message store keeps its own copy of, read on every use.
_STORE_FIELDS = {
    "max_message_size": "max_message_size",
    "sync_flush_timeout": "sync_flush_timeout_ms",
    "flush_interval_commit_log": "flush_interval_commit_log_ms",
    "flush_commit_log_least_pages": "flush_commit_log_least_pages",
    "flush_commit_log_thorough_interval": "flush_commit_log_thorough_interval_ms",
    "file_reserved_time": "file_reserved_time",
    "delete_when": "delete_when",
    "disk_max_used_space_ratio": "disk_max_used_space_ratio",
}


def update_properties_text(text: str, updates: dict[str, str]) -> str:
    """`text` (a .properties file) with `updates` applied: a key's last line is rewritten
    in place, other lines (comments, blank lines, other keys) are kept as they are, and
    keys not in the file are appended."""
    entries = list(javaproperties.parse(text))
    last_line = {e.key: i for i, e in enumerate(entries) if isinstance(e, javaproperties.KeyValue)}
    out: list[str] = []
    for i, entry in enumerate(entries):
        key = entry.key if isinstance(entry, javaproperties.KeyValue) else None
        if key is not None and key in updates:
            if last_line[key] == i:
                out.append(javaproperties.join_key_value(key, updates[key]) + "\n")
            continue  # earlier duplicates of an updated key: the last one wins anyway
        source = entry.source
        out.append(source if source.endswith("\n") else source + "\n")
    out.extend(
        javaproperties.join_key_value(k, v) + "\n" for k, v in updates.items() if k not in last_line
    )
    return "".join(out)


def persist_properties(path: str, updates: dict[str, str]) -> None:
    """Rewrite `path` with `updates` (tmp file, fsync, rename)."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(update_properties_text(text, updates))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


async def call_consumer(
    broker: BrokerController,
    request: RemotingCommand,
    forward: RemotingCommand,
    group: str,
    client_id: str,
) -> RemotingCommand:
    """AdminBrokerProcessor.callConsumer: send `forward` to consumer `client_id` of `group`
    over its own connection and answer `request` with its reply."""
    info = broker.client_manager.consumer_groups.get(group)
    channels = info.channels.values() if info is not None else ()
    channel = next((c for c in channels if c.client_id == client_id and c.connection.is_open), None)
    if channel is None:
        return request.response(
            ResponseCode.SYSTEM_ERROR, f"The Consumer <{group}> <{client_id}> not online"
        )
    if channel.version < MIN_RUNNING_INFO_VERSION:
        return request.response(
            ResponseCode.SYSTEM_ERROR,
            f"The Consumer <{client_id}> Version <{channel.version}> too low to finish, "
            "please upgrade it to V3_1_8_SNAPSHOT",
        )
    try:
        answer = await channel.connection.invoke(forward, CALL_CONSUMER_TIMEOUT)
    except RequestTimeoutError as exc:
        return request.response(
            ResponseCode.CONSUME_MSG_TIMEOUT, f"consumer <{group}> <{client_id}> Timeout: {exc}"
        )
    except RemotingError as exc:
        return request.response(
            ResponseCode.SYSTEM_ERROR, f"invoke consumer <{group}> <{client_id}> Exception: {exc}"
        )
    return request.response(answer.code, answer.remark, answer.ext_fields, answer.body)


class AdminConfigHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        for code, handler in (
            (RequestCode.UPDATE_BROKER_CONFIG, self.update_broker_config),
            (RequestCode.CLEAN_EXPIRED_CONSUMEQUEUE, self.clean_expired_consume_queue),
            (RequestCode.CLEAN_UNUSED_TOPIC, self.clean_unused_topic),
            (RequestCode.CLONE_GROUP_OFFSET, self.clone_group_offset),
            (RequestCode.GET_CONSUMER_RUNNING_INFO, self.get_consumer_running_info),
        ):
            dispatcher.register(code, handler)  # type: ignore[attr-defined]

    # UPDATE_BROKER_CONFIG -----------------------------------------------------------------
    @staticmethod
    def _parse_body(request: RemotingCommand) -> dict[str, str]:
        try:
            props = javaproperties.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BrokerError(f"string2Properties error: {exc}") from exc
        return {k.strip(): v.strip() for k, v in props.items()}

    async def update_broker_config(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        props = self._parse_body(request)
        broker = self._broker
        log.info("updateBrokerConfig from %s: %s", connection.peer_address, props)
        try:  # check every value on a copy first: nothing changes unless all are good
            unknown = apply_properties(
                dataclasses.replace(broker.config), props, ignored_keys=IGNORED_KEYS
            )
        except ConfigError as exc:
            raise BrokerError(str(exc)) from exc
        if unknown:
            raise BrokerError(f"unknown broker config key(s): {', '.join(sorted(unknown))}")
        live = {k: v for k, v in props.items() if k not in RESTART_KEYS}
        apply_properties(broker.config, live, ignored_keys=IGNORED_KEYS)
        self._mirror_store_config()
        notes = []
        later = sorted(set(props) & RESTART_KEYS)
        if later:
            notes.append(f"{', '.join(later)} take(s) effect after a restart")
        path = broker.config_file
        if path:
            try:
                persist_properties(path, props)
            except OSError as exc:
                raise BrokerError(f"config updated but not saved to {path}: {exc}") from exc
        else:
            notes.append("not saved: the broker was started without a config file (-c)")
        if "brokerPermission" in live:
            broker.topic_config_manager.data_version.next_version()
            await broker.registration.register_all()
        return request.response(remark="; ".join(notes) or None)

    def _mirror_store_config(self) -> None:
        config = self._broker.config
        store_config = self._broker.message_store.config
        for broker_field, store_field in _STORE_FIELDS.items():
            if hasattr(config, broker_field) and hasattr(store_config, store_field):
                setattr(store_config, store_field, getattr(config, broker_field))

    # Consume queues -----------------------------------------------------------------------
    def clean_expired_consume_queue(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """DefaultMessageStore.cleanExpiredConsumerQueue: drop the consume queues of a topic
        whose every indexed message is gone from the commit log."""
        store = self._broker.message_store
        expired = set()
        for topic, queue_ids in store.topic_queue_ids().items():
            if topic != SCHEDULE_TOPIC and all(self._queue_expired(topic, q) for q in queue_ids):
                expired.add(topic)
        if expired:
            log.warning("cleanExpiredConsumeQueue: destroying queues of %s", sorted(expired))
            store.delete_topics(expired)
        return request.response()

    def _queue_expired(self, topic: str, queue_id: int) -> bool:
        store = self._broker.message_store
        high = store.get_max_offset_in_queue(topic, queue_id)
        if high <= 0:
            return False  # maybe created just now
        if store.get_min_offset_in_queue(topic, queue_id) >= high:
            return True
        return store.get_message_store_timestamp(topic, queue_id, high - 1) < 0

    def clean_unused_topic(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """DefaultMessageStore.cleanUnusedTopic: drop consume queues of topics with no
        topic config (deleted topics whose queues were left behind)."""
        broker = self._broker
        configured = set(broker.topic_config_manager.table)
        unused = {
            t
            for t in broker.message_store.topic_queue_ids()
            if t not in configured and t != SCHEDULE_TOPIC
        }
        if unused:
            log.warning("cleanUnusedTopic: destroying queues of %s", sorted(unused))
            broker.message_store.delete_topics(unused)
        return request.response()

    # Offsets ------------------------------------------------------------------------------
    def clone_group_offset(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        header = Header(request)
        src, dest = header.str("srcGroup"), header.str("destGroup")
        topic = header.optional_str("topic") or ""
        offline = header.bool("offline")
        broker = self._broker
        offsets = broker.consumer_offset_manager
        manager = broker.client_manager
        topics = [topic] if topic.strip() else sorted(offsets.topics_of_group(src))
        info = manager.consumer_groups.get(src)
        online = bool(info and info.subscriptions)
        for name in topics:
            config = broker.topic_config_manager.get(name)
            if config is None:
                continue
            if not offline and online and manager.find_subscription(src, name) is None:
                continue  # the online group does not consume this topic
            for queue_id in range(config.read_queue_nums):
                offset = offsets.query_offset(src, name, queue_id)
                if offset >= 0:
                    offsets.commit_offset(dest, name, queue_id, offset)
        return request.response()

    # Relay to a consumer ------------------------------------------------------------------
    async def get_consumer_running_info(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """Forward to the consumer's own connection and relay its answer (callConsumer)."""
        header = Header(request)
        group, client_id = header.str("consumerGroup"), header.str("clientId")
        forward = RemotingCommand.request(
            RequestCode.GET_CONSUMER_RUNNING_INFO, dict(request.ext_fields), request.body
        )
        return await call_consumer(self._broker, request, forward, group, client_id)
