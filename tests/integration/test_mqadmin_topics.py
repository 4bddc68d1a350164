"""mqadmin topic and NameServer commands, run as real subprocesses against a real
NameServer and broker: deleteTopic, topicStatus, topicClusterList, updateTopicPerm,
allocateMQ, getNamesrvConfig, updateNamesrvConfig, updateKvConfig, deleteKvConfig,
wipeWritePerm, addWritePerm; the command listing, bash completion and error handling."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from orbitmq.admin.cli import COMMANDS
from tests.integration.conftest import Cluster
from tests.integration.test_mqadmin import admin, broker_name, create_topic, ok, route_of, run_admin
from tests.processes import free_port, wait_until

pytestmark = pytest.mark.slow


def failed(result: subprocess.CompletedProcess[str], command: str) -> str:
    """The one stderr line of a failed command."""
    assert result.returncode == 1, f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{command} command failed: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


def queue_perms(cluster: Cluster, topic: str) -> list[int]:
    route = route_of(cluster, topic)
    return [q["perm"] for q in route["queueDatas"]] if route else []  # type: ignore[index]


def test_listing_and_bash_completion_cover_every_command() -> None:
    names = [c.name for c in COMMANDS]
    listing = ok(run_admin())
    for name in names:
        assert f"\n   {name:<20} " in listing
    script = ok(run_admin("completion", "bash"))
    first_words = re.search(r'compgen -W "([^"]+)" -- "\$cur"\)\)\n\s+return', script)
    assert first_words is not None
    assert set(names) <= set(first_words.group(1).split())
    for name in names:
        assert f"        {name}) opts=" in script
    probe = (
        f"{script}\nCOMP_WORDS=(mqadmin topicS); COMP_CWORD=1; _mqadmin; echo ${{COMPREPLY[@]}}"
        "\nCOMP_WORDS=(mqadmin topicStatus --to); COMP_CWORD=2; _mqadmin; echo ${COMPREPLY[@]}"
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["topicStatus", "--topic"]


def test_topic_status_and_cluster_list(cluster: Cluster) -> None:
    create_topic(cluster, "TopicStatusT", "-r", "2", "-w", "2")
    sent = ok(admin(cluster, "checkMsgSendRT", "-t", "TopicStatusT", "-a", "4"))
    assert sent.splitlines()[0].split() == ["#Broker", "Name", "#QID", "#Send", "Result", "#RT"]
    assert [line.split()[2] for line in sent.splitlines()[1:5]] == ["true"] * 4
    assert re.fullmatch(r"Avg RT: \d+\.\d\d", sent.splitlines()[5])
    lines = ok(admin(cluster, "topicStatus", "-t", "TopicStatusT")).splitlines()
    assert lines[0] == (
        "#Broker Name                      #QID  #Min Offset           #Max Offset             "
        "#Last Updated"
    )
    rows = [line.split() for line in lines[1:]]
    assert [r[:4] for r in rows] == [[broker_name(cluster), str(q), "0", "2"] for q in (0, 1)]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", r[4]) for r in rows)  # last updated
    as_json = json.loads(ok(admin(cluster, "topicStatus", "-t", "TopicStatusT", "--json")))
    assert [(q["queueId"], q["maxOffset"]) for q in as_json] == [(0, 2), (1, 2)]
    assert ok(admin(cluster, "topicClusterList", "-t", "TopicStatusT")) == "DefaultCluster\n"


def test_update_topic_perm(cluster: Cluster) -> None:
    create_topic(cluster, "PermTopic", "-r", "2", "-w", "2")
    out = ok(
        admin(cluster, "updateTopicPerm", "-c", "DefaultCluster", "-t", "PermTopic", "-p", "4")
    )
    assert out == f"update topic perm from 6 to 4 in {cluster.broker_addr} success.\n"
    wait_until(lambda: queue_perms(cluster, "PermTopic") == [4], 15, 0.2)
    same = ok(
        admin(cluster, "updateTopicPerm", "-b", cluster.broker_addr, "-t", "PermTopic", "-p", "4")
    )
    assert same == "new perm equals to the old one!\n"
    back = ok(
        admin(cluster, "updateTopicPerm", "-b", cluster.broker_addr, "-t", "PermTopic", "-p", "6")
    )
    assert back.splitlines() == [
        f"update topic perm from 4 to 6 in {cluster.broker_addr} success.",
        "TopicConfig [topicName=PermTopic, readQueueNums=2, writeQueueNums=2, perm=RW-, "
        "topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false].",
    ]
    wait_until(lambda: queue_perms(cluster, "PermTopic") == [6], 15, 0.2)
    bad = admin(cluster, "updateTopicPerm", "-c", "DefaultCluster", "-t", "PermTopic", "-p", "5")
    assert "is not one of 2 (W), 4 (R), 6 (RW)" in failed(bad, "updateTopicPerm")
    wrong = admin(cluster, "updateTopicPerm", "-b", "127.0.0.1:1", "-t", "PermTopic", "-p", "4")
    assert "not exist or broker is not master" in failed(wrong, "updateTopicPerm")


def test_allocate_mq(cluster: Cluster) -> None:
    create_topic(cluster, "AllocTopic", "-r", "4", "-w", "4")
    out = ok(admin(cluster, "allocateMQ", "-t", "AllocTopic", "-i", "10.0.0.1,10.0.0.2,10.0.0.3"))
    result = json.loads(out)["result"]
    assert {ip: [q["queueId"] for q in queues] for ip, queues in result.items()} == {
        "10.0.0.1": [0, 1],
        "10.0.0.2": [2],
        "10.0.0.3": [3],
    }
    assert result["10.0.0.2"] == [
        {"brokerName": broker_name(cluster), "queueId": 2, "topic": "AllocTopic"}
    ]


def test_delete_topic(cluster: Cluster) -> None:
    create_topic(cluster, "DoomedTopic", "-r", "1", "-w", "1")
    out = ok(admin(cluster, "deleteTopic", "-c", "DefaultCluster", "-t", "DoomedTopic"))
    assert out.splitlines() == [
        "delete topic [DoomedTopic] from cluster [DefaultCluster] success.",
        "delete topic [DoomedTopic] from NameServer success.",
    ]
    assert route_of(cluster, "DoomedTopic") is None
    assert "DoomedTopic" not in ok(admin(cluster, "topicList")).splitlines()
    missing = admin(cluster, "deleteTopic", "-t", "DoomedTopic")
    assert "Missing option '-c' / '--clusterName'" in failed(missing, "deleteTopic")


def test_namesrv_config_and_kv_config(cluster: Cluster) -> None:
    port = cluster.namesrv_addr.rsplit(":", 1)[1]
    config = ok(admin(cluster, "getNamesrvConfig")).splitlines()
    assert config[0] == f"============{cluster.namesrv_addr}============"
    assert f"{'listenPort':<50}=  {port}" in config
    out = ok(admin(cluster, "updateNamesrvConfig", "-k", "orderMessageEnable", "-v", "true"))
    assert out.splitlines() == [
        f"update name server config success![{cluster.namesrv_addr}]",
        "orderMessageEnable : true",
    ]
    assert f"{'orderMessageEnable':<50}=  true" in ok(admin(cluster, "getNamesrvConfig"))
    locked = admin(cluster, "updateNamesrvConfig", "-k", "kvConfigPath", "-v", "/tmp/x")
    assert "black list" in failed(locked, "updateNamesrvConfig")

    create_topic(cluster, "OrderedT", "-r", "2", "-w", "2")
    conf = f"{broker_name(cluster)}:2"
    put = ok(
        admin(cluster, "updateKvConfig", "-s", "ORDER_TOPIC_CONFIG", "-k", "OrderedT", "-v", conf)
    )
    assert put == "create or update kv config to namespace success.\n"
    assert route_of(cluster, "OrderedT")["orderTopicConf"] == conf  # type: ignore[index]
    gone = ok(admin(cluster, "deleteKvConfig", "-s", "ORDER_TOPIC_CONFIG", "-k", "OrderedT"))
    assert gone == "delete kv config from namespace success.\n"
    assert not route_of(cluster, "OrderedT").get("orderTopicConf")  # type: ignore[union-attr]
    ok(admin(cluster, "updateNamesrvConfig", "-k", "orderMessageEnable", "-v", "false"))


def test_wipe_and_add_write_perm(cluster: Cluster) -> None:
    create_topic(cluster, "WipeTopic", "-r", "1", "-w", "1")
    name = broker_name(cluster)
    wiped = ok(admin(cluster, "wipeWritePerm", "-b", name))
    assert re.fullmatch(
        rf"wipe write perm of broker\[{name}\] in name server\[{cluster.namesrv_addr}\] OK, \d+\n",
        wiped,
    )
    assert queue_perms(cluster, "WipeTopic") == [4]
    added = ok(admin(cluster, "addWritePerm", "-b", name))
    assert added.startswith(f"add write perm of broker[{name}] in name server[")
    assert queue_perms(cluster, "WipeTopic") == [6]
    dead = f"127.0.0.1:{free_port()}"
    both = run_admin("addWritePerm", "-b", name, "-n", f"{cluster.namesrv_addr};{dead}")
    assert f"in name server[{cluster.namesrv_addr}] OK, " in both.stdout
    assert f"add write perm of broker[{name}] in name server[{dead}] Failed" in both.stdout
    assert f"cannot connect to {dead}" in failed(both, "addWritePerm")


def test_bad_input_is_one_line(cluster: Cluster) -> None:
    unknown = admin(cluster, "topicStatus", "-t", "NoSuchTopicX")
    assert "topic not found" in failed(unknown, "topicStatus")
    assert "Missing option '-t'" in failed(admin(cluster, "topicClusterList"), "topicClusterList")
    bad_ips = admin(cluster, "allocateMQ", "-t", "AllocTopic", "-i", ",")
    assert "give at least one client ip" in failed(bad_ips, "allocateMQ")
    port = free_port()
    down = run_admin("topicStatus", "-t", "X", "-n", f"127.0.0.1:{port}")
    assert f"cannot connect to 127.0.0.1:{port}" in failed(down, "topicStatus")
    debug = admin(cluster, "topicStatus", "-t", "NoSuchTopicX", "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("topicStatus command failed: topic")


def test_namesrv_addr_from_environment(cluster: Cluster) -> None:
    env = {**os.environ, "NAMESRV_ADDR": cluster.namesrv_addr}
    argv = ["-m", "orbitmq", "admin", "topicClusterList", "-t", broker_name(cluster)]
    result = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert ok(result) == "DefaultCluster\n"
