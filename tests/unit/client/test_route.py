import pytest

from orbitmq.client.message import MessageQueue
from orbitmq.client.route import TopicPublishInfo, parse_topic_route
from orbitmq.protocol.fastjson import quote_numeric_keys

QUOTED = (
    b'{"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,'
    b'"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}],"brokerDatas":[{"brokerAddrs":'
    b'{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"C"}]}'
)
UNQUOTED = QUOTED.replace(b'"0":', b"0:").replace(b'"1":', b"1:")


@pytest.mark.parametrize(
    "body",
    [
        QUOTED,
        UNQUOTED,
        UNQUOTED.replace(b'{0:"', b'{ 0 : "').replace(b',1:"', b',\n1:"'),
        QUOTED.decode().replace('"0":', '"0": ').encode(),
    ],
    ids=["quoted", "unquoted", "unquoted-spaces", "quoted-spaces"],
)
def test_broker_addrs_key_forms(body: bytes) -> None:
    route = parse_topic_route(body)
    assert route.broker_datas[0].broker_addrs == {0: "10.0.0.1:10911", 1: "10.0.0.2:10911"}
    assert route.broker_datas[0].master_addr == "10.0.0.1:10911"
    assert route.broker_datas[0].cluster == "C"
    assert route.queue_datas[0].read_queue_nums == 4
    assert route.queue_datas[0].perm == 6


def test_quoting_leaves_strings_alone() -> None:
    text = '{"a":"x,1:y{2:z","m":{3:"{4:\\"5:"},"l":[1,2]}'
    assert quote_numeric_keys(text) == '{"a":"x,1:y{2:z","m":{"3":"{4:\\"5:"},"l":[1,2]}'


def test_malformed_route_raises_value_error() -> None:
    with pytest.raises(ValueError):
        parse_topic_route(b"{not json")
    with pytest.raises(ValueError):
        parse_topic_route(b'{"queueDatas":[{"perm":6}]}')


def route_with(*queue_datas: str, brokers: str) -> bytes:
    return f'{{"queueDatas":[{",".join(queue_datas)}],"brokerDatas":[{brokers}]}}'.encode()


def qd(name: str, read: int, write: int, perm: int) -> str:
    return (
        f'{{"brokerName":"{name}","readQueueNums":{read},"writeQueueNums":{write},'
        f'"perm":{perm},"topicSysFlag":0}}'
    )


def bd(name: str, addrs: str) -> str:
    return f'{{"brokerName":"{name}","cluster":"C","brokerAddrs":{{{addrs}}}}}'


def test_publish_queues_need_write_perm_and_a_master() -> None:
    body = route_with(
        qd("b", 2, 3, 6),
        qd("a", 2, 2, 6),
        qd("ro", 2, 2, 4),
        qd("slave-only", 2, 2, 6),
        brokers=",".join(
            [
                bd("a", '0:"1.1.1.1:1"'),
                bd("b", '0:"2.2.2.2:1"'),
                bd("ro", '0:"3.3.3.3:1"'),
                bd("slave-only", '1:"4.4.4.4:1"'),
            ]
        ),
    )
    route = parse_topic_route(body)
    assert route.publish_queues("T") == [
        MessageQueue("T", "a", 0),
        MessageQueue("T", "a", 1),
        MessageQueue("T", "b", 0),
        MessageQueue("T", "b", 1),
        MessageQueue("T", "b", 2),
    ]


def test_subscribe_queues_need_read_perm() -> None:
    body = route_with(
        qd("b", 2, 0, 4),
        qd("a", 1, 4, 6),
        qd("wo", 3, 3, 2),
        brokers=bd("a", '0:"1.1.1.1:1"'),
    )
    assert parse_topic_route(body).subscribe_queues("T") == [
        MessageQueue("T", "a", 0),
        MessageQueue("T", "b", 0),
        MessageQueue("T", "b", 1),
    ]


def test_order_topic_conf_overrides_queue_datas() -> None:
    body = (
        b'{"orderTopicConf":"a:2;b:1","queueDatas":[],"brokerDatas":'
        b'[{"brokerName":"a","brokerAddrs":{"0":"x:1"}}]}'
    )
    assert parse_topic_route(body).publish_queues("T") == [
        MessageQueue("T", "a", 0),
        MessageQueue("T", "a", 1),
        MessageQueue("T", "b", 0),
    ]


def test_default_topic_route_is_clamped_to_four() -> None:
    body = route_with(qd("a", 8, 8, 7), qd("b", 2, 8, 7), brokers=bd("a", '0:"x:1"'))
    clamped = parse_topic_route(body).as_default_topic_route()
    assert [(q.read_queue_nums, q.write_queue_nums) for q in clamped.queue_datas] == [
        (4, 4),
        (2, 2),
    ]


def test_select_queue_round_robin_and_avoids_failed_broker() -> None:
    body = route_with(
        qd("a", 2, 2, 6),
        qd("b", 2, 2, 6),
        brokers=bd("a", '0:"x:1"') + "," + bd("b", '0:"y:1"'),
    )
    info = TopicPublishInfo("T", parse_topic_route(body))
    picks = [info.select_queue() for _ in range(8)]
    assert sorted(set(picks)) == info.queues
    assert all(picks[i] != picks[i + 1] for i in range(7))
    for _ in range(10):
        assert info.select_queue("a").broker_name == "b"


def test_select_queue_falls_back_when_only_the_failed_broker_exists() -> None:
    body = route_with(qd("a", 2, 2, 6), brokers=bd("a", '0:"x:1"'))
    info = TopicPublishInfo("T", parse_topic_route(body))
    assert info.select_queue("a").broker_name == "a"
