"""mqadmin commands run as real subprocesses against a real NameServer and broker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.integration.conftest import Cluster
from tests.processes import free_port, wait_until

pytestmark = pytest.mark.slow

COMMAND_TIMEOUT = 60.0


def run_admin(*args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NAMESRV_ADDR"}
    return subprocess.run(
        [sys.executable, "-m", "orbitmq", "admin", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def admin(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return run_admin(*args, "-n", cluster.namesrv_addr)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def broker_name(cluster: Cluster) -> str:
    return str(cluster.broker_props["brokerName"])


def route_of(cluster: Cluster, topic: str) -> dict[str, object] | None:
    result = admin(cluster, "topicRoute", "-t", topic)
    return json.loads(result.stdout) if result.returncode == 0 else None


def create_topic(cluster: Cluster, topic: str, *extra: str) -> str:
    out = ok(admin(cluster, "updateTopic", "-c", "DefaultCluster", "-t", topic, *extra))
    wait_until(lambda: route_of(cluster, topic) is not None, 15, 0.2, f"{topic} never routed")
    return out


def test_no_command_lists_the_commands() -> None:
    out = ok(run_admin())
    assert out.startswith("The most commonly used mqadmin commands are:")
    for name in ("updateTopic", "topicList", "topicRoute", "clusterList", "sendMessage"):
        assert name in out


def test_command_help() -> None:
    out = ok(run_admin("consumeMessage", "-h"))
    assert out.startswith("usage: mqadmin consumeMessage [--accessKey <arg>] [-b <arg>] [-c <arg>]")
    assert " -t <arg>" in out.splitlines()[0] + out.splitlines()[1]  # required: no brackets
    for flag in ("-t,--topic <arg>", "-b,--brokerName <arg>", "-i,--queueId <arg>",
                 "-o,--offset <arg>", "-n,--namesrvAddr <arg>", "-h,--help"):  # fmt: skip
        assert f"\n {flag} " in out


def test_cluster_list_shows_the_broker(cluster: Cluster) -> None:
    lines = ok(admin(cluster, "clusterList")).splitlines()
    assert lines[0].split()[:5] == ["#Cluster", "Name", "#Broker", "Name", "#BID"]
    row = next(line for line in lines[1:] if cluster.broker_addr in line)
    fields = row.split()
    assert fields[:4] == ["DefaultCluster", broker_name(cluster), "0", cluster.broker_addr]
    assert row.index(cluster.broker_addr) == lines[0].index("#Addr")
    assert re.search(r"\d+\.\d{2}\(\S*ms\)", row), row  # InTPS(LOAD) from runtime info
    more = ok(admin(cluster, "clusterList", "-m")).splitlines()
    assert "#InTotalToday" in more[0]
    assert more[1].split()[:2] == ["DefaultCluster", broker_name(cluster)]


def test_update_topic_on_cluster_then_route_and_list(cluster: Cluster) -> None:
    out = create_topic(cluster, "AdminTopicC", "-r", "4", "-w", "4")
    assert f"create topic to {cluster.broker_addr} success." in out
    assert (
        "TopicConfig [topicName=AdminTopicC, readQueueNums=4, writeQueueNums=4, perm=RW-, "
        "topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false]"
    ) in out
    route_text = ok(admin(cluster, "topicRoute", "-t", "AdminTopicC"))
    assert route_text.startswith("{\n\t")
    route = json.loads(route_text)
    assert route["queueDatas"] == [
        {"brokerName": broker_name(cluster), "perm": 6, "readQueueNums": 4, "topicSysFlag": 0,
         "writeQueueNums": 4}
    ]  # fmt: skip
    assert route["brokerDatas"][0]["brokerAddrs"] == {"0": cluster.broker_addr}
    assert "AdminTopicC" in ok(admin(cluster, "topicList")).splitlines()
    table = ok(admin(cluster, "topicList", "-c")).splitlines()
    assert table[0].split() == ["#Cluster", "Name", "#Topic", "#Consumer", "Group"]
    assert ["DefaultCluster", "AdminTopicC"] in [line.split()[:2] for line in table]


def test_update_topic_on_broker_address(cluster: Cluster) -> None:
    out = ok(admin(cluster, "updateTopic", "-b", cluster.broker_addr, "-t", "AdminTopicB",
                   "-r", "2", "-w", "2", "-p", "4"))  # fmt: skip
    assert out.splitlines()[0] == f"create topic to {cluster.broker_addr} success."
    assert "readQueueNums=2, writeQueueNums=2, perm=R--" in out

    def routed_read_only() -> bool:
        route = route_of(cluster, "AdminTopicB")
        return route is not None and route["queueDatas"][0]["perm"] == 4  # type: ignore[index]

    wait_until(routed_read_only, 15, 0.2)


def test_send_then_consume(cluster: Cluster) -> None:
    create_topic(cluster, "AdminMsgTopic", "-r", "2", "-w", "2")
    sent = ok(admin(cluster, "sendMessage", "-t", "AdminMsgTopic", "-p", "hello mqadmin",
                    "-k", "key-1", "-c", "TagA"))  # fmt: skip
    header, row = sent.splitlines()
    assert header.split() == ["#Broker", "Name", "#QID", "#Send", "Result", "#MsgId"]
    name, qid, status, msg_id = row.split()
    assert (name, status) == (broker_name(cluster), "SEND_OK")
    assert re.fullmatch(r"[0-9A-F]{32}", msg_id)

    to_queue = ok(admin(cluster, "sendMessage", "-t", "AdminMsgTopic", "-p", "to queue 1",
                        "-b", broker_name(cluster), "-i", "1"))  # fmt: skip
    assert to_queue.splitlines()[1].split()[:3] == [broker_name(cluster), "1", "SEND_OK"]

    out = ok(admin(cluster, "consumeMessage", "-t", "AdminMsgTopic"))
    lines = [line for line in out.splitlines() if line.startswith("MSGID: ")]
    bodies = sorted(line.rsplit(" BODY: ", 1)[1] for line in lines)
    assert bodies == ["hello mqadmin", "to queue 1"]
    first = next(line for line in lines if msg_id in line)
    assert f"MessageExt [brokerName={broker_name(cluster)}, queueId={qid}" in first
    assert "KEYS=key-1" in first and "TAGS=TagA" in first
    assert "print msg finished." in out

    one_queue = ok(admin(cluster, "consumeMessage", "-t", "AdminMsgTopic",
                         "-b", broker_name(cluster), "-i", "1", "-o", "0", "-c", "1"))  # fmt: skip
    only = [line for line in one_queue.splitlines() if line.startswith("MSGID: ")]
    assert len(only) == 1 and "queueId=1," in only[0]


def test_unknown_topic_route_fails_with_exit_1(cluster: Cluster) -> None:
    result = admin(cluster, "topicRoute", "-t", "NoSuchTopicHere")
    assert result.returncode == 1
    assert "topic not found" in result.stderr and "NoSuchTopicHere" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_cluster_fails_with_exit_1(cluster: Cluster) -> None:
    result = admin(cluster, "updateTopic", "-c", "NoSuchCluster", "-t", "X1")
    assert result.returncode == 1
    assert "cluster 'NoSuchCluster' not found" in result.stderr


def test_unreachable_namesrv_fails_with_exit_1() -> None:
    port = free_port()
    result = run_admin("topicList", "-n", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert f"cannot connect to 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_error_exit_1() -> None:
    result = run_admin("updateTopic", "-t", "T")
    assert result.returncode == 1
    assert "one of -b BROKER_ADDR or -c CLUSTER is required" in result.stderr
