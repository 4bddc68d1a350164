"""Incremental registration: after topic changes a NameServer that holds the previous
version gets just the changed topics; one that may not (new connection, a failure,
other changes) gets the whole table. In-process broker and NameServer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orbitmq.broker import registration
from orbitmq.broker.broker import BrokerController
from orbitmq.broker.topic_config import TopicConfig
from orbitmq.namesrv.server import NamesrvController
from tests.unit.inprocess import broker_config, start_namesrv


class Harness:
    def __init__(self, namesrv: NamesrvController, broker: BrokerController) -> None:
        self.namesrv = namesrv
        self.broker = broker
        self.sent: list[int] = []  # topics in each register body built since start

    @property
    def all_topics(self) -> int:
        return len(self.broker.topic_config_manager.table)

    def namesrv_topics(self) -> set[str]:
        return set(self.namesrv.route_table.broker_topics.get("broker-a", set()))

    async def create(self, *names: str) -> None:
        for name in names:
            self.broker.topic_config_manager.update(TopicConfig(name, 8, 8))
        await self.broker.registration.register_all()


@pytest.fixture
async def h(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    namesrv = await start_namesrv(tmp_path)
    broker = BrokerController(broker_config(tmp_path, f"127.0.0.1:{namesrv.port}"))
    harness = Harness(namesrv, broker)
    real = registration.register_body

    def recording(wrapper: dict[str, Any], permission: int) -> bytes:
        harness.sent.append(len(wrapper["topicConfigTable"]))
        return real(wrapper, permission)

    monkeypatch.setattr(registration, "register_body", recording)
    await broker.start()
    try:
        yield harness
    finally:
        await broker.aclose()
        await namesrv.aclose()


async def test_topic_changes_are_registered_alone(h: Harness) -> None:
    assert h.sent == [h.all_topics]  # start: the whole table
    await h.create("A")
    await h.create("B", "C")
    assert h.sent[1:] == [1, 2]
    assert {"A", "B", "C"} <= h.namesrv_topics()
    assert len(h.namesrv_topics()) == h.all_topics
    stored = h.namesrv.route_table.query_broker_data_version(h.broker.config.broker_addr)
    assert (
        stored is not None and stored.counter == h.broker.topic_config_manager.data_version.counter
    )


async def test_periodic_registration_carries_the_whole_table(h: Harness) -> None:
    await h.broker.registration.register_all()
    assert h.sent[-1] == h.all_topics


async def test_a_new_connection_gets_the_whole_table(h: Harness) -> None:
    # The NameServer drops a broker whose connection closes (it may also have restarted).
    h.broker.registration._client.close_connection(h.broker.config.namesrv_addr)
    await h.create("A")
    assert h.sent[-1] == h.all_topics
    assert "A" in h.namesrv_topics()


async def test_after_a_refused_registration_the_whole_table_follows(h: Harness) -> None:
    table = h.namesrv.route_table
    real = table.register_broker

    def refuse(*args: Any) -> Any:
        raise RuntimeError("refused once")

    table.register_broker = refuse  # type: ignore[method-assign]
    await h.create("Lost")
    table.register_broker = real  # type: ignore[method-assign]
    assert "Lost" not in h.namesrv_topics()
    await h.create("Next")
    assert h.sent[-1] == h.all_topics
    assert {"Lost", "Next"} <= h.namesrv_topics()


async def test_deletion_or_permission_change_gets_the_whole_table(h: Harness) -> None:
    h.broker.topic_config_manager.update(TopicConfig("Gone"))
    h.broker.topic_config_manager.delete("Gone")
    await h.create("A")
    assert h.sent[-1] == h.all_topics
    h.broker.config.broker_permission = 4  # read only
    await h.create("B")
    assert h.sent[-1] == h.all_topics
    assert h.namesrv.route_table.topic_queue_table["A"]["broker-a"].perm == 4
