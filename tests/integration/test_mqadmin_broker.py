"""mqadmin broker and cluster commands against a real NameServer and broker: brokerStatus,
getBrokerConfig, updateBrokerConfig (runtime effect and the -c file), cleanExpiredCQ,
cleanUnusedTopic, brokerConsumeStats, statsAll, clusterRT, sendMsgStatus."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.integration.conftest import Cluster
from tests.integration.test_mqadmin import admin, broker_name, create_topic, ok, route_of
from tests.integration.test_mqadmin_topics import failed
from tests.processes import free_port

pytestmark = pytest.mark.slow


def config_file(cluster: Cluster) -> Path:
    return cluster.workdir / f"{broker_name(cluster)}.properties"


def test_broker_status(cluster: Cluster) -> None:
    lines = ok(admin(cluster, "brokerStatus", "-b", cluster.broker_addr)).splitlines()
    keys = [line.split(":", 1)[0].rstrip() for line in lines]
    assert keys == sorted(keys) and "brokerVersionDesc" in keys and "putTps" in keys
    assert all(re.fullmatch(r"\S+ *: .*", line) for line in lines)  # %-32s: %s
    assert next(line for line in lines if line.startswith("putTps ")).index(":") == 32
    by_cluster = ok(admin(cluster, "brokerStatus", "-c", "DefaultCluster")).splitlines()
    assert all(line.startswith(f"{cluster.broker_addr:<24} ") for line in by_cluster)
    assert len(by_cluster) == len(lines)


def test_get_broker_config(cluster: Cluster) -> None:
    port = cluster.broker_props["listenPort"]
    lines = ok(admin(cluster, "getBrokerConfig", "-b", cluster.broker_addr)).splitlines()
    assert lines[0] == f"============{cluster.broker_addr}============"
    assert f"{'listenPort':<50}=  {port}" in lines
    assert f"{'brokerName':<50}=  {broker_name(cluster)}" in lines
    by_cluster = ok(admin(cluster, "getBrokerConfig", "-c", "DefaultCluster")).splitlines()
    assert by_cluster[0] == f"============Master: {cluster.broker_addr}============"


def test_update_broker_config_takes_effect_and_is_saved(cluster: Cluster) -> None:
    path = config_file(cluster)
    path.write_text("# broker for the mqadmin tests\n" + path.read_text() + "fileReservedTime=72\n")
    out = ok(
        admin(
            cluster,
            "updateBrokerConfig",
            "-b",
            cluster.broker_addr,
            "-k",
            "fileReservedTime",
            "-v",
            "48",
        )
    )
    assert out == f"update broker config success, {cluster.broker_addr}\n"
    assert f"{'fileReservedTime':<50}=  48" in ok(
        admin(cluster, "getBrokerConfig", "-b", cluster.broker_addr)
    )
    text = path.read_text()
    assert text.startswith("# broker for the mqadmin tests\n")
    assert text.endswith("fileReservedTime=48\n") and "fileReservedTime=72" not in text

    # flushDiskType is read at start-up: saved for the next start, reported, not applied
    later = admin(
        cluster,
        "updateBrokerConfig",
        "-c",
        "DefaultCluster",
        "-k",
        "flushDiskType",
        "-v",
        "SYNC_FLUSH",
    )
    assert ok(later) == f"update broker config success, {cluster.broker_addr}\n"
    assert "flushDiskType take(s) effect after a restart" in later.stderr
    assert "flushDiskType=SYNC_FLUSH\n" in path.read_text()
    assert f"{'flushDiskType':<50}=  ASYNC_FLUSH" in ok(
        admin(cluster, "getBrokerConfig", "-b", cluster.broker_addr)
    )

    bad = admin(
        cluster,
        "updateBrokerConfig",
        "-b",
        cluster.broker_addr,
        "-k",
        "fileReservedTime",
        "-v",
        "soon",
    )
    assert "fileReservedTime='soon': expected an integer" in failed(bad, "updateBrokerConfig")
    unknown = admin(
        cluster, "updateBrokerConfig", "-b", cluster.broker_addr, "-k", "noSuchKey", "-v", "1"
    )
    assert "unknown broker config key(s): noSuchKey" in failed(unknown, "updateBrokerConfig")
    missing = admin(cluster, "updateBrokerConfig", "-b", cluster.broker_addr, "-k", "x")
    assert "Missing option '-v'" in failed(missing, "updateBrokerConfig")


def test_broker_permission_and_auto_create_at_runtime(cluster: Cluster) -> None:
    create_topic(cluster, "PermRuntimeT", "-r", "1", "-w", "1")

    def set_config(key: str, value: str) -> None:
        ok(admin(cluster, "updateBrokerConfig", "-b", cluster.broker_addr, "-k", key, "-v", value))

    set_config("brokerPermission", "4")
    try:
        assert route_of(cluster, "PermRuntimeT")["queueDatas"][0]["perm"] == 4  # type: ignore[index]
        refused = admin(cluster, "sendMessage", "-t", "PermRuntimeT", "-p", "x")
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
    finally:
        set_config("brokerPermission", "6")
    assert route_of(cluster, "PermRuntimeT")["queueDatas"][0]["perm"] == 6  # type: ignore[index]
    ok(admin(cluster, "sendMessage", "-t", "PermRuntimeT", "-p", "x"))

    set_config("autoCreateTopicEnable", "false")
    try:
        assert admin(cluster, "sendMessage", "-t", "AutoCreatedNot", "-p", "x").returncode == 1
    finally:
        set_config("autoCreateTopicEnable", "true")
    assert "autoCreateTopicEnable=true\n" in config_file(cluster).read_text()


def test_clean_commands(cluster: Cluster) -> None:
    create_topic(cluster, "CleanT", "-r", "1", "-w", "1")
    ok(admin(cluster, "sendMessage", "-t", "CleanT", "-p", "keep me"))
    assert ok(admin(cluster, "cleanExpiredCQ")) == "success\n"
    assert ok(admin(cluster, "cleanExpiredCQ", "-c", "DefaultCluster")) == "success\n"
    assert ok(admin(cluster, "cleanUnusedTopic", "-b", cluster.broker_addr)) == "success\n"
    status = ok(admin(cluster, "topicStatus", "-t", "CleanT")).splitlines()
    assert status[1].split()[:4] == [broker_name(cluster), "0", "0", "1"]  # nothing lost
    unknown = admin(cluster, "cleanUnusedTopic", "-c", "NoSuchCluster")
    assert "cluster 'NoSuchCluster' not found" in failed(unknown, "cleanUnusedTopic")


def test_consume_stats_and_stats_all(cluster: Cluster) -> None:
    create_topic(cluster, "StatsT", "-r", "2", "-w", "2")
    ok(admin(cluster, "updateSubGroup", "-b", cluster.broker_addr, "-g", "STATS_G"))
    ok(admin(cluster, "checkMsgSendRT", "-t", "StatsT", "-a", "4"))
    ok(admin(cluster, "resetOffsetByTime", "-g", "STATS_G", "-t", "StatsT", "-s", "now"))
    lines = ok(admin(cluster, "brokerConsumeStats", "-b", cluster.broker_addr)).splitlines()
    assert lines[0].split()[:4] == ["#Topic", "#Group", "#Broker", "Name"]
    rows = [line.split() for line in lines if line.startswith("StatsT ")]
    assert [r[:4] for r in rows] == [
        ["StatsT", "STATS_G", broker_name(cluster), str(q)] for q in (0, 1)
    ]
    assert [r[4:7] for r in rows] == [["2", "2", "0"]] * 2
    assert lines[-1] == "Diff Total: 0"
    high = ok(admin(cluster, "brokerConsumeStats", "-b", cluster.broker_addr, "-l", "1"))
    assert "StatsT " not in high  # -l: only queues at least that far behind

    stats = ok(admin(cluster, "statsAll", "-t", "StatsT")).splitlines()
    assert stats[0].split() == ["#Topic", "#Consumer", "Group", "#Accumulation", "#InTPS",
                                "#OutTPS", "#InMsg24Hour", "#OutMsg24Hour"]  # fmt: skip
    topic, group, accumulation, in_tps, out_tps, in_24h, out_24h = stats[1].split()
    assert (topic, group, accumulation, in_24h, out_24h) == ("StatsT", "STATS_G", "0", "4", "4")
    assert float(in_tps) > 0 and float(out_tps) > 0
    as_json = json.loads(ok(admin(cluster, "statsAll", "-t", "StatsT", "--json")))
    assert as_json[0]["inMsg24Hour"] == 4


def test_cluster_rt_and_send_msg_status(cluster: Cluster) -> None:
    lines = ok(admin(cluster, "clusterRT", "-a", "3", "--rounds", "1", "-i", "0")).splitlines()
    assert lines[0].split() == [
        "#Cluster",
        "Name",
        "#Broker",
        "Name",
        "#RT",
        "#successCount",
        "#failCount",
    ]
    cluster_name, name, rt, success, failures = lines[1].split()
    assert (cluster_name, name, success, failures) == (
        "DefaultCluster",
        broker_name(cluster),
        "3",
        "0",
    )
    assert re.fullmatch(r"\d+\.\d\d", rt)
    tlog = ok(admin(cluster, "clusterRT", "-a", "2", "--rounds", "1", "-p", "true", "-m", "room1"))
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\|room1\|DefaultCluster\|{broker_name(cluster)}\|\d+\n",
        tlog,
    )
    repeated = ok(admin(cluster, "clusterList", "-m", "-i", "1", "--rounds", "2")).splitlines()
    assert [line.split()[:2] for line in repeated] == [
        ["#Cluster", "Name"],
        ["DefaultCluster", broker_name(cluster)],
    ] * 2
    status = ok(admin(cluster, "sendMsgStatus", "-b", broker_name(cluster), "-c", "2")).splitlines()
    assert len(status) == 2
    assert all(
        re.match(r"rt=\d+ms, SendResult=SendResult \[sendStatus=SEND_OK, msgId=", s) for s in status
    )


def test_broker_bad_input(cluster: Cluster) -> None:
    port = free_port()
    down = admin(cluster, "brokerStatus", "-b", f"127.0.0.1:{port}")
    assert f"cannot connect to 127.0.0.1:{port}" in failed(down, "brokerStatus")
    assert "Missing option '-b'" in failed(
        admin(cluster, "brokerConsumeStats"), "brokerConsumeStats"
    )
    no_target = admin(cluster, "getBrokerConfig")
    assert "one of -b BROKER_ADDR or -c CLUSTER" in failed(no_target, "getBrokerConfig")
    bad_amount = admin(cluster, "clusterRT", "-a", "zero")
    assert "'zero' is not a valid integer" in failed(bad_amount, "clusterRT")
