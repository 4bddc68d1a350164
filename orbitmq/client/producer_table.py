"""ProducerTableInfo, the body of GET_ALL_PRODUCER_INFO (328): a broker's producers by
producer group (ProducerTableInfo.java, ProducerInfo.java). Pure code.

  {"data": {"<group>": [{"clientId", "remoteIP", "language", "version",
                         "lastUpdateTimestamp"}]}}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ProducerInfo:
    client_id: str
    remote_ip: str  # the broker's view of the producer's address, as Java writes it
    language: str
    version: int
    last_update_timestamp: int  # ms, the producer's last heartbeat


def parse_producer_table(data: dict[str, Any]) -> dict[str, list[ProducerInfo]]:
    """Producer group -> its producers, in the broker's order."""
    table: dict[str, list[ProducerInfo]] = {}
    for group, producers in (data.get("data") or {}).items():
        table[str(group)] = [
            ProducerInfo(
                str(p.get("clientId", "")),
                str(p.get("remoteIP", "")),
                str(p.get("language", "")),
                int(p.get("version", 0)),
                int(p.get("lastUpdateTimestamp", 0)),
            )
            for p in producers or []
        ]
    return table
