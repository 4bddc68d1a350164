"""SQL92 property filtering against real brokers: one with enablePropertyFilter=true, one
without (registered with the same NameServer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import orjson
import pytest

from orbitmq.client import (
    ConsumeStatus,
    Message,
    MessageExt,
    MessageQueue,
    MessageSelector,
    MQAdmin,
    MQBrokerError,
    MQClientError,
    Producer,
    PullConsumer,
    PullStatus,
    PushConsumer,
    SqlSyntaxError,
)
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import decode_records
from orbitmq.remoting.client import RemotingClient
from tests.integration.conftest import Cluster, make_cluster
from tests.integration.scenario import raw_pull_ext, wait_for
from tests.processes import ServerProcess, broker_properties, start_broker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TOPIC = "SqlTopic"
PLAIN_TOPIC = "SqlOffTopic"
COUNT = 40
SELECTOR = "(a BETWEEN 10 AND 29 AND region = 'eu') OR TAGS = 'vip'"


class Brokers:
    def __init__(self, cluster: Cluster, plain: ServerProcess, plain_port: int) -> None:
        self.cluster = cluster
        self.plain = plain
        self.plain_addr = f"127.0.0.1:{plain_port}"

    @property
    def namesrv_addr(self) -> str:
        return self.cluster.namesrv_addr


@pytest.fixture(scope="module")
def brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokers]:
    workdir = tmp_path_factory.mktemp("sql")
    cluster = make_cluster(workdir, brokerName="broker-sql", enablePropertyFilter="true")
    try:
        props = broker_properties(workdir, cluster.namesrv_addr, brokerName="broker-plain")
        plain = start_broker(workdir, props)
    except BaseException:
        cluster.stop()
        raise
    try:
        yield Brokers(cluster, plain, int(str(props["listenPort"])))
    finally:
        plain.stop()
        cluster.stop()


def expected(i: int) -> bool:
    return (10 <= i <= 29 and i % 2 == 0) or i % 7 == 0


def message(topic: str, i: int) -> Message:
    msg = Message(topic, f"m{i}".encode(), tags="vip" if i % 7 == 0 else "std")
    msg.properties["a"] = str(i)
    msg.properties["region"] = "eu" if i % 2 == 0 else "us"
    return msg


async def create_topic(admin: MQAdmin, addr: str, topic: str) -> None:
    await admin.create_topic(addr, topic, 2, 2)
    deadline = time.monotonic() + 15
    while True:
        try:
            if (await admin.topic_route(topic)).queue_datas:
                return
        except MQClientError:
            pass
        assert time.monotonic() < deadline, f"no route for {topic}"
        await asyncio.sleep(0.1)


async def _create_and_send(brokers: Brokers) -> list[Message]:
    async with MQAdmin(brokers.namesrv_addr) as admin:
        await create_topic(admin, brokers.cluster.broker_addr, TOPIC)
        await create_topic(admin, brokers.plain_addr, PLAIN_TOPIC)
    messages = [message(TOPIC, i) for i in range(COUNT)]
    async with Producer("PG_SQL", brokers.namesrv_addr) as producer:
        for msg in messages:
            await producer.send(msg)
    return messages


@pytest.fixture(scope="module")
def sent(brokers: Brokers) -> list[Message]:
    """The two topics, and COUNT messages with properties `a`, `region` and a tag."""
    return asyncio.run(_create_and_send(brokers))


async def raw(addr: str, code: int, ext: dict[str, str], body: bytes = b"") -> RemotingCommand:
    return (await on_one_connection(addr, (code, ext, body)))[0]


async def on_one_connection(
    addr: str, *requests: tuple[int, dict[str, str], bytes]
) -> list[RemotingCommand]:
    """The answers to `requests`, sent in order on one connection of their own (a
    heartbeat's registration lasts as long as its connection)."""
    client = RemotingClient()
    try:
        return [
            await client.invoke(addr, RemotingCommand.request(code, ext, body), 5.0)
            for code, ext, body in requests
        ]
    finally:
        await client.aclose()


async def test_push_consumer_gets_exactly_the_matching_messages(
    brokers: Brokers, sent: list[Message]
) -> None:
    got: list[MessageExt] = []

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        got.extend(msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    consumer = PushConsumer(
        "CG_SQL_PUSH", brokers.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    consumer.subscribe(TOPIC, MessageSelector.by_sql(SELECTOR))
    consumer.register_message_listener(listener)
    want = {f"m{i}".encode() for i in range(COUNT) if expected(i)}
    async with consumer:
        await wait_for(lambda: {m.body for m in got} >= want, 20, "matching messages missing")
        async with MQAdmin(brokers.namesrv_addr) as admin:
            # the broker stores the group's subscription as SQL92, as sent in heartbeats
            info = await admin.invoke(
                brokers.cluster.broker_addr,
                RequestCode.GET_CONSUMER_LIST_BY_GROUP,
                {"consumerGroup": "CG_SQL_PUSH"},
            )
            assert consumer.client_id in orjson.loads(info.body)["consumerIdList"]
    assert sorted(m.body for m in got) == sorted(want)


async def test_pull_consumer_and_the_broker_filter_by_sql(
    brokers: Brokers, sent: list[Message]
) -> None:
    want = sorted(f"m{i}".encode() for i in range(COUNT) if expected(i))
    bodies: list[bytes] = []
    async with PullConsumer("CG_SQL_PULL", brokers.namesrv_addr) as consumer:
        for mq in await consumer.fetch_message_queues(TOPIC):
            offset = 0
            while True:
                result = await consumer.pull(mq, MessageSelector.by_sql(SELECTOR), offset, 8)
                bodies += [m.body for m in result.messages]
                if result.status is PullStatus.NO_NEW_MSG:
                    break
                offset = result.next_begin_offset
    assert sorted(bodies) == want
    # The broker did the filtering: a raw pull returns only matching records.
    for queue_id in range(2):
        response = await raw(
            brokers.cluster.broker_addr,
            RequestCode.PULL_MESSAGE,
            raw_pull_ext("CG_SQL_RAW", TOPIC, queue_id, SELECTOR, "SQL92"),
        )
        assert response.code == ResponseCode.SUCCESS
        for record in decode_records(response.body):
            assert expected(int(record.properties["a"]))


async def test_bad_expressions_are_refused_with_their_position(
    brokers: Brokers, sent: list[Message]
) -> None:
    with pytest.raises(SqlSyntaxError, match="column 5") as info:
        MessageSelector.by_sql("a > ")
    assert info.value.column == 5
    consumer = PushConsumer("CG_SQL_BAD", brokers.namesrv_addr)
    with pytest.raises(SqlSyntaxError, match="column 11"):
        consumer.subscribe(TOPIC, MessageSelector("SQL92", "a BETWEEN 5 AND 1"))
    addr = brokers.cluster.broker_addr
    pulled = await raw(
        addr, RequestCode.PULL_MESSAGE, raw_pull_ext("CG_SQL_RAW", TOPIC, 0, "a >", "SQL92")
    )
    assert pulled.code == ResponseCode.SUBSCRIPTION_PARSE_FAILED
    assert "column 4" in (pulled.remark or "")
    subscription = {"topic": TOPIC, "subString": "a = 'x", "expressionType": "SQL92"}
    checked = await raw(
        addr,
        RequestCode.CHECK_CLIENT_CONFIG,
        {},
        orjson.dumps({"clientId": "c", "group": "G", "subscriptionData": subscription}),
    )
    assert checked.code == ResponseCode.SUBSCRIPTION_PARSE_FAILED
    assert "column 5" in (checked.remark or "")
    heartbeat = {
        "clientID": "127.0.0.1@bad",
        "consumerDataSet": [
            {
                "groupName": "CG_SQL_BAD",
                "consumeType": "CONSUME_PASSIVELY",
                "messageModel": "CLUSTERING",
                "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
                "subscriptionDataSet": [subscription],
            }
        ],
        "producerDataSet": [],
    }
    # As Java's broker: the heartbeat registers the client; its pulls are what fail.
    beat, members = await on_one_connection(
        addr,
        (RequestCode.HEART_BEAT, {}, orjson.dumps(heartbeat)),
        (RequestCode.GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": "CG_SQL_BAD"}, b""),
    )
    assert beat.code == ResponseCode.SUCCESS, beat.remark
    assert members.code == ResponseCode.SUCCESS


async def test_a_broker_without_property_filter_refuses_sql(
    brokers: Brokers, sent: list[Message]
) -> None:
    text = "The broker does not support consumer to filter message by SQL92"
    pulled = await raw(
        brokers.plain_addr,
        RequestCode.PULL_MESSAGE,
        raw_pull_ext("CG_SQL_RAW", PLAIN_TOPIC, 0, "a > 1", "SQL92"),
    )
    assert pulled.code == ResponseCode.SYSTEM_ERROR
    assert pulled.remark == text
    consumer = PushConsumer("CG_SQL_OFF", brokers.namesrv_addr)
    consumer.subscribe(PLAIN_TOPIC, MessageSelector.by_sql("a > 1"))
    consumer.register_message_listener(lambda msgs: ConsumeStatus.CONSUME_SUCCESS)
    with pytest.raises(MQBrokerError, match=text) as info:
        await consumer.start()
    assert info.value.response_code == ResponseCode.SYSTEM_ERROR
    # Tags still work there.
    async with PullConsumer("CG_SQL_OFF_TAGS", brokers.namesrv_addr) as reader:
        result = await reader.pull(MessageQueue(PLAIN_TOPIC, "broker-plain", 0), "*", 0, 8)
    assert result.status in (PullStatus.NO_NEW_MSG, PullStatus.OFFSET_ILLEGAL)


async def test_a_heartbeat_with_sql_is_accepted_where_sql_is_off(
    brokers: Brokers, sent: list[Message]
) -> None:
    """ali-ons (grpc-v5.md §14): one SQL92 subscription on a broker without
    enablePropertyFilter must not unregister the client's tag subscriptions and producer
    group; only the SQL92 pulls fail."""
    addr = brokers.plain_addr
    heartbeat = {
        "clientID": "127.0.0.1@ali-ons",
        "producerDataSet": [{"groupName": "PG_ALI_ONS"}],
        "consumerDataSet": [
            {
                "groupName": "CG_ALI_ONS",
                "consumeType": "CONSUME_PASSIVELY",
                "messageModel": "CLUSTERING",
                "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET",
                "subscriptionDataSet": [
                    {"topic": PLAIN_TOPIC, "subString": "a > 1", "expressionType": "SQL92"},
                    # A clustering consumer also subscribes its retry topic, by tag.
                    {"topic": "%RETRY%CG_ALI_ONS", "subString": "*", "expressionType": "TAG"},
                ],
            }
        ],
    }
    beat, members, producers = await on_one_connection(
        addr,
        (RequestCode.HEART_BEAT, {}, orjson.dumps(heartbeat)),
        (RequestCode.GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": "CG_ALI_ONS"}, b""),
        (RequestCode.GET_ALL_PRODUCER_INFO, {}, b""),
    )
    assert beat.code == ResponseCode.SUCCESS, beat.remark
    assert members.code == ResponseCode.SUCCESS
    assert orjson.loads(members.body)["consumerIdList"] == ["127.0.0.1@ali-ons"]
    assert "PG_ALI_ONS" in orjson.loads(producers.body)["data"]
    retry = raw_pull_ext("CG_ALI_ONS", "%RETRY%CG_ALI_ONS", 0, "*", "TAG")
    tags = await raw(addr, RequestCode.PULL_MESSAGE, retry)
    assert tags.code in (ResponseCode.SUCCESS, ResponseCode.PULL_NOT_FOUND), tags.remark
    sql = await raw(
        addr, RequestCode.PULL_MESSAGE, raw_pull_ext("CG_ALI_ONS", PLAIN_TOPIC, 0, "a > 1", "SQL92")
    )
    assert sql.code == ResponseCode.SYSTEM_ERROR
    assert sql.remark == "The broker does not support consumer to filter message by SQL92"
