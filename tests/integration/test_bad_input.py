"""Bad input closes one connection or gets an error answer; the broker keeps serving."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient, split_address
from tests.integration.conftest import Cluster

pytestmark = pytest.mark.slow


def send_header(topic: str, **extra: str) -> dict[str, str]:
    header = {
        "producerGroup": "PG",
        "topic": topic,
        "defaultTopic": "TBW102",
        "defaultTopicQueueNums": "4",
        "queueId": "0",
        "sysFlag": "0",
        "bornTimestamp": "1700000000000",
        "flag": "0",
        "properties": "TAGS\x01a",
    }
    header.update(extra)
    return header


async def invoke(address: str, request: RemotingCommand) -> RemotingCommand:
    client = RemotingClient()
    try:
        return await client.invoke(address, request, 5.0)
    finally:
        await client.aclose()


async def test_unknown_request_code_is_not_supported(cluster: Cluster) -> None:
    response = await invoke(cluster.broker_addr, RemotingCommand.request(9999))
    assert response.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    assert "9999" in (response.remark or "")


@pytest.mark.parametrize(
    ("topic", "needle"),
    [("bad topic!", "illegal characters"), ("x" * 200, "longer than"), ("TBW102", "default topic")],
)
async def test_invalid_topic_names_are_refused(cluster: Cluster, topic: str, needle: str) -> None:
    request = RemotingCommand.request(RequestCode.SEND_MESSAGE, send_header(topic), b"body")
    response = await invoke(cluster.broker_addr, request)
    assert response.code == ResponseCode.MESSAGE_ILLEGAL
    assert needle in (response.remark or "")


async def test_missing_required_header_field_is_named(cluster: Cluster) -> None:
    header = send_header("BadInputTopic")
    del header["bornTimestamp"]
    response = await invoke(
        cluster.broker_addr, RemotingCommand.request(RequestCode.SEND_MESSAGE, header, b"x")
    )
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert "bornTimestamp" in (response.remark or "")


async def test_body_over_max_message_size_is_illegal(cluster: Cluster) -> None:
    body = b"x" * (4 * 1024 * 1024 + 1)
    request = RemotingCommand.request(RequestCode.SEND_MESSAGE, send_header("BadInputTopic"), body)
    response = await invoke(cluster.broker_addr, request)
    assert response.code == ResponseCode.MESSAGE_ILLEGAL
    assert "4194304" in (response.remark or "")


async def test_oversized_and_garbage_frames_close_only_that_connection(cluster: Cluster) -> None:
    client = RemotingClient()
    try:
        ok = await client.invoke(
            cluster.broker_addr,
            RemotingCommand.request(
                RequestCode.SEND_MESSAGE, send_header("BadInputTopic"), b"kept"
            ),
            5.0,
        )
        assert ok.code == ResponseCode.SUCCESS
        host, port = split_address(cluster.broker_addr)
        for junk in (
            struct.pack(">i", 64 * 1024 * 1024) + b"\0" * 16,
            struct.pack(">ii", 12, 8) + b"{not json",
        ):
            with socket.create_connection((host, port), timeout=5) as sock:
                sock.sendall(junk)
                sock.settimeout(5)
                assert sock.recv(1) == b""  # the server closed this connection
        # The long-lived connection opened before still works, and so does a new one.
        again = await client.invoke(
            cluster.broker_addr,
            RemotingCommand.request(
                RequestCode.GET_MAX_OFFSET, {"topic": "BadInputTopic", "queueId": "0"}
            ),
            5.0,
        )
        assert again.code == ResponseCode.SUCCESS
        assert int(again.ext_fields["offset"]) >= 1
    finally:
        await client.aclose()
    await asyncio.sleep(0)


async def test_subscription_naming_no_tag_fails_to_parse(cluster: Cluster) -> None:
    send = RemotingCommand.request(RequestCode.SEND_MESSAGE, send_header("BadInputTopic"), b"x")
    assert (await invoke(cluster.broker_addr, send)).code == ResponseCode.SUCCESS
    header = {
        "consumerGroup": "CG_BAD_SUBSCRIPTION",
        "topic": "BadInputTopic",
        "queueId": "0",
        "queueOffset": "0",
        "maxMsgNums": "32",
        "sysFlag": "4",  # subscription carried in the request
        "commitOffset": "0",
        "suspendTimeoutMillis": "0",
        "subscription": "||",
        "subVersion": "0",
    }
    request = RemotingCommand.request(RequestCode.PULL_MESSAGE, header)
    response = await invoke(cluster.broker_addr, request)
    assert response.code == ResponseCode.SUBSCRIPTION_PARSE_FAILED == 23
    assert "||" in (response.remark or "")
