"""The proxy's 5.x clients, keyed by their `x-mq-client-id` header: their settings
(uploaded over Telemetry) and the Telemetry stream the proxy pushes commands into."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from orbitmq.proxy.apis import definition_pb2 as pb
from orbitmq.proxy.apis import service_pb2 as spb


@dataclass(slots=True)
class ClientSession:
    client_id: str
    client_type: int = pb.CLIENT_TYPE_UNSPECIFIED
    namespace: str = ""
    language: str = ""
    topics: set[str] = field(default_factory=set)  # a producer's declared topics
    group: str | None = None
    subscriptions: dict[str, pb.FilterExpression] = field(default_factory=dict)
    settings: pb.Settings | None = None
    outbox: asyncio.Queue[spb.TelemetryCommand | None] | None = None
    last_heartbeat: float = 0.0  # when a 4.x heartbeat last went out for it
    last_seen: float = field(default_factory=time.monotonic)

    @property
    def is_consumer(self) -> bool:
        return self.client_type in (pb.PUSH_CONSUMER, pb.SIMPLE_CONSUMER)

    def push(self, command: spb.TelemetryCommand) -> bool:
        """Write a server command into the client's Telemetry stream, if one is open."""
        if self.outbox is None:
            return False
        self.outbox.put_nowait(command)
        return True

    def heartbeat_due(self, period: float) -> bool:
        now = time.monotonic()
        if now - self.last_heartbeat < period:
            return False
        self.last_heartbeat = now
        return True


class SessionTable:
    def __init__(self) -> None:
        self._sessions: dict[str, ClientSession] = {}
        self._pruned_at = time.monotonic()

    def get(self, client_id: str) -> ClientSession | None:
        return self._sessions.get(client_id)

    def get_or_create(self, client_id: str) -> ClientSession:
        session = self._sessions.get(client_id)
        if session is None:
            session = self._sessions[client_id] = ClientSession(client_id)
        session.last_seen = time.monotonic()
        return session

    def prune(self, idle_seconds: float) -> list[ClientSession]:
        """Forget clients gone without NotifyClientTermination (killed, say): no
        Telemetry stream and nothing heard for `idle_seconds`. Looks at most once a
        tenth of that."""
        now = time.monotonic()
        if now - self._pruned_at < idle_seconds / 10:
            return []
        self._pruned_at = now
        gone = [
            s
            for s in self._sessions.values()
            if s.outbox is None and now - s.last_seen > idle_seconds
        ]
        for session in gone:
            del self._sessions[session.client_id]
        return gone

    def remove(self, client_id: str) -> ClientSession | None:
        return self._sessions.pop(client_id, None)

    def producers_of(self, topic: str) -> list[ClientSession]:
        """Producers that declared `topic` and have a Telemetry stream open."""
        return [
            s
            for s in self._sessions.values()
            if s.client_type == pb.PRODUCER and topic in s.topics and s.outbox is not None
        ]

    def close_streams(self) -> None:
        for session in self._sessions.values():
            if session.outbox is not None:
                session.outbox.put_nowait(None)

    def __len__(self) -> int:
        return len(self._sessions)
