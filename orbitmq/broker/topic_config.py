"""Topic configs, persisted as `config/topics.json` (TopicConfigManager.java).

Theory of operation: every change bumps the DataVersion, is written to topics.json and
is registered with the NameServers. Both would cost the whole table per change, so
creating N topics one by one would cost N^2 (at 20,000 topics, minutes). Instead:
- a change is written at once when the file has been quiet for a while; in a burst of
  changes the rewrites are spaced so that they take at most PERSIST_DUTY of the time
  (the later changes of a burst reach the disk a little after they are answered);
- the topics changed since the last registration are journaled (`take_changes`), so
  registration.py can send the NameServers just those, as Java's
  registerIncrementBrokerData does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orbitmq.broker.config import BrokerConfig
from orbitmq.broker.errors import MessageIllegalError, NoPermissionError
from orbitmq.broker.topic_attributes import alter_attributes
from orbitmq.config_file import load_json_file, persist_json_file
from orbitmq.protocol.perm import PERM_INHERIT, PERM_READ, PERM_WRITE
from orbitmq.protocol.topics import DEFAULT_TOPIC

log = logging.getLogger(__name__)

SELF_TEST_TOPIC = "SELF_TEST_TOPIC"
BENCHMARK_TOPIC = "BenchmarkTest"
OFFSET_MOVED_EVENT = "OFFSET_MOVED_EVENT"
SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX"
TRANS_HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC"
TRANS_OP_HALF_TOPIC = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
TRANS_CHECK_MAX_TIME_TOPIC = "TRANS_CHECK_MAX_TIME_TOPIC"
DLQ_NUMS_PER_GROUP = 1
TOPIC_MAX_LENGTH = 127
NOT_ALLOWED_SEND_TOPICS = frozenset({SCHEDULE_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC})
# TopicValidator.SYSTEM_TOPIC_SET and SYSTEM_TOPIC_PREFIX.
SYSTEM_TOPICS = frozenset(
    {
        DEFAULT_TOPIC,
        SCHEDULE_TOPIC,
        BENCHMARK_TOPIC,
        TRANS_HALF_TOPIC,
        TRANS_OP_HALF_TOPIC,
        TRANS_CHECK_MAX_TIME_TOPIC,
        SELF_TEST_TOPIC,
        OFFSET_MOVED_EVENT,
        "RMQ_SYS_TRACE_TOPIC",
    }
)
SYSTEM_TOPIC_PREFIX = "rmq_sys_"
_VALID_TOPIC = re.compile(r"^[%|a-zA-Z0-9_-]+$")
# Share of the time rewriting topics.json may take while changes keep coming.
PERSIST_DUTY = 0.1


def validate_topic(topic: str) -> None:
    """TopicValidator.validateTopic, answered as MESSAGE_ILLEGAL with the reason."""
    if not topic or not topic.strip():
        raise MessageIllegalError("The specified topic is blank.")
    if not _VALID_TOPIC.match(topic):
        raise MessageIllegalError(
            f"The specified topic[{topic}] contains illegal characters, allowing only "
            "^[%|a-zA-Z0-9_-]+$"
        )
    if len(topic.encode()) > TOPIC_MAX_LENGTH:
        raise MessageIllegalError(
            f"The specified topic is longer than topic max length {TOPIC_MAX_LENGTH}."
        )


def is_system_topic(topic: str, own_topics: Container[str] = ()) -> bool:
    """TopicValidator.isSystemTopic. `own_topics`: the cluster and broker names (each
    broker registers its own and its cluster's name as topics) or a NameServer's list."""
    return topic in SYSTEM_TOPICS or topic.startswith(SYSTEM_TOPIC_PREFIX) or topic in own_topics


_SEND_ALLOWED_TOPICS: set[str] = set()  # names already checked (the checks never change)
_MAX_CHECKED_TOPICS = 100_000


def check_send_allowed(topic: str) -> None:
    if topic in _SEND_ALLOWED_TOPICS:
        return
    validate_topic(topic)
    if topic in NOT_ALLOWED_SEND_TOPICS:
        raise NoPermissionError(f"Sending message to topic[{topic}] is forbidden.")
    if topic == DEFAULT_TOPIC:
        raise MessageIllegalError(f"The topic[{topic}] is conflict with the default topic.")
    if len(_SEND_ALLOWED_TOPICS) >= _MAX_CHECKED_TOPICS:
        _SEND_ALLOWED_TOPICS.clear()
    _SEND_ALLOWED_TOPICS.add(topic)


@dataclass(slots=True)
class TopicConfig:
    topic_name: str
    read_queue_nums: int = 16
    write_queue_nums: int = 16
    perm: int = PERM_READ | PERM_WRITE
    topic_filter_type: str = "SINGLE_TAG"
    topic_sys_flag: int = 0
    order: bool = False
    # RocketMQ 5's topic attributes (topic_attributes.py), e.g. {"message.type": "FIFO"}.
    attributes: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "order": self.order,
            "perm": self.perm,
            "readQueueNums": self.read_queue_nums,
            "topicFilterType": self.topic_filter_type,
            "topicName": self.topic_name,
            "topicSysFlag": self.topic_sys_flag,
            "writeQueueNums": self.write_queue_nums,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TopicConfig:
        return cls(
            topic_name=str(data["topicName"]),
            read_queue_nums=int(data.get("readQueueNums", 16)),
            write_queue_nums=int(data.get("writeQueueNums", 16)),
            perm=int(data.get("perm", PERM_READ | PERM_WRITE)),
            topic_filter_type=str(data.get("topicFilterType", "SINGLE_TAG")),
            topic_sys_flag=int(data.get("topicSysFlag", 0)),
            order=bool(data.get("order", False)),
            attributes={str(k): str(v) for k, v in (data.get("attributes") or {}).items()},
        )


class DataVersion:
    __slots__ = ("counter", "timestamp")

    def __init__(self, counter: int = 0, timestamp: int | None = None) -> None:
        self.counter = counter
        self.timestamp = timestamp if timestamp is not None else int(time.time() * 1000)

    def next_version(self) -> None:
        self.counter += 1
        self.timestamp = int(time.time() * 1000)

    def to_json(self) -> dict[str, int]:
        return {"counter": self.counter, "timestamp": self.timestamp}

    def key(self) -> tuple[int, int]:
        return self.counter, self.timestamp


@dataclass(frozen=True, slots=True)
class TopicChanges:
    """What changed between two DataVersions (`base` and `head`, as `DataVersion.key()`):
    `topics` updated, or None when that is not all (a deletion, or a version or table
    replaced from outside, as slave sync does)."""

    base: tuple[int, int]
    head: tuple[int, int]
    topics: list[TopicConfig] | None


class TopicConfigManager:
    def __init__(self, config: BrokerConfig) -> None:
        self._config = config
        self.path = os.path.join(config.store_path_root_dir, "config", "topics.json")
        self.table: dict[str, TopicConfig] = {}
        self.data_version = DataVersion()
        self._add_system_topics()
        self._persisted_at = float("-inf")  # monotonic end of the last write
        self._persist_cost = 0.0  # seconds the last write took
        self._persist_timer: asyncio.TimerHandle | None = None
        self._reset_changes()

    def _add_system_topics(self) -> None:
        config = self._config
        self.table[SELF_TEST_TOPIC] = TopicConfig(SELF_TEST_TOPIC, 1, 1)
        if config.auto_create_topic_enable:
            queues = config.default_topic_queue_nums
            self.table[DEFAULT_TOPIC] = TopicConfig(
                DEFAULT_TOPIC, queues, queues, PERM_INHERIT | PERM_READ | PERM_WRITE
            )
        self.table[BENCHMARK_TOPIC] = TopicConfig(BENCHMARK_TOPIC, 1024, 1024)
        for name, enabled in (
            (config.broker_cluster_name, config.cluster_topic_enable),
            (config.broker_name, config.broker_topic_enable),
        ):
            perm = PERM_INHERIT | (PERM_READ | PERM_WRITE if enabled else 0)
            self.table[name] = TopicConfig(name, 1, 1, perm)
        self.table[OFFSET_MOVED_EVENT] = TopicConfig(OFFSET_MOVED_EVENT, 1, 1)
        self.table[SCHEDULE_TOPIC] = TopicConfig(SCHEDULE_TOPIC, 18, 18)

    def load(self) -> None:
        data = load_json_file(self.path)
        if not data:
            return
        for name, item in (data.get("topicConfigTable") or {}).items():
            self.table[name] = TopicConfig.from_json({"topicName": name, **item})
        version = data.get("dataVersion") or {}
        self.data_version = DataVersion(
            int(version.get("counter", 0)), int(version.get("timestamp", 0)) or None
        )
        self._reset_changes()

    def persist(self) -> None:
        """Write topics.json now (and drop any write still due). Writes outside a burst
        of changes (at start, at shutdown) do not space the next change's write: that
        one is answered only after it is on disk, as before any burst."""
        if self._persist_timer is not None:
            self._persist_timer.cancel()
            self._persist_timer = None
        persist_json_file(self.path, self.wrapper())

    def _persist_change(self) -> None:
        started = time.monotonic()
        self.persist()
        self._persisted_at = time.monotonic()
        self._persist_cost = self._persisted_at - started

    def _persist_soon(self) -> None:
        """Write now if the file has been quiet long enough, else once it has."""
        if self._persist_timer is not None:
            return  # the write already due will carry this change too
        quiet = self._persist_cost * (1 / PERSIST_DUTY - 1)
        wait = self._persisted_at + quiet - time.monotonic()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            wait = 0.0  # no event loop to write later from
        if wait <= 0:
            self._persist_change()
        else:
            self._persist_timer = loop.call_later(wait, self._persist_due)

    def _persist_due(self) -> None:
        self._persist_timer = None
        try:
            self._persist_change()
        except OSError:
            log.exception("persisting %s failed", self.path)

    def wrapper(self, topics: Iterable[TopicConfig] | None = None) -> dict[str, Any]:
        """TopicConfigSerializeWrapper: what REGISTER_BROKER and GET_ALL_TOPIC_CONFIG carry;
        with `topics`, just those (an incremental registration)."""
        configs = self.table.values() if topics is None else topics
        return {
            "dataVersion": self.data_version.to_json(),
            "topicConfigTable": {tc.topic_name: tc.to_json() for tc in configs},
        }

    def _reset_changes(self) -> None:
        self._changed: dict[str, None] = {}  # topic names, in order, since take_changes
        self._changes_complete = True
        self._changes_base = self._changes_head = self.data_version.key()

    def take_changes(self) -> TopicChanges:
        """The changes since the previous call (or since start), and start anew."""
        head = self.data_version.key()
        topics = None
        if self._changes_complete and self._changes_head == head:
            topics = [self.table[name] for name in self._changed]
        changes = TopicChanges(self._changes_base, head, topics)
        self._reset_changes()
        return changes

    def get(self, topic: str) -> TopicConfig | None:
        return self.table.get(topic)

    def update(self, topic_config: TopicConfig) -> None:
        self.table[topic_config.topic_name] = topic_config
        self.data_version.next_version()
        self._changed[topic_config.topic_name] = None
        self._changes_head = self.data_version.key()
        self._persist_soon()
        log.info("topic config updated: %s", topic_config)

    def create_or_update(
        self, topic_config: TopicConfig, attribute_changes: Mapping[str, str]
    ) -> None:
        """updateTopicConfig: store `topic_config` with the topic's attributes after
        `attribute_changes` (topic_attributes.parse_attributes' map; empty keeps them).

        Raises:
            TopicAttributeError: the change breaks an attribute rule; nothing is stored.
        """
        current = self.table.get(topic_config.topic_name)
        topic_config.attributes = alter_attributes(
            current is None, current.attributes if current else {}, attribute_changes
        )
        self.update(topic_config)

    def delete(self, topic: str) -> bool:
        if self.table.pop(topic, None) is None:
            return False
        self.data_version.next_version()
        self._changes_complete = False  # an increment cannot say "gone"
        self._persist_soon()
        log.info("topic %s deleted", topic)
        return True

    def create_in_send(self, topic: str, default_topic: str, queue_nums: int) -> TopicConfig | None:
        """Auto-create a topic on first send, from the default topic's template."""
        template = self.table.get(default_topic)
        if template is None or not self._config.auto_create_topic_enable:
            return None
        if default_topic != DEFAULT_TOPIC and not template.perm & PERM_INHERIT:
            return None
        queues = max(1, min(queue_nums, template.write_queue_nums))
        created = TopicConfig(topic, queues, queues, template.perm & ~PERM_INHERIT)
        self.update(created)
        return created

    def create_system_topic(self, topic: str, queue_nums: int, perm: int) -> TopicConfig:
        """Retry and DLQ topics are created on demand whatever autoCreateTopicEnable says."""
        existing = self.table.get(topic)
        if existing is not None:
            return existing
        created = TopicConfig(topic, queue_nums, queue_nums, perm)
        self.update(created)
        return created
