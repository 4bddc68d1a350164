"""GET_ALL_PRODUCER_INFO (328): every producer known from heartbeats, by producer group
(AdminBrokerProcessor.getAllProducerInfo, ProducerManager.getProducerTable).

No request header is read. The body is a ProducerTableInfo:
  {"data": {"<group>": [{"clientId": "...", "remoteIP": "/127.0.0.1:50012",
                         "language": "JAVA", "version": 409,
                         "lastUpdateTimestamp": 1700000000000}]}}
`remoteIP` is written as Java's InetSocketAddress.toString() writes a channel's peer
(a leading "/"), and `lastUpdateTimestamp` is the last heartbeat in wall-clock ms.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand, language_name
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController
    from orbitmq.broker.client_manager import ClientChannelInfo


def producer_info(info: ClientChannelInfo, wall_ms: int, monotonic: float) -> dict[str, Any]:
    """One ProducerInfo; `wall_ms`/`monotonic` are the same instant on the two clocks
    (heartbeat times are kept on the monotonic one)."""
    return {
        "clientId": info.client_id,
        "remoteIP": f"/{info.connection.peer_address}",
        "language": language_name(info.language),
        "version": info.version,
        "lastUpdateTimestamp": wall_ms - int((monotonic - info.last_update) * 1000),
    }


class ProducerInfoHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        dispatcher.register(RequestCode.GET_ALL_PRODUCER_INFO, self.get_all_producer_info)  # type: ignore[attr-defined]

    def get_all_producer_info(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        wall_ms, monotonic = time.time_ns() // 1_000_000, time.monotonic()
        table = {
            group: [producer_info(info, wall_ms, monotonic) for info in channels.values()]
            for group, channels in self._broker.client_manager.producer_groups.items()
            if channels
        }
        return request.response(body=orjson.dumps({"data": table}))
