"""Topic attributes: the `+key=value,-key` text (AttributeParser), the change rules
(AttributeUtil.alterCurrentAttributes), and TopicConfig keeping the result in topics.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from orbitmq.broker.config import BrokerConfig
from orbitmq.broker.errors import TopicAttributeError
from orbitmq.broker.topic_attributes import alter_attributes, attributes_to_text, parse_attributes
from orbitmq.broker.topic_config import TopicConfig, TopicConfigManager
from orbitmq.config_file import load_json_file


def test_parse_keeps_signs_and_round_trips() -> None:
    changes = parse_attributes("+message.type=FIFO,-reserve.time")
    assert changes == {"+message.type": "FIFO", "-reserve.time": ""}
    assert attributes_to_text(changes) == "+message.type=FIFO,-reserve.time"
    assert parse_attributes("") == parse_attributes(None) == {}
    assert parse_attributes("+message.type=FIFO,") == {"+message.type": "FIFO"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("message.type=FIFO", "add/alter attribute format is wrong: message.type=FIFO"),
        ("+message.type=", "add/alter attribute format is wrong: +message.type="),
        ("message.type", "delete attribute format is wrong: message.type"),
        ("+message.type=FIFO,+message.type=NORMAL", "key duplication: +message.type"),
    ],
)
def test_parse_refuses_bad_text(text: str, message: str) -> None:
    with pytest.raises(TopicAttributeError) as refused:
        parse_attributes(text)
    assert message in str(refused.value)


def test_a_new_topic_takes_any_known_attribute() -> None:
    created = alter_attributes(
        True, {}, parse_attributes("+message.type=DELAY,+queue.type=SimpleCQ")
    )
    assert created == {"message.type": "DELAY", "queue.type": "SimpleCQ"}
    assert alter_attributes(True, {}, {}) == {}


def test_an_existing_topic_changes_adds_and_deletes() -> None:
    current = {"message.type": "FIFO", "reserve.time": "60"}
    assert alter_attributes(False, current, {}) == current
    changed = alter_attributes(False, current, parse_attributes("+message.type=MIXED"))
    assert changed == {"message.type": "MIXED", "reserve.time": "60"}
    deleted = alter_attributes(False, current, parse_attributes("-message.type"))
    assert deleted == {"reserve.time": "60"}
    assert current == {"message.type": "FIFO", "reserve.time": "60"}  # not touched


@pytest.mark.parametrize(
    ("create", "current", "text", "message"),
    [
        (True, {}, "+message.type=BATCH", r"value is not in set: \[DELAY, FIFO, MIXED, NORMAL"),
        (True, {}, "+colour=red", "unsupported key: colour"),
        (True, {}, "-message.type", "only add attribute is supported while creating topic"),
        (False, {}, "-message.type", "attempt to delete a nonexistent key: message.type"),
        (False, {}, "+queue.type=SimpleCQ", "attempt to update an unchangeable attribute"),
        (True, {}, "+a-b=c", "kv string format wrong"),
        (True, {}, "+message.type=FIFO,-message.type", "alter duplication key"),
        (True, {}, "+queue.type=BatchCQ", "queue.type=BatchCQ is not supported by OrbitMQ"),
        (True, {}, "+reserve.time=soon", "reserve.time=soon is not a number"),
        (True, {}, "+reserve.time=-2", r"value is not in range\(-1, "),
    ],
)
def test_changes_breaking_a_rule_are_refused(
    create: bool, current: dict[str, str], text: str, message: str
) -> None:
    with pytest.raises(TopicAttributeError, match=message):
        alter_attributes(create, current, parse_attributes(text))


def test_topics_json_keeps_attributes_across_a_reload(tmp_path: Path) -> None:
    config = BrokerConfig(store_path_root_dir=str(tmp_path)).finish()
    manager = TopicConfigManager(config)
    manager.create_or_update(TopicConfig("Typed", 4, 4), parse_attributes("+message.type=FIFO"))
    manager.create_or_update(TopicConfig("Typed", 8, 8), {})  # an update without -a
    manager.create_or_update(TopicConfig("Plain", 4, 4), {})
    manager.persist()
    table = (load_json_file(manager.path) or {})["topicConfigTable"]
    assert table["Typed"]["attributes"] == {"message.type": "FIFO"}
    assert table["Typed"]["readQueueNums"] == 8
    assert table["Plain"]["attributes"] == {}
    reloaded = TopicConfigManager(config)
    reloaded.load()
    assert reloaded.table["Typed"].attributes == {"message.type": "FIFO"}
    with pytest.raises(TopicAttributeError):
        reloaded.create_or_update(TopicConfig("Typed", 8, 8), parse_attributes("+colour=red"))
    assert reloaded.table["Typed"].attributes == {"message.type": "FIFO"}  # nothing stored
    # A 4.x topics.json (no attributes) still loads.
    assert TopicConfig.from_json({"topicName": "Old", "perm": 6}).attributes == {}
