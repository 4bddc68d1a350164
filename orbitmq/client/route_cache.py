"""Topic routes fetched from the NameServers, cached, and refreshed by the owner every 30 s.

Theory of operation: `namesrv_addr` is split on ';'. Requests go to one NameServer chosen
at random and stay there while it answers; on a transport error the next one is tried,
each at most once per request. `refresh(topic)` stores the route and rebuilds the broker
address table (brokerName -> {brokerId: addr}) from every cached route, so brokers that
vanished from all routes are forgotten. Producers use `publish_info`, which falls back to
the default topic TBW102 (clamped to 4 queues) while a topic has no route yet (§4.5).

Consumers pull from the broker id a broker last suggested, and read and commit offsets at
the master; both fall back to a slave of the same broker set while the master is absent
from the routes (store-and-replication.md §8.8). A failed pull calls
`refresh_after_failure`, so a dead master leaves the table within a second or two rather
than at the next 30 s refresh.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Protocol

from orbitmq.client.errors import MQClientError, NoRouteError, error_for_code
from orbitmq.client.message import MessageQueue
from orbitmq.client.route import (
    MASTER_ID,
    BrokerData,
    TopicPublishInfo,
    TopicRouteData,
    parse_topic_route,
)
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.topics import DEFAULT_TOPIC
from orbitmq.remoting.errors import RemotingError

__all__ = [
    "RouteCache",
    "TopicPublishInfo",
    "TopicRouteData",
    "parse_topic_route",
    "split_namesrv_addr",
]

log = logging.getLogger(__name__)

ROUTE_TIMEOUT = 3.0
# A topic's route is fetched again after a failure at most this often.
REFRESH_AFTER_FAILURE_INTERVAL = 1.0


class Invoker(Protocol):
    """What sends the NameServer requests: a ClientTransport, or a RemotingClient."""

    async def invoke(
        self, address: str, command: RemotingCommand, timeout: float = ...
    ) -> RemotingCommand: ...


def split_namesrv_addr(namesrv_addr: str) -> list[str]:
    """'a:9876;b:9876' -> ['a:9876', 'b:9876'] (blank pieces dropped)."""
    addrs = [a.strip() for a in namesrv_addr.replace(",", ";").split(";") if a.strip()]
    if not addrs:
        raise MQClientError(f"no NameServer address in {namesrv_addr!r}")
    return addrs


class RouteCache:
    """Routes per topic and broker addresses, from the NameServers."""

    def __init__(
        self, remoting: Invoker, namesrv_addr: str, timeout: float = ROUTE_TIMEOUT
    ) -> None:
        self._remoting = remoting
        self.namesrv_addrs = split_namesrv_addr(namesrv_addr)
        self._ns_index = random.randrange(len(self.namesrv_addrs))
        self._timeout = timeout
        self.routes: dict[str, TopicRouteData] = {}
        self.broker_addrs: dict[str, dict[int, str]] = {}
        self._publish: dict[str, TopicPublishInfo] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._refreshed_at: dict[str, float] = {}
        self.on_brokers_changed: Callable[[], None] | None = None

    # NameServer requests ---------------------------------------------------------------
    async def invoke_namesrv(
        self, command: RemotingCommand, timeout: float | None = None
    ) -> RemotingCommand:
        """Send to the current NameServer; on a transport error fail over to the next one."""
        last_error: RemotingError | None = None
        count = len(self.namesrv_addrs)
        for attempt in range(count):
            index = (self._ns_index + attempt) % count
            addr = self.namesrv_addrs[index]
            try:
                response = await self._remoting.invoke(addr, command, timeout or self._timeout)
            except RemotingError as exc:
                log.warning("NameServer %s failed: %s", addr, exc)
                last_error = exc
                continue
            self._ns_index = index
            return response
        assert last_error is not None
        raise last_error

    async def query_route(self, topic: str) -> TopicRouteData | None:
        """GET_ROUTEINFO_BY_TOPIC; None when the NameServer knows no such topic."""
        command = RemotingCommand.request(
            RequestCode.GET_ROUTEINFO_BY_TOPIC,
            {"topic": topic, "acceptStandardJsonOnly": "true"},
        )
        response = await self.invoke_namesrv(command)
        if response.code == ResponseCode.TOPIC_NOT_EXIST:
            return None
        if response.code != ResponseCode.SUCCESS:
            raise error_for_code(response.code, response.remark)
        if not response.body:
            return None
        try:
            return parse_topic_route(response.body)
        except ValueError as exc:
            raise MQClientError(f"bad route for topic {topic!r}: {exc}") from exc

    # Cache -------------------------------------------------------------------------------
    async def refresh(self, topic: str) -> TopicRouteData | None:
        """Fetch and store the route of `topic` (kept unchanged if the topic vanished)."""
        self._refreshed_at[topic] = time.monotonic()
        route = await self.query_route(topic)
        if route is None:
            return None
        old = self.routes.get(topic)
        self.routes[topic] = route
        if old == route:
            return route
        if topic in self._publish:
            info = TopicPublishInfo(topic, route)
            if info.ok:
                self._publish[topic] = info
        self._rebuild_broker_addrs()
        return route

    async def refresh_after_failure(self, topic: str) -> None:
        """A broker of `topic` failed: refresh its route unless that was just done."""
        last = self._refreshed_at.get(topic)
        if last is not None and time.monotonic() - last < REFRESH_AFTER_FAILURE_INTERVAL:
            return
        try:
            await self.refresh(topic)
        except (RemotingError, MQClientError) as exc:
            log.warning("route refresh of %s after a failure failed: %s", topic, exc)

    def _rebuild_broker_addrs(self) -> None:
        table: dict[str, dict[int, str]] = {}
        for route in self.routes.values():
            for broker in route.broker_datas:
                table.setdefault(broker.broker_name, {}).update(broker.broker_addrs)
        changed = table != self.broker_addrs
        self.broker_addrs = table
        if changed and self.on_brokers_changed is not None:
            self.on_brokers_changed()

    def cached_publish_info(self, topic: str) -> TopicPublishInfo | None:
        """The write queues of `topic` if already known and usable, else None."""
        info = self._publish.get(topic)
        return info if info is not None and info.ok else None

    async def publish_info(self, topic: str) -> TopicPublishInfo:
        """Write queues of `topic`, fetching its route (or TBW102's) on first use.

        Raises:
            NoRouteError: neither the topic nor TBW102 has a writable route.
        """
        info = self._publish.get(topic)
        if info is not None and info.ok:
            return info
        lock = self._locks.setdefault(topic, asyncio.Lock())
        async with lock:
            info = self._publish.get(topic)
            if info is not None and info.ok:
                return info
            route = await self.refresh(topic)
            info = TopicPublishInfo(topic, route) if route is not None else None
            if info is None or not info.ok:
                default = await self.refresh(DEFAULT_TOPIC)
                if default is not None:
                    info = TopicPublishInfo(topic, default.as_default_topic_route())
            if info is None or not info.ok:
                raise NoRouteError(
                    f"No route info of this topic: {topic} (NameServers {self.namesrv_addrs})"
                )
            self._publish[topic] = info
            return info

    @property
    def publish_topics(self) -> list[str]:
        return list(self._publish)

    async def subscribe_queues(self, topic: str) -> list[MessageQueue]:
        """Read queues of `topic`, fetching the route if it is not cached."""
        route = self.routes.get(topic) or await self.refresh(topic)
        return route.subscribe_queues(topic) if route is not None else []

    # Addresses ---------------------------------------------------------------------------
    def master_addr(self, broker_name: str) -> str | None:
        return self.broker_addrs.get(broker_name, {}).get(MASTER_ID)

    async def find_master(self, broker_name: str, topic: str | None = None) -> str:
        """The master of `broker_name`, refreshing `topic`'s route once if unknown.

        Raises:
            MQClientError: the broker set has no master in any known route.
        """
        addr = self.master_addr(broker_name)
        if addr is None and topic is not None:
            await self.refresh(topic)
            addr = self.master_addr(broker_name)
        if addr is None:
            raise MQClientError(f"the broker[{broker_name}] master does not exist")
        return addr

    def find_subscribe_addr(self, broker_name: str, broker_id: int = MASTER_ID) -> str | None:
        """Address for pulls and offsets (findBrokerAddressInSubscribe): `broker_id`, for a
        slave id also the next id, else the lowest id present (the master while it is up)."""
        addrs = self.broker_addrs.get(broker_name)
        if not addrs:
            return None
        addr = addrs.get(broker_id)
        if addr is None and broker_id != MASTER_ID:
            addr = addrs.get(broker_id + 1)
        return addr or addrs[min(addrs)]

    async def find_offset_addr(self, broker_name: str, topic: str) -> str:
        """Where a group's offsets of `broker_name` are read and committed: the master, or a
        slave while the master is down; `topic`'s route is refreshed once if the set is unknown.

        Raises:
            MQClientError: no broker of the set is known.
        """
        addr = self.find_subscribe_addr(broker_name)
        if addr is None:
            await self.refresh(topic)
            addr = self.find_subscribe_addr(broker_name)
        if addr is None:
            raise MQClientError(f"the broker[{broker_name}] does not exist")
        return addr

    def any_broker_addr(self, topic: str) -> str | None:
        """A random broker of the topic's route (GET_CONSUMER_LIST_BY_GROUP target)."""
        route = self.routes.get(topic)
        if route is None or not route.broker_datas:
            return None
        broker: BrokerData = random.choice(route.broker_datas)
        return broker.select_addr()

    def all_broker_addrs(self, masters_only: bool) -> set[str]:
        if masters_only:
            return {a[MASTER_ID] for a in self.broker_addrs.values() if MASTER_ID in a}
        return {addr for addrs in self.broker_addrs.values() for addr in addrs.values()}
