"""Admin body parsers (orbitmq.client.admin_bodies) and the Java-format tables of the
topic, group and broker commands (orbitmq.admin.tables, orbitmq.admin.consumer_info)."""

from __future__ import annotations

import datetime as dt

import pytest

from orbitmq.admin.consumer_info import process_queue_warnings, running_info_text, same_subscription
from orbitmq.admin.tables import (
    MQ_VERSIONS,
    broker_consume_stats_lines,
    broker_status_lines,
    config_lines,
    consumer_connection_lines,
    consumer_progress_lines,
    group_list_row,
    human_time2,
    producer_connection_lines,
    topic_status_lines,
    version_desc,
)
from orbitmq.client.admin_bodies import (
    ConsumerConnection,
    message_queue_of,
    parse_broker_stats_data,
    parse_consume_stats,
    parse_consume_stats_list,
    parse_consumer_connection,
    parse_running_info,
    parse_topic_stats,
)
from orbitmq.client.errors import MQClientError
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.fastjson import loads_tolerant

MQ0 = '{"brokerName":"broker-a","queueId":0,"topic":"T"}'
MQ1 = '{"brokerName":"broker-a","queueId":1,"topic":"T"}'


def stamp(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def test_version_desc_is_mqversion() -> None:
    assert len(MQ_VERSIONS) == 613 and MQ_VERSIONS[-1] == "HIGHER_VERSION"
    assert [version_desc(v) for v in (0, 15, 16, 62, 409, 413, 10_000)] == [
        "V3_0_0_SNAPSHOT", "V3_0_0_FINAL", "V3_0_1_SNAPSHOT", "V3_1_8_SNAPSHOT", "V4_9_8",
        "V5_0_0", "HIGHER_VERSION",
    ]  # fmt: skip


def test_message_queue_keys_in_every_form() -> None:
    expected = MessageQueue("T", "broker-a", 0)
    table = loads_tolerant("{" + MQ0 + ":1}")
    assert message_queue_of(next(iter(table))) == expected
    assert message_queue_of({"topic": "T", "brokerName": "broker-a", "queueId": "0"}) == expected
    assert message_queue_of(MQ0) == expected
    with pytest.raises(MQClientError, match="not a MessageQueue key"):
        message_queue_of({"topic": "T"})


def test_topic_status_table() -> None:
    ms = 1_700_000_000_123
    body = loads_tolerant(
        '{"offsetTable":{'
        + MQ1
        + ':{"lastUpdateTimestamp":0,"maxOffset":0,"minOffset":0},'
        + MQ0
        + f':{{"lastUpdateTimestamp":{ms},"maxOffset":9,"minOffset":2}}}}}}'
    )
    lines = topic_status_lines(parse_topic_stats(body))
    assert lines == [
        f"{'#Broker Name':<32}  #QID  {'#Min Offset':<20}  {'#Max Offset':<20}    #Last Updated",
        f"{'broker-a':<32}  0     {2:<20}  {9:<20}    {human_time2(ms)}",
        f"{'broker-a':<32}  1     {0:<20}  {0:<20}    ",
    ]
    assert human_time2(ms).endswith(",123")


def test_consumer_progress_table_and_totals() -> None:
    stats = parse_consume_stats(loads_tolerant(
        '{"consumeTps":2.345,"offsetTable":{' + MQ0 + ':{"brokerOffset":10,"consumerOffset":4,'
        '"lastTimestamp":1700000000000},' + MQ1 + ':{"brokerOffset":3,"consumerOffset":3}}}'
    ))  # fmt: skip
    lines = consumer_progress_lines(stats)
    assert lines[0].split() == ["#Topic", "#Broker", "Name", "#QID", "#Broker", "Offset",
                                "#Consumer", "Offset", "#Diff", "#LastTime"]  # fmt: skip
    assert lines[1].split() == ["T", "broker-a", "0", "10", "4", "6", *stamp(1700000000000).split()]
    assert lines[2].split() == ["T", "broker-a", "1", "3", "3", "0", "N/A"]
    assert lines[-3:] == ["", "Consume TPS: 2.35", "Diff Total: 6"]
    with_ip = consumer_progress_lines(stats, {MessageQueue("T", "broker-a", 0): "10.0.0.1"})
    assert "#Client IP" in with_ip[0] and "10.0.0.1" in with_ip[1] and "N/A" in with_ip[2]


def test_group_rows_and_connections() -> None:
    raw = {
        "connectionSet": [
            {"clientAddr": "1.2.3.4:5", "clientId": "c2", "language": "JAVA", "version": 409},
            {"clientAddr": "1.2.3.4:6", "clientId": "c1", "language": "CPP", "version": 63},
        ],
        "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
        "consumeType": "CONSUME_PASSIVELY",
        "messageModel": "CLUSTERING",
        "subscriptionTable": {"T": {"topic": "T", "subString": "A || B"}},
    }
    cc = parse_consumer_connection(raw)
    assert [c.client_id for c in cc.connections] == ["c1", "c2"] and cc.min_version() == 63
    row = group_list_row("G", cc, parse_consume_stats({"consumeTps": 3.9})).split()
    assert row == ["G", "2", "V3_1_8", "PUSH", "CLUSTERING", "3", "0"]
    offline = group_list_row("G", None, None).split()
    assert offline == ["G", "0", "OFFLINE", "0", "0"]
    pull = ConsumerConnection(cc.connections, {}, "CONSUME_ACTIVELY", "CLUSTERING", "")
    assert group_list_row("G", pull, None).split()[3:5] == ["PULL", "0"]
    lines = consumer_connection_lines(cc)
    assert lines[1].split() == ["c1", "1.2.3.4:6", "CPP", "V3_1_8"]
    assert lines[4:7] == ["Below is subscription:", "#Topic               #SubExpression",
                          "T                    A || B"]  # fmt: skip
    assert producer_connection_lines(cc.connections)[0].split() == [
        "0001",
        "c1",
        "1.2.3.4:6",
        "CPP",
        "V3_1_8",
    ]


def test_broker_tables() -> None:
    assert broker_status_lines({"b": "2", "a": "1"}) == [f"{'a':<32}: 1", f"{'b':<32}: 2"]
    assert broker_status_lines({"a": "1"}, "1.1.1.1:10911") == [
        f"{'1.1.1.1:10911':<24} {'a':<32}: 1"
    ]
    assert config_lines("x:1", {"k": "v"}) == ["============x:1============", f"{'k':<50}=  v"]
    listed = parse_consume_stats_list(loads_tolerant(
        '{"brokerAddr":"a:1","consumeStatsList":[{"G":[{"consumeTps":0.0,"offsetTable":{'
        + MQ0 + ':{"brokerOffset":5,"consumerOffset":2,"lastTimestamp":1700000000000},'
        + MQ1 + ':{"brokerOffset":5,"consumerOffset":0,"lastTimestamp":0}}}]},{"H":[]}],'
        '"totalDiff":8}'
    ))  # fmt: skip
    lines = broker_consume_stats_lines(listed)
    assert [line.split()[:7] for line in lines[1:-2]] == [
        ["T", "G", "broker-a", "0", "5", "2", "3"]
    ]
    assert lines[-1] == "Diff Total: 8"
    assert len(broker_consume_stats_lines(listed, diff_level=4)) == 3  # header, blank, total
    stats = parse_broker_stats_data(
        {
            "statsDay": {"sum": 0},
            "statsHour": {"sum": 7, "tps": 1.0},
            "statsMinute": {"sum": 2, "tps": 0.5, "avgpt": 0.0},
        }
    )
    assert (stats.sum_24h(), stats.minute.tps) == (7, 0.5)


def test_running_info_text_and_checks() -> None:
    now = 1_700_000_000_000
    info = parse_running_info(loads_tolerant(
        '{"jstack":"","mqTable":{' + MQ0 + ':{"cachedMsgCount":3,"commitOffset":7,"droped":false,'
        '"lastConsumeTimestamp":1699999000000,"locked":false}},"properties":{"PROP_CONSUME_TYPE":'
        '"CONSUME_PASSIVELY","PROP_CONSUMER_START_TIMESTAMP":"1600000000000"},"statusTable":{"T":'
        '{"consumeFailedMsgs":2,"pullRT":1.5}},"subscriptionSet":[{"classFilterMode":false,'
        '"subString":"*","topic":"T"}]}'
    ))  # fmt: skip
    text = running_info_text(info)
    assert text.startswith(
        "#Consumer Properties#\n" + f"{'PROP_CONSUMER_START_TIMESTAMP':<40}: 1600000000000\n"
    )
    assert f"001 Topic: {'T':<40} ClassFilter: false    SubExpression: *\n" in text
    assert f"{'T':<32}  {'broker-a':<32}  0     7" in text
    assert (
        "ProcessQueueInfo [commitOffset=7, cachedMsgCount=3, locked=false, droped=false, " in text
    )
    assert text.endswith("\n\n\n#Consumer jstack#\n")
    other = parse_running_info({"properties": info.properties, "subscriptionSet": [{"topic": "X"}]})
    assert same_subscription({"a": info}, now)
    assert not same_subscription({"a": info, "b": other}, now)
    warnings = process_queue_warnings("c1", info, now)
    assert warnings == ["c1 MessageQueue [topic=T, brokerName=broker-a, queueId=0] can't consume "
                        "for a while, maybe blocked, 1000000ms"]  # fmt: skip
