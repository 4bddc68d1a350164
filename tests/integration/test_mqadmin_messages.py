"""mqadmin message commands against a real NameServer and broker: queryMsgById,
queryMsgByKey, queryMsgByUniqueKey, queryMsgByOffset, printMsg, printMsgByQueue."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from orbitmq.client import ConsumeStatus, Message, MessageExt, Producer, PushConsumer
from tests.integration.conftest import Cluster
from tests.integration.test_mqadmin import admin, broker_name, create_topic, ok
from tests.integration.test_mqadmin_topics import failed
from tests.processes import wait_until

pytestmark = pytest.mark.slow

TOPIC = "MsgAdminTopic"


@pytest.fixture(scope="module")
def sent(cluster: Cluster) -> list[dict[str, Any]]:
    """Three messages: (body, key, tag, queue) = (hello A, K1, TagA, 0), (hello B, K2, TagB, 1),
    (héllo C, K3, TagA, 0); each with the times before and after it was sent."""
    create_topic(cluster, TOPIC, "-r", "2", "-w", "2")
    results = []
    for body, key, tag, queue in (("hello A", "K1", "TagA", 0), ("hello B", "K2", "TagB", 1),
                                  ("héllo C", "K3", "TagA", 0)):  # fmt: skip
        before = int(time.time() * 1000)
        out = ok(admin(cluster, "sendMessage", "-t", TOPIC, "-p", body, "-k", key, "-c", tag,
                       "-b", broker_name(cluster), "-i", str(queue), "--json"))  # fmt: skip
        results.append({**json.loads(out), "body": body, "key": key, "tag": tag,
                        "before": before, "after": int(time.time() * 1000)})  # fmt: skip
        time.sleep(0.01)
    return results


def _bodies(out: str) -> list[str]:
    return [line.rsplit(" BODY: ", 1)[1] for line in out.splitlines() if line.startswith("MSGID")]


def _detail(out: str) -> dict[str, str]:
    return dict(re.findall(r"^(\S[^:]*:) +(.*)$", out, re.MULTILINE))


def test_query_msg_by_id(cluster: Cluster, sent: list[dict[str, Any]]) -> None:
    first = sent[0]
    out = ok(admin(cluster, "queryMsgById", "-i", first["offsetMsgId"]))
    detail = _detail(out)
    assert detail["OffsetID:"] == first["offsetMsgId"]
    assert (detail["Topic:"], detail["Tags:"], detail["Keys:"]) == (TOPIC, "[TagA]", "[K1]")
    assert (detail["Queue ID:"], detail["Queue Offset:"]) == ("0", "0")
    assert detail["Store Host:"] == cluster.broker_addr
    assert f"UNIQ_KEY={first['msgId']}" in detail["Properties:"]
    assert Path(detail["Message Body Path:"]).read_bytes() == b"hello A"
    assert "WARN: No Consumer" in out
    malformed = admin(cluster, "queryMsgById", "-i", "not-an-id")
    assert failed(malformed, "queryMsgById")


def test_query_msg_by_key_and_unique_key(cluster: Cluster, sent: list[dict[str, Any]]) -> None:
    lines = ok(admin(cluster, "queryMsgByKey", "-t", TOPIC, "-k", "K2")).splitlines()
    assert lines[0].split() == ["#Message", "ID", "#QID", "#Offset"]
    assert [line.split() for line in lines[1:]] == [[sent[1]["msgId"], "1", "0"]]
    assert (
        len(ok(admin(cluster, "queryMsgByKey", "-t", TOPIC, "-k", "NoSuchKey")).splitlines()) == 1
    )
    unique = ok(admin(cluster, "queryMsgByUniqueKey", "-i", sent[2]["msgId"], "-t", TOPIC))
    detail = _detail(unique)
    assert "OffsetID:" not in detail
    assert (detail["Keys:"], detail["Queue Offset:"]) == ("[K3]", "1")
    none = admin(cluster, "queryMsgByUniqueKey", "-i", "0" * 32, "-t", TOPIC)
    assert "no message with unique key" in failed(none, "queryMsgByUniqueKey")
    unknown = admin(cluster, "queryMsgByKey", "-t", "NoSuchTopicM", "-k", "K1")
    assert "NoSuchTopicM" in failed(unknown, "queryMsgByKey")


def test_query_msg_by_offset(cluster: Cluster, sent: list[dict[str, Any]]) -> None:
    out = ok(
        admin(
            cluster,
            "queryMsgByOffset",
            "-t",
            TOPIC,
            "-b",
            broker_name(cluster),
            "-i",
            "1",
            "-o",
            "0",
        )
    )
    detail = _detail(out)
    assert (detail["OffsetID:"], detail["Keys:"]) == (sent[1]["offsetMsgId"], "[K2]")
    past = admin(
        cluster, "queryMsgByOffset", "-t", TOPIC, "-b", broker_name(cluster), "-i", "1", "-o", "7"
    )
    assert "no message at offset 7" in failed(past, "queryMsgByOffset")
    bad = admin(
        cluster, "queryMsgByOffset", "-t", TOPIC, "-b", broker_name(cluster), "-i", "1", "-o", "x"
    )
    assert "'x' is not a valid integer" in failed(bad, "queryMsgByOffset")


def test_print_msg(cluster: Cluster, sent: list[dict[str, Any]]) -> None:
    out = ok(admin(cluster, "printMsg", "-t", TOPIC)).splitlines()
    name = broker_name(cluster)
    assert (
        out[0]
        == f"minOffset=0, maxOffset=2, MessageQueue [topic={TOPIC}, brokerName={name}, queueId=0]"
    )
    assert _bodies("\n".join(out)) == ["hello A", "héllo C", "hello B"]
    assert out.count("--------------------------------------------------------") == 2
    tag_b = ok(admin(cluster, "printMsg", "-t", TOPIC, "-s", "TagB"))
    assert _bodies(tag_b) == ["hello B"]
    latin = ok(admin(cluster, "printMsg", "-t", TOPIC, "-c", "ISO-8859-1", "-s", "TagA"))
    assert "BODY: hÃ©llo C" in latin  # the UTF-8 bytes read as Latin-1
    no_body = ok(admin(cluster, "printMsg", "-t", TOPIC, "-d", "false"))
    assert "BODY: NOT PRINT BODY" in no_body and "hello A" not in no_body
    # -b/-e pick the offsets stored nearest those times, as RocketMQ 4.x does
    late = ok(admin(cluster, "printMsg", "-t", TOPIC, "-b", "2999-01-01#00:00:00:000"))
    assert _bodies(late) == ["héllo C", "hello B"]
    early = ok(admin(cluster, "printMsg", "-t", TOPIC, "-e", "1"))
    assert _bodies(early) == [] and "minOffset=0, maxOffset=0, MessageQueue" in early
    bad_charset = admin(cluster, "printMsg", "-t", TOPIC, "-c", "NO-SUCH-CHARSET")
    assert "unknown charset" in failed(bad_charset, "printMsg")
    bad_time = admin(cluster, "printMsg", "-t", TOPIC, "-b", "tomorrow")
    assert "yyyy-MM-dd#HH:mm:ss:SSS" in failed(bad_time, "printMsg")


def test_print_msg_by_queue(cluster: Cluster, sent: list[dict[str, Any]]) -> None:
    name = broker_name(cluster)
    quiet = ok(admin(cluster, "printMsgByQueue", "-t", TOPIC, "-a", name, "-i", "0"))
    assert quiet == ""  # Java prints messages only with -p true
    out = ok(
        admin(
            cluster,
            "printMsgByQueue",
            "-t",
            TOPIC,
            "-a",
            name,
            "-i",
            "0",
            "-p",
            "true",
            "-d",
            "true",
            "-f",
            "true",
        )
    )
    lines = out.splitlines()
    assert [line.rsplit(" BODY: ", 1)[1] for line in lines[:2]] == ["hello A", "héllo C"]
    assert lines[0].startswith(
        f"MSGID: {sent[0]['msgId']} MessageExt [brokerName={name}, queueId=0,"
    )
    assert lines[2] == f"Tag: {'TagA':<30} Count: 2"
    missing = admin(cluster, "printMsgByQueue", "-t", TOPIC, "-a", name, "-i", "5")
    assert "has no queue 5" in failed(missing, "printMsgByQueue")


async def _traced_round_trip(namesrv: str, topic: str) -> str:
    """Send one message with a traced producer and consume it with a traced consumer."""
    got: list[MessageExt] = []

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        got.extend(msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    consumer = PushConsumer(
        "CG_ADMIN_TRACE", namesrv, consume_from_where="CONSUME_FROM_FIRST_OFFSET", enable_trace=True
    )
    consumer.subscribe(topic)
    consumer.register_message_listener(listener)
    async with Producer("PG_ADMIN_TRACE", namesrv, enable_trace=True) as producer:
        result = await producer.send(Message(topic, b"traced", keys="T-1"))
        async with consumer:
            for _ in range(200):
                if any(m.msg_id == result.msg_id for m in got):
                    break
                await asyncio.sleep(0.1)
    return result.msg_id


def test_query_msg_trace_by_id(cluster: Cluster) -> None:
    create_topic(cluster, "TracedAdminT", "-r", "1", "-w", "1")
    msg_id = asyncio.run(_traced_round_trip(cluster.namesrv_addr, "TracedAdminT"))

    def both_traced() -> bool:
        result = admin(cluster, "queryMsgTraceById", "-i", msg_id)
        return result.returncode == 0 and "\nSub " in result.stdout and "\nPub " in result.stdout

    wait_until(both_traced, 20, 0.5, "the send and consume traces never both showed up")
    lines = ok(admin(cluster, "queryMsgTraceById", "-i", msg_id)).splitlines()
    assert lines[0].split() == [
        "#Type",
        "#ProducerGroup",
        "#ClientHost",
        "#SendTime",
        "#CostTimes",
        "#Status",
    ]
    pub = lines[1].split()
    assert (pub[0], pub[1], pub[-1]) == ("Pub", "PG_ADMIN_TRACE", "success")
    assert re.fullmatch(r"\d+ms", pub[-2])
    assert lines[3].split()[:2] == ["#Type", "#ConsumerGroup"]
    assert lines[4].split()[:2] == ["Sub", "CG_ADMIN_TRACE"] and lines[4].split()[-1] == "success"
    untraced = admin(cluster, "queryMsgTraceById", "-i", "0" * 32)
    assert "no trace of message" in failed(untraced, "queryMsgTraceById")
