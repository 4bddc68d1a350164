"""mqadmin consumer-group and offset commands against a real NameServer, broker and a live
producer and push consumer: updateSubGroup, deleteSubGroup, consumerProgress,
consumerConnection, producerConnection, consumerStatus, resetOffsetByTime,
cloneGroupOffset."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Cluster
from tests.integration.test_mqadmin import admin, broker_name, create_topic, ok
from tests.integration.test_mqadmin_topics import failed
from tests.processes import ServerProcess, wait_until

pytestmark = pytest.mark.slow

TOPIC = "GroupTopic"
GROUP = "CG_ADMIN"
PRODUCER_GROUP = "PG_ADMIN"
SENT = 8

# A producer that stays connected and a push consumer of TOPIC, in their own process.
CLIENTS = """
import asyncio, signal, sys
from orbitmq.client import ConsumeStatus, Message, Producer, PushConsumer

async def main(namesrv, topic, group, producer_group, count):
    producer = Producer(producer_group, namesrv)
    await producer.start()
    for i in range(int(count)):
        await producer.send(Message(topic, f"m{i}".encode(), tags="TagA"))
    consumer = PushConsumer(group, namesrv, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(topic, "*")
    consumer.register_message_listener(lambda msgs: ConsumeStatus.CONSUME_SUCCESS)
    await consumer.start()
    print("clients ready", consumer.client_id, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await consumer.shutdown()
    await producer.shutdown()

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def clients(cluster: Cluster) -> Iterator[str]:
    """The push consumer's client id, once its offsets reached the end of TOPIC."""
    create_topic(cluster, TOPIC, "-r", "4", "-w", "4")
    argv = [
        sys.executable,
        "-c",
        CLIENTS,
        cluster.namesrv_addr,
        TOPIC,
        GROUP,
        PRODUCER_GROUP,
        str(SENT),
    ]
    proc = ServerProcess(argv, "clients ready", "admin-clients")
    try:
        proc.wait_booted()
        client_id = next(line for line in proc.output if "clients ready" in line).split()[-1]
        wait_until(lambda: _diff_total(cluster, GROUP) == 0, 20, 0.5, "consumer never caught up")
        yield client_id
    finally:
        proc.stop()


def _diff_total(cluster: Cluster, group: str) -> int | None:
    result = admin(cluster, "consumerProgress", "-g", group, "--json")
    return json.loads(result.stdout)["diffTotal"] if result.returncode == 0 else None


def test_consumer_and_producer_connection(cluster: Cluster, clients: str) -> None:
    lines = ok(admin(cluster, "consumerConnection", "-g", GROUP)).splitlines()
    assert lines[0].split() == ["#ClientId", "#ClientAddr", "#Language", "#Version"]
    assert lines[1].split()[0] == clients and lines[1].split()[2:] == ["PYTHON", "V4_9_8"]
    assert "Below is subscription:" in lines
    assert f"{TOPIC:<20} *" in lines
    assert lines[-3:] == [
        "ConsumeType: CONSUME_PASSIVELY",
        "MessageModel: CLUSTERING",
        "ConsumeFromWhere: CONSUME_FROM_FIRST_OFFSET",
    ]
    producers = ok(admin(cluster, "producerConnection", "-g", PRODUCER_GROUP, "-t", TOPIC))
    assert re.fullmatch(r"0001  \S+@\S+ +127\.0\.0\.1:\d+ +PYTHON +V4_9_8\n", producers)


def test_consumer_progress(cluster: Cluster, clients: str) -> None:
    lines = ok(admin(cluster, "consumerProgress", "-g", GROUP)).splitlines()
    assert lines[0].split()[:4] == ["#Topic", "#Broker", "Name", "#QID"]
    rows = [line.split() for line in lines[1:] if line.startswith(TOPIC)]
    assert [r[1:3] for r in rows] == [[broker_name(cluster), str(q)] for q in range(4)]
    assert sum(int(r[3]) for r in rows) == SENT  # broker offsets
    assert [r[3] for r in rows] == [r[4] for r in rows] and {r[5] for r in rows} == {"0"}
    assert re.fullmatch(r"Consume TPS: \d+\.\d\d", lines[-2]) and lines[-1] == "Diff Total: 0"
    with_ip = ok(admin(cluster, "consumerProgress", "-g", GROUP, "-s", "true")).splitlines()
    assert "#Client IP" in with_ip[0]
    groups = ok(admin(cluster, "consumerProgress")).splitlines()
    assert groups[0].split() == [
        "#Group",
        "#Count",
        "#Version",
        "#Type",
        "#Model",
        "#TPS",
        "#Diff",
        "Total",
    ]
    row = next(line.split() for line in groups if line.startswith(GROUP))
    assert row[1:5] == ["1", "V4_9_8", "PUSH", "CLUSTERING"]


def test_consumer_status(cluster: Cluster, clients: str, tmp_path: Path) -> None:
    argv = ["-m", "orbitmq", "admin", "consumerStatus", "-g", GROUP, "-n", cluster.namesrv_addr]
    result = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    lines = ok(result).splitlines()
    assert lines[0].split() == ["#Index", "#ClientId", "#Version", "#ConsumerRunningInfoFile"]
    index, client_id, version, path = lines[1].split()
    assert (index, client_id, version) == ("1", clients, "V4_9_8")
    assert (tmp_path / path).read_text().startswith("#Consumer Properties#\n")
    assert "Same subscription in the same group of consumer" in lines
    detail = ok(admin(cluster, "consumerStatus", "-g", GROUP, "-i", clients))
    assert detail.startswith("#Consumer Properties#\n")
    assert f"{'PROP_CONSUME_TYPE':<40}: CONSUME_PASSIVELY" in detail
    assert re.search(rf"001 Topic: {TOPIC} +ClassFilter: false +SubExpression: \*", detail)
    gone = admin(cluster, "consumerStatus", "-g", GROUP, "-i", "10.0.0.9@nobody")
    assert "not online" in failed(gone, "consumerStatus")


def test_reset_offset_by_time_and_clone(cluster: Cluster, clients: str) -> None:
    out = ok(admin(cluster, "resetOffsetByTime", "-g", GROUP, "-t", TOPIC, "-s", "0"))
    lines = out.splitlines()
    assert lines[0] == (
        f"rollback consumer offset by specified group[{GROUP}], topic[{TOPIC}], force[true], "
        "timestamp(string)[0], timestamp(long)[0]"
    )
    assert lines[1].split() == ["#brokerName", "#queueId", "#offset"]
    assert [line.split()[1:] for line in lines[2:]] == [[str(q), "0"] for q in range(4)]
    # the consumer restarts from 0, consumes everything again and commits
    wait_until(lambda: _diff_total(cluster, GROUP) == 0, 20, 0.5)

    cloned = ok(admin(cluster, "cloneGroupOffset", "-s", GROUP, "-d", "CG_CLONE", "-t", TOPIC))
    assert (
        cloned
        == f"clone group offset success. srcGroup[{GROUP}], destGroup=[CG_CLONE], topic[{TOPIC}]\n"
    )
    assert _diff_total(cluster, "CG_CLONE") == 0

    offline = ok(
        admin(cluster, "resetOffsetByTime", "-g", "CG_CLONE", "-t", TOPIC, "-s", "0", "-f", "true")
    )
    assert offline.splitlines()[0].startswith(
        "rollback consumer offset by specified consumerGroup[CG_CLONE]"
    )
    assert offline.splitlines()[1].split()[-1] == "#rollbackOffset"
    assert _diff_total(cluster, "CG_CLONE") == SENT
    bad_time = admin(cluster, "resetOffsetByTime", "-g", GROUP, "-t", TOPIC, "-s", "yesterday")
    assert "yyyy-MM-dd#HH:mm:ss:SSS" in failed(bad_time, "resetOffsetByTime")
    no_src = admin(cluster, "cloneGroupOffset", "-s", "NoSuchGroupZ", "-d", "X", "-t", TOPIC)
    assert "NoSuchGroupZ" in failed(no_src, "cloneGroupOffset")


def test_update_and_delete_sub_group(cluster: Cluster) -> None:
    out = ok(
        admin(
            cluster,
            "updateSubGroup",
            "-c",
            "DefaultCluster",
            "-g",
            "SUB_G",
            "-q",
            "2",
            "-r",
            "5",
            "-d",
            "true",
        )
    )
    assert out.splitlines() == [
        f"create subscription group to {cluster.broker_addr} success.",
        "SubscriptionGroupConfig [groupName=SUB_G, consumeEnable=true, consumeFromMinEnable=false, "
        "consumeBroadcastEnable=true, retryQueueNums=2, retryMaxTimes=5, brokerId=0, "
        "whichBrokerWhenConsumeSlowly=1, notifyConsumerIdsChangedEnable=true]",
    ]
    assert "SUB_G" in ok(admin(cluster, "consumerProgress"))
    one = ok(
        admin(
            cluster,
            "updateSubGroup",
            "-b",
            cluster.broker_addr,
            "-g",
            "SUB_G",
            "-s",
            "false",
            "--json",
        )
    )
    assert json.loads(one)["subscriptionGroupConfig"]["consumeEnable"] is False
    deleted = ok(
        admin(cluster, "deleteSubGroup", "-c", "DefaultCluster", "-g", "SUB_G", "-r", "true")
    )
    assert deleted.splitlines()[0] == (
        f"delete subscription group [SUB_G] from broker [{cluster.broker_addr}] in cluster "
        "[DefaultCluster] success."
    )
    assert "delete topic [%RETRY%SUB_G] from cluster [DefaultCluster] success." in deleted
    assert "SUB_G" not in ok(admin(cluster, "consumerProgress"))
    by_broker = ok(admin(cluster, "deleteSubGroup", "-b", cluster.broker_addr, "-g", "SUB_G"))
    assert (
        by_broker
        == f"delete subscription group [SUB_G] from broker [{cluster.broker_addr}] success.\n"
    )


def test_group_bad_input(cluster: Cluster) -> None:
    no_target = admin(cluster, "updateSubGroup", "-g", "G")
    assert "one of -b BROKER_ADDR or -c CLUSTER is required" in failed(no_target, "updateSubGroup")
    bad_number = admin(cluster, "updateSubGroup", "-c", "DefaultCluster", "-g", "G", "-q", "two")
    assert "'two' is not a valid integer" in failed(bad_number, "updateSubGroup")
    unknown = admin(cluster, "consumerProgress", "-g", "NoSuchGroupY")
    assert "NoSuchGroupY" in failed(unknown, "consumerProgress")
    offline = admin(cluster, "consumerConnection", "-g", "NoSuchGroupY")
    assert "not online" in failed(offline, "consumerConnection")
    nobody = admin(cluster, "producerConnection", "-g", "NoSuchPG", "-t", TOPIC)
    assert "no producer" in failed(nobody, "producerConnection")
