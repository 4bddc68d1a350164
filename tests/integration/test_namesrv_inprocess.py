"""A real NameServer on a free loopback port, spoken to over TCP."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson
import pytest

from orbitmq.namesrv.config import NamesrvConfig
from orbitmq.namesrv.server import NamesrvController
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.frame import encode_frame
from orbitmq.remoting.client import RemotingClient

BROKER = "127.0.0.1:10911"
REGISTER_EXT = {
    "brokerName": "broker-a",
    "brokerAddr": BROKER,
    "clusterName": "DefaultCluster",
    "haServerAddr": "127.0.0.1:10912",
    "brokerId": "0",
}
REGISTER_BODY = (
    b'{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":1,'
    b'"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"perm":6,"readQueueNums":4,'
    b'"topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}}}}'
)


def make_config(tmp_path: Path, **overrides: object) -> NamesrvConfig:
    config = NamesrvConfig(
        listen_port=0, host="127.0.0.1", kv_config_path=str(tmp_path / "kvConfig.json")
    )
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


@pytest.fixture
async def namesrv(tmp_path: Path) -> AsyncIterator[NamesrvController]:
    controller = NamesrvController(make_config(tmp_path))
    await controller.start()
    try:
        yield controller
    finally:
        await controller.aclose()


@pytest.fixture
async def client() -> AsyncIterator[RemotingClient]:
    c = RemotingClient()
    try:
        yield c
    finally:
        await c.aclose()


def addr(controller: NamesrvController) -> str:
    return f"127.0.0.1:{controller.port}"


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.01)


async def register(client: RemotingClient, address: str) -> RemotingCommand:
    request = RemotingCommand.request(
        RequestCode.REGISTER_BROKER, dict(REGISTER_EXT), REGISTER_BODY
    )
    return await client.invoke(address, request)


async def route(client: RemotingClient, address: str, topic: str = "TopicTest") -> RemotingCommand:
    request = RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
    return await client.invoke(address, request)


async def raw_exchange(port: int, frame: bytes) -> tuple[dict[str, object], bytes]:
    """Send one frame on a bare socket and return the response's JSON header and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(frame)
        total, word = struct.unpack(">ii", await reader.readexactly(8))
        rest = await reader.readexactly(total - 4)
    finally:
        writer.close()
        await writer.wait_closed()
    assert word >> 24 == 0  # JSON, the only type the C++ client reads
    header_len = word & 0xFFFFFF
    return orjson.loads(rest[:header_len]), rest[header_len:]


async def test_register_and_route_bytes(namesrv: NamesrvController, client: RemotingClient) -> None:
    response = await register(client, addr(namesrv))
    assert response.code == ResponseCode.SUCCESS
    header, body = await raw_exchange(
        namesrv.port,
        encode_frame(
            RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": "TopicTest"})
        ),
    )
    assert header["code"] == 0 and header["flag"] == 1 and header["extFields"] == {}
    assert body == (
        b'{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a",'
        b'"cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":'
        b'"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}'
    )
    assert b", " not in body and b": " not in body


async def test_error_responses_carry_ext_fields(namesrv: NamesrvController) -> None:
    frame = encode_frame(
        RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": "X"})
    )
    header, _ = await raw_exchange(namesrv.port, frame)
    assert header["code"] == ResponseCode.TOPIC_NOT_EXIST and header["extFields"] == {}
    assert str(header["remark"]).startswith("No topic route info in name server for the topic: X")


async def test_unknown_code(namesrv: NamesrvController, client: RemotingClient) -> None:
    response = await client.invoke(addr(namesrv), RemotingCommand.request(9999))
    assert response.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    assert response.remark == " request type 9999 not supported"


async def test_broker_dropped_when_its_connection_closes(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    broker = RemotingClient()
    try:
        assert (await register(broker, addr(namesrv))).code == 0
        assert (await route(client, addr(namesrv))).code == 0
    finally:
        await broker.aclose()

    async def route_gone() -> bool:
        return (await route(client, addr(namesrv))).code == ResponseCode.TOPIC_NOT_EXIST

    await wait_until(route_gone)
    assert namesrv.route_table.broker_live_table == {}


async def test_client_connection_close_keeps_brokers(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    await register(client, addr(namesrv))
    other = RemotingClient()
    try:
        assert (await route(other, addr(namesrv))).code == 0
    finally:
        await other.aclose()
    await asyncio.sleep(0.05)
    assert (await route(client, addr(namesrv))).code == 0


async def test_oversized_frame_closes_only_that_connection(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    await register(client, addr(namesrv))
    reader, writer = await asyncio.open_connection("127.0.0.1", namesrv.port)
    try:
        writer.write(struct.pack(">ii", 17 * 1024 * 1024, 0) + b"x" * 100)
        async with asyncio.timeout(3):
            with contextlib.suppress(ConnectionResetError):  # an abort is a close too
                assert await reader.read() == b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionResetError):
            await writer.wait_closed()
    assert (await route(client, addr(namesrv))).code == 0  # others unaffected


async def test_kv_persisted_across_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    put = RemotingCommand.request(
        RequestCode.PUT_KV_CONFIG, {"namespace": "ns", "key": "k", "value": "v"}
    )
    get = {"namespace": "ns", "key": "k"}
    async with NamesrvController(config) as first:
        c = RemotingClient()
        try:
            assert (await c.invoke(addr(first), put)).code == 0
        finally:
            await c.aclose()
    assert orjson.loads((tmp_path / "kvConfig.json").read_bytes()) == {
        "configTable": {"ns": {"k": "v"}}
    }
    async with NamesrvController(make_config(tmp_path)) as second:
        c = RemotingClient()
        try:
            request = RemotingCommand.request(RequestCode.GET_KV_CONFIG, get)
            response = await c.invoke(addr(second), request)
        finally:
            await c.aclose()
    assert (response.code, response.ext_fields) == (0, {"value": "v"})


async def test_expiry_scan_removes_silent_broker(tmp_path: Path) -> None:
    now = [1_700_000_000_000]
    config = make_config(tmp_path, scan_initial_delay_ms=0, scan_not_active_broker_interval_ms=10)
    async with NamesrvController(config, clock=lambda: now[0]) as controller:
        c = RemotingClient()
        try:
            assert (await register(c, addr(controller))).code == 0
            await asyncio.sleep(0.05)
            assert BROKER in controller.route_table.broker_live_table  # 0 s of silence
            now[0] += 121_000

            async def expired() -> bool:
                return BROKER not in controller.route_table.broker_live_table

            await wait_until(expired)
            assert (await route(c, addr(controller))).code == ResponseCode.TOPIC_NOT_EXIST
        finally:
            await c.aclose()
