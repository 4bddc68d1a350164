"""TopicConfigManager: the change journal behind incremental registration, and topics.json
writes spaced out in bursts of changes so that N changes never cost N whole rewrites."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orbitmq.broker import topic_config
from orbitmq.broker.config import BrokerConfig
from orbitmq.broker.topic_config import TopicConfig, TopicConfigManager
from orbitmq.config_file import load_json_file


@pytest.fixture
def manager(tmp_path: Path) -> TopicConfigManager:
    return TopicConfigManager(BrokerConfig(store_path_root_dir=str(tmp_path)).finish())


def on_disk(manager: TopicConfigManager) -> set[str]:
    data = load_json_file(manager.path) or {}
    return set(data.get("topicConfigTable") or {})


def test_changes_list_updated_topics_between_versions(manager: TopicConfigManager) -> None:
    start = manager.data_version.key()
    manager.update(TopicConfig("A", 8, 8))
    manager.update(TopicConfig("B", 8, 8))
    manager.update(TopicConfig("A", 4, 4))
    changes = manager.take_changes()
    assert changes.base == start and changes.head == manager.data_version.key()
    assert changes.topics == [TopicConfig("A", 4, 4), TopicConfig("B", 8, 8)]
    again = manager.take_changes()
    assert (again.base, again.head, again.topics) == (changes.head, changes.head, [])


def test_a_deletion_makes_the_changes_incomplete(manager: TopicConfigManager) -> None:
    manager.update(TopicConfig("A"))
    manager.delete("A")
    assert manager.take_changes().topics is None
    manager.update(TopicConfig("B"))
    assert manager.take_changes().topics == [TopicConfig("B")]


def test_a_version_set_from_outside_makes_the_changes_incomplete(
    manager: TopicConfigManager,
) -> None:
    manager.update(TopicConfig("A"))
    manager.data_version.next_version()  # as UPDATE_BROKER_CONFIG brokerPermission does
    assert manager.take_changes().topics is None


def test_without_event_loop_every_change_is_written(manager: TopicConfigManager) -> None:
    manager.update(TopicConfig("A"))
    manager.update(TopicConfig("B"))
    assert {"A", "B"} <= on_disk(manager)


async def test_a_burst_of_changes_is_written_in_few_rewrites(
    manager: TopicConfigManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    real = topic_config.persist_json_file

    def counting(path: str, value: dict[str, dict[str, object]]) -> None:
        writes.append(len(value["topicConfigTable"]))
        real(path, value)

    monkeypatch.setattr(topic_config, "persist_json_file", counting)
    manager.update(TopicConfig("First"))  # quiet file: written at once
    assert len(writes) == 1 and "First" in on_disk(manager)
    manager._persist_cost = 0.02  # as if a write took 20 ms: the next waits 180 ms
    for n in range(200):
        manager.update(TopicConfig(f"T{n}"))
    assert len(writes) == 1  # answered, not yet written
    await asyncio.sleep(0.5)
    assert len(writes) == 2 and {f"T{n}" for n in range(200)} <= on_disk(manager)


async def test_persist_writes_what_is_due_at_once(manager: TopicConfigManager) -> None:
    manager.update(TopicConfig("First"))
    manager._persist_cost = 10.0
    manager.update(TopicConfig("Due"))
    assert "Due" not in on_disk(manager)
    manager.persist()  # as the broker does when it stops
    assert "Due" in on_disk(manager)
