"""GET_ALL_PRODUCER_INFO (328): the producers a broker knows from heartbeats, by group,
in RocketMQ's ProducerTableInfo shape, registered with the client handlers."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import orjson

from orbitmq.broker.client_manager import ClientChannelInfo, ClientManager
from orbitmq.broker.handlers.client import ClientHandler
from orbitmq.broker.handlers.producer_info import ProducerInfoHandler
from orbitmq.client.producer_table import ProducerInfo, parse_producer_table
from orbitmq.protocol.codes import LanguageCode, RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand


class Connection:
    def __init__(self, peer_address: str) -> None:
        self.peer_address = peer_address


class Dispatcher:
    def __init__(self) -> None:
        self.handlers: dict[int, Any] = {}

    def register(self, code: int, handler: Any) -> None:
        self.handlers[code] = handler


def test_registered_beside_the_client_handlers() -> None:
    dispatcher = Dispatcher()
    ClientHandler(SimpleNamespace()).register(dispatcher)  # type: ignore[arg-type]
    assert RequestCode.GET_ALL_PRODUCER_INFO == 328
    assert RequestCode.GET_ALL_PRODUCER_INFO in dispatcher.handlers
    assert RequestCode.HEART_BEAT in dispatcher.handlers


def test_producers_by_group_as_rocketmq_writes_them() -> None:
    manager = ClientManager()
    java = ClientChannelInfo(Connection("10.0.0.5:50012"), "10.0.0.5@1", "JAVA", 409)
    java.last_update = time.monotonic() - 2.0  # its last heartbeat, two seconds ago
    manager.register_producer("PG", java)
    manager.register_producer("PG", ClientChannelInfo(Connection("10.0.0.6:1"), "b@2", 3, 413))
    manager.register_producer("Gone", ClientChannelInfo(Connection("10.0.0.7:1"), "c@3", "GO", 1))
    manager.producer_groups["Gone"].clear()  # its only producer left
    handler = ProducerInfoHandler(SimpleNamespace(client_manager=manager))  # type: ignore[arg-type]

    before = time.time_ns() // 1_000_000
    request = RemotingCommand.request(RequestCode.GET_ALL_PRODUCER_INFO, {})
    response = handler.get_all_producer_info(Connection("admin"), request)  # type: ignore[arg-type]
    assert response.code == ResponseCode.SUCCESS
    raw = orjson.loads(response.body)
    assert set(raw) == {"data"} and set(raw["data"]) == {"PG"}
    first = raw["data"]["PG"][0]
    assert set(first) == {"clientId", "remoteIP", "language", "version", "lastUpdateTimestamp"}
    assert abs(first["lastUpdateTimestamp"] - (before - 2000)) < 1000

    table = parse_producer_table(raw)
    assert [(p.client_id, p.remote_ip, p.language, p.version) for p in table["PG"]] == [
        ("10.0.0.5@1", "/10.0.0.5:50012", "JAVA", 409),
        ("b@2", "/10.0.0.6:1", LanguageCode.PYTHON.name, 413),  # a numeric code, named
    ]
    assert isinstance(table["PG"][0], ProducerInfo)
