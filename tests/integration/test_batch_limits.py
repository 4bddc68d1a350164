"""What a batch may not be, checked by a real broker (maxMessageSize=65536) and, where
the body cannot tell, by the client: one topic, no delay level, no retry topic, not
transactional, within the size limit. Each refusal names its reason and stores nothing."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from orbitmq.client import IllegalMessageError, Message, MQBrokerError, Producer
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import BatchEntry, encode_batch
from orbitmq.remoting.client import RemotingClient
from tests.integration.conftest import Cluster, make_cluster

pytestmark = pytest.mark.slow

MAX_SIZE = 65536


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = make_cluster(tmp_path_factory.mktemp("batch"), maxMessageSize=MAX_SIZE)
    try:
        yield running
    finally:
        running.stop()


async def raw_batch(
    cluster: Cluster,
    topic: str,
    entries: list[BatchEntry],
    *,
    sys_flag: int = 0,
    properties: str = "WAIT\x01true",
) -> RemotingCommand:
    ext = {
        "a": "PG_BATCH_RAW",
        "b": topic,
        "c": "TBW102",
        "d": "4",
        "e": "0",
        "f": str(sys_flag),
        "g": str(int(time.time() * 1000)),
        "h": "0",
        "i": properties,
        "m": "true",
    }
    client = RemotingClient()
    try:
        return await client.invoke(
            cluster.broker_addr,
            RemotingCommand(
                code=RequestCode.SEND_BATCH_MESSAGE, ext_fields=ext, body=encode_batch(entries)
            ),
            5.0,
        )
    finally:
        await client.aclose()


def entry(body: bytes, **properties: str) -> BatchEntry:
    return BatchEntry(body, 0, {"UNIQ_KEY": f"U{time.time_ns()}", **properties})


async def max_offset(cluster: Cluster, topic: str) -> int:
    client = RemotingClient()
    try:
        response = await client.invoke(
            cluster.broker_addr,
            RemotingCommand.request(RequestCode.GET_MAX_OFFSET, {"topic": topic, "queueId": "0"}),
            5.0,
        )
    finally:
        await client.aclose()
    return int(response.ext_fields.get("offset", "0")) if response.code == 0 else 0


async def test_oversized_batch_is_refused_with_the_numbers(cluster: Cluster) -> None:
    topic = "BatchTooBig"
    async with Producer("PG_BATCH", cluster.namesrv_addr, max_message_size=4 << 20) as producer:
        fits = [Message(topic, b"s" * 1000) for _ in range(3)]
        result = await producer.send_batch(fits)
        queue = result.message_queue
        too_big = [Message(topic, b"x" * 30_000) for _ in range(3)]  # 90 KB > 64 KiB
        with pytest.raises(MQBrokerError) as caught:
            incompressible = os.urandom(MAX_SIZE + 1)
            await producer.send_to_queue(Message(topic, incompressible), queue)
        assert caught.value.code == ResponseCode.MESSAGE_ILLEGAL
        with pytest.raises(MQBrokerError) as caught:
            await producer.send_batch(too_big)
    assert caught.value.code == ResponseCode.MESSAGE_ILLEGAL
    assert "maxMessageSize" in str(caught.value) and str(MAX_SIZE) in str(caught.value)
    client = RemotingClient()
    try:
        response = await client.invoke(
            cluster.broker_addr,
            RemotingCommand.request(
                RequestCode.GET_MAX_OFFSET, {"topic": topic, "queueId": str(queue.queue_id)}
            ),
            5.0,
        )
    finally:
        await client.aclose()
    assert response.ext_fields["offset"] == "3"  # only the batch that fits


async def test_client_refuses_what_the_broker_cannot_see(cluster: Cluster) -> None:
    async with Producer("PG_BATCH_CLIENT", cluster.namesrv_addr) as producer:
        with pytest.raises(IllegalMessageError, match="same topic"):
            await producer.send_batch([Message("BatchA", b"a"), Message("BatchB", b"b")])
        with pytest.raises(IllegalMessageError, match="delayed"):
            await producer.send_batch([Message("BatchA", b"a", delay_time_level=2)])
        with pytest.raises(IllegalMessageError, match="retry topic"):
            await producer.send_batch([Message("%RETRY%G", b"a")])


@pytest.mark.parametrize(
    ("topic", "entries", "sys_flag", "says"),
    [
        ("BatchDelay", [entry(b"a"), entry(b"b", DELAY="2")], 0, "delay level"),
        ("%RETRY%CG_BATCH", [entry(b"a")], 0, "retry group"),
        ("BatchTx", [entry(b"a", TRAN_MSG="true")], 4, "transactional"),
    ],
)
async def test_broker_refuses_batches_it_cannot_store(
    cluster: Cluster, topic: str, entries: list[BatchEntry], sys_flag: int, says: str
) -> None:
    response = await raw_batch(cluster, topic, entries, sys_flag=sys_flag)
    assert response.code == ResponseCode.MESSAGE_ILLEGAL
    assert says in (response.remark or ""), response.remark
    assert await max_offset(cluster, topic) == 0
    assert await max_offset(cluster, "SCHEDULE_TOPIC_XXXX") == 0


async def test_a_batch_with_delay_level_zero_is_fine(cluster: Cluster) -> None:
    response = await raw_batch(cluster, "BatchDelayZero", [entry(b"a", DELAY="0"), entry(b"b")])
    assert response.code == ResponseCode.SUCCESS, response.remark
    assert len(response.ext_fields["msgId"].split(",")) == 2
