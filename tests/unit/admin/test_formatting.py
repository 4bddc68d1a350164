"""mqadmin output: RocketMQ's column formats and Java toString()s."""

from __future__ import annotations

import json

from orbitmq.admin.formatting import (
    CLUSTER_LIST_FORMAT,
    BrokerRow,
    cluster_list_lines,
    cluster_more_stats_lines,
    perm_to_string,
    pretty_json,
    send_result_lines,
    topic_cluster_lines,
    topic_config_str,
)

NOW = 1_700_000_000_000
RUNTIME = {
    "brokerVersionDesc": "OrbitMQ 0.1.0",
    "putTps": "1234.5 1000.0 900.0",
    "getTransferedTps": "99.25 0.0 0.0",
    "sendThreadPoolQueueSize": "3",
    "sendThreadPoolQueueHeadWaitTimeMills": "1",
    "pullThreadPoolQueueSize": "0",
    "pullThreadPoolQueueHeadWaitTimeMills": "0",
    "pageCacheLockTimeMills": "0",
    "earliestMessageTimeStamp": str(NOW - 2 * 3_600_000),
    "commitLogDiskRatio": "0.12345",
    "msgPutTotalYesterdayMorning": "10",
    "msgPutTotalTodayMorning": "110",
    "msgPutTotalTodayNow": "160",
    "msgGetTotalYesterdayMorning": "0",
    "msgGetTotalTodayMorning": "20",
    "msgGetTotalTodayNow": "25",
}


def test_perm_to_string() -> None:
    assert perm_to_string(6) == "RW-"
    assert perm_to_string(7) == "RWX"
    assert perm_to_string(4) == "R--"
    assert perm_to_string(2) == "-W-"
    assert perm_to_string(0) == "---"


def test_topic_config_str_matches_java() -> None:
    text = topic_config_str("TopicTest", 8, 8, 6, "SINGLE_TAG", 0, False)
    assert text == (
        "TopicConfig [topicName=TopicTest, readQueueNums=8, writeQueueNums=8, perm=RW-, "
        "topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false]"
    )


def test_cluster_list_header_and_row_columns() -> None:
    row = BrokerRow("DefaultCluster", "broker-a", 0, "127.0.0.1:10911", RUNTIME)
    header, line = cluster_list_lines([row], NOW)
    assert header.startswith("#Cluster Name     #Broker Name            #BID  #Addr")
    assert header.split() == [
        "#Cluster", "Name", "#Broker", "Name", "#BID", "#Addr", "#Version",
        "#InTPS(LOAD)", "#OutTPS(LOAD)", "#PCWait(ms)", "#Hour", "#SPACE",
    ]  # fmt: skip
    expected = CLUSTER_LIST_FORMAT % (
        "DefaultCluster", "broker-a", 0, "127.0.0.1:10911", "OrbitMQ 0.1.0",
        "  1234.50(3,1ms)", "    99.25(0,0ms)", "0", "2.00", "0.1235",
    )  # fmt: skip
    assert line == expected
    # Columns line up with the header: the address starts under "#Addr".
    assert line.index("127.0.0.1:10911") == header.index("#Addr")


def test_cluster_list_without_runtime_info_prints_empty_stats() -> None:
    row = BrokerRow("C", "b", 1, "10.0.0.2:10911", None)
    _, line = cluster_list_lines([row], NOW)
    assert "     0.00(,ms)" in line
    assert line.rstrip().endswith("0.00 0.0000")


def test_cluster_list_zero_earliest_timestamp_is_zero_hours() -> None:
    table = {**RUNTIME, "earliestMessageTimeStamp": "0"}
    _, line = cluster_list_lines([BrokerRow("C", "b", 0, "a:1", table)], NOW)
    assert " 0.00 " in line


def test_cluster_more_stats() -> None:
    header, line = cluster_more_stats_lines([BrokerRow("C", "b", 0, "a:1", RUNTIME)])
    assert header.split()[-4:] == [
        "#InTotalYest",
        "#OutTotalYest",
        "#InTotalToday",
        "#OutTotalToday",
    ]
    assert line.split() == ["C", "b", "100", "20", "50", "5"]


def test_topic_cluster_lines_skip_retry_and_dlq_and_print_empty_group() -> None:
    lines = topic_cluster_lines(
        [
            ("DefaultCluster", "TopicA", ["G1", "G2"]),
            ("DefaultCluster", "%RETRY%G1", []),
            ("DefaultCluster", "%DLQ%G1", []),
            ("", "Lonely", []),
        ]
    )
    assert lines[0] == f"{'#Cluster Name':<20}  {'#Topic':<48}  {'#Consumer Group':<48}"
    assert [line.split() for line in lines[1:]] == [
        ["DefaultCluster", "TopicA", "G1"],
        ["DefaultCluster", "TopicA", "G2"],
        ["Lonely"],
    ]


def test_send_result_lines() -> None:
    header, line = send_result_lines("broker-a", 3, "SEND_OK", "ABCD")
    assert header == "#Broker Name                      #QID  #Send Result            #MsgId"
    assert line == "broker-a                          3     SEND_OK                 ABCD"
    assert send_result_lines(None, None, None, None)[1].split() == [
        "Unknown", "Unknown", "Failed", "None",
    ]  # fmt: skip


def test_pretty_json_is_tab_indented_sorted_and_compact() -> None:
    route = {
        "queueDatas": [{"writeQueueNums": 4, "brokerName": "b"}],
        "brokerDatas": [{"brokerAddrs": {"0": "127.0.0.1:10911"}}],
        "filterServerTable": {},
    }
    text = pretty_json(route)
    assert json.loads(text) == route
    lines = text.splitlines()
    assert lines[1] == '\t"brokerDatas":['
    assert '\t\t\t\t"0":"127.0.0.1:10911"' in lines
    assert '\t"filterServerTable":{},' in lines
    assert text.index('"brokerName"') < text.index('"writeQueueNums"')
