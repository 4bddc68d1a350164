"""RouteCache against a scripted NameServer (fastjson-style bodies, TBW102 fallback)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from orbitmq.client.errors import NoRouteError
from orbitmq.client.message import MessageQueue
from orbitmq.client.route_cache import RouteCache
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.server import RemotingServer

TBW102_ROUTE = (
    b'{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},'
    b'"brokerName":"broker-a","cluster":"C"}],"filterServerTable":{},"queueDatas":'
    b'[{"brokerName":"broker-a","perm":7,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}'
)


class FakeNamesrv:
    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {"TBW102": TBW102_ROUTE}
        self.asked: list[str] = []

    def handle(self, conn: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        topic = request.ext_fields["topic"]
        self.asked.append(topic)
        body = self.routes.get(topic)
        if body is None:
            return request.response(ResponseCode.TOPIC_NOT_EXIST, f"No topic route info {topic}")
        return request.response(body=body)


@pytest.fixture
async def namesrv() -> AsyncIterator[tuple[FakeNamesrv, str]]:
    fake = FakeNamesrv()
    dispatcher = RequestDispatcher("fake namesrv")
    dispatcher.register(RequestCode.GET_ROUTEINFO_BY_TOPIC, fake.handle)
    server = RemotingServer(dispatcher, "127.0.0.1", [0])
    await server.start()
    try:
        yield fake, f"127.0.0.1:{server.bound_ports[0]}"
    finally:
        await server.aclose()


async def test_unknown_topic_falls_back_to_tbw102(namesrv: tuple[FakeNamesrv, str]) -> None:
    fake, addr = namesrv
    client = RemotingClient()
    cache = RouteCache(client, addr)
    try:
        info = await cache.publish_info("NewTopic")
        assert fake.asked == ["NewTopic", "TBW102"]
        assert info.queues == [MessageQueue("NewTopic", "broker-a", i) for i in range(4)]
        assert cache.master_addr("broker-a") == "10.0.0.1:10911"
        assert cache.find_subscribe_addr("broker-a", 1) == "10.0.0.2:10911"
        assert cache.all_broker_addrs(masters_only=True) == {"10.0.0.1:10911"}
        # cached: no further NameServer request
        await cache.publish_info("NewTopic")
        assert len(fake.asked) == 2
        # once the topic exists, a refresh replaces the TBW102-based queues
        fake.routes["NewTopic"] = TBW102_ROUTE.replace(b'"writeQueueNums":8', b'"writeQueueNums":2')
        await cache.refresh("NewTopic")
        info = await cache.publish_info("NewTopic")
        assert [q.queue_id for q in info.queues] == [0, 1]
    finally:
        await client.aclose()


async def test_no_route_at_all(namesrv: tuple[FakeNamesrv, str]) -> None:
    fake, addr = namesrv
    del fake.routes["TBW102"]
    client = RemotingClient()
    cache = RouteCache(client, f"127.0.0.1:1;{addr}")
    try:
        with pytest.raises(NoRouteError, match="NewTopic"):
            await cache.publish_info("NewTopic")
        assert await cache.subscribe_queues("NewTopic") == []
    finally:
        await client.aclose()
